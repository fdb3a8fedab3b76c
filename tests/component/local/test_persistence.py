"""Local data survives a restart of the embedded cloud (``crewhouse local``'s state directory).

One run signs a user up and, through the HTTP API, creates a file, a note and a task; while it runs, the
periodic snapshot is copied aside (what a ``kill -9`` would leave), then the run stops (the final snapshot).
Each later run deploys the stack anew on fresh ports with one of those directories and reads back through the
API, the same user signing in with the same password. ``--fresh`` starts empty. A snapshot another moto wrote,
or a corrupt one, is set aside and the cloud starts empty.
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from crewhouse.local import persistence
from crewhouse.local.cli import build_parser, local_config
from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.deploy import ACCOUNT_ID
from crewhouse.local.endpoint import local_client
from crewhouse.local.guardduty import SCAN_TAG
from crewhouse.local.seed import sign_in, sign_up_and_confirm
from tests.support.moto_server import embedded_cloud_environment, free_port
from tests.support.waiting import eventually

REMINDER_GROUP = "crewhouse-reminders"
EMAIL = "persisted@example.com"
PASSWORD = "Kept-across-restarts-1!"
FILE_CONTENT = b"a file that outlives the process\n"
NOTE_BODY = "kept " * 72_000  # 360,000 bytes: a body the notes context keeps in S3


@dataclass(frozen=True)
class FirstRun:
    stopped: Path  # the state directory after a clean stop
    killed: Path  # a copy of it taken while the cloud ran: what a kill -9 leaves
    task_id: str
    note_id: str
    file_id: str
    reminder: str  # the name of the task's reminder schedule
    agent: dict[str, Any]  # a bus agent registered (with a topic subscription) in the first run


@pytest.fixture(scope="module", autouse=True)
def process_environment() -> Iterator[None]:
    """The clouds of this module set the process environment; it is given back as found."""
    with embedded_cloud_environment():
        yield


def cloud_config(state_dir: Path, **overrides: Any) -> LocalCloudConfig:
    return LocalCloudConfig(aws_port=free_port(), api_port=free_port(), state_dir=state_dir, **overrides)


def signed_in_headers(cloud: EmbeddedCloud) -> dict[str, str]:
    assert cloud.stack is not None
    return {"Authorization": f"Bearer {sign_in(cloud.stack, EMAIL, PASSWORD).id_token}"}


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return dict(response.json())


def file_status(api: httpx.Client, headers: dict[str, str], file_id: str) -> str:
    return str(api.get(f"/files/{file_id}", headers=headers).json()["status"])


def scan_tags(cloud: EmbeddedCloud, file_id: str) -> dict[str, str]:
    """The malware scan's tags on the file's object (the scan ran in the first run only)."""
    assert cloud.stack is not None
    bucket = next(name for logical_id, name in cloud.stack.resources.items()
                  if logical_id.startswith("StorageFilesBucket"))
    s3 = local_client("s3")
    [key] = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []) if file_id in o["Key"]]
    tags = s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tags if t["Key"] == SCAN_TAG}


def reminder_schedules() -> list[str]:
    pages = local_client("scheduler").get_paginator("list_schedules").paginate(GroupName=REMINDER_GROUP)
    return [schedule["Name"] for page in pages for schedule in page["Schedules"]]


def stale_names(cloud: EmbeddedCloud, text: str) -> set[str]:
    """Generated resource names in ``text`` that the running stack does not have (an earlier deploy's)."""
    assert cloud.stack is not None
    current = {re.split(r"[/:]", physical_id)[-1] for physical_id in cloud.stack.resources.values()}
    return set(re.findall(rf"{cloud.stack.name}-[A-Za-z0-9]+-[A-Za-z0-9]+", text)) - current


def snapshot_mentions(state_dir: Path, *texts: str) -> bool:
    snapshot = state_dir / persistence.SNAPSHOT_FILE
    return snapshot.exists() and all(text.encode() in snapshot.read_bytes() for text in texts)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    state_dir = tmp_path_factory.mktemp("state") / ".crewhouse-local"
    killed = tmp_path_factory.mktemp("killed")
    with EmbeddedCloud(cloud_config(state_dir, snapshot_interval=0.5)) as cloud, \
            httpx.Client(base_url=cloud.api_url, timeout=30) as api:
        assert cloud.stack is not None and cloud.restored is None
        sign_up_and_confirm(cloud.stack, EMAIL, PASSWORD)
        headers = signed_in_headers(cloud)
        file = created(api.post("/files", headers=headers, json={
            "filename": "kept.txt", "content_type": "text/plain", "size": len(FILE_CONTENT)}))
        upload = file["upload"]
        assert httpx.post(upload["url"], data=upload["fields"], files={"file": ("kept.txt", FILE_CONTENT)},
                          timeout=30).status_code == 204
        assert eventually(lambda: file_status(api, headers, file["id"]) == "available"), \
            file_status(api, headers, file["id"])
        note = created(api.post("/notes", headers=headers, json={"title": "Kept note", "body": NOTE_BODY}))
        remind_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
        agent = created(api.post("/agents", headers=headers, json={"name": "Kept agent"}))
        agent_headers = {"Authorization": f"Bearer {agent_token(api, agent)}"}
        assert api.put(f"/agents/{agent['id']}/subscriptions/news", headers=agent_headers,
                       json={"filter": {}}).status_code == 200
        task = created(api.post("/tasks", headers=headers, json={"title": "Kept task",
                                                                 "reminders": [{"at": remind_at}]}))
        reminder = eventually(lambda: reminder_schedules(), timeout=20)  # made by the tasks stream worker
        assert reminder, "the task's reminder was never scheduled"
        # The periodic snapshot, without a stop: written once the reminder (the last write) is in it.
        assert eventually(lambda: snapshot_mentions(state_dir, EMAIL, task["id"], reminder[0]), timeout=20)
        shutil.copytree(state_dir, killed, dirs_exist_ok=True)
        # Object bodies are files of their own, written once, not part of each snapshot.
        bodies = [path.read_bytes() for path in (state_dir / persistence.OBJECTS_DIR).iterdir()]
        assert FILE_CONTENT in bodies and any(NOTE_BODY.encode() in body for body in bodies)
        assert NOTE_BODY.encode() not in (state_dir / persistence.SNAPSHOT_FILE).read_bytes()
    return FirstRun(stopped=state_dir, killed=killed, task_id=task["id"], note_id=note["id"], file_id=file["id"],
                    reminder=reminder[0], agent=agent)


def agent_token(api: httpx.Client, agent: dict[str, Any]) -> str:
    credentials = agent["credentials"]
    answer = api.post("/bus/token", data={"grant_type": "client_credentials", "client_id": credentials["client_id"],
                                          "client_secret": credentials["client_secret"]})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_a_restart_keeps_the_user_their_task_note_and_file(first_run: FirstRun) -> None:
    with EmbeddedCloud(cloud_config(first_run.stopped)) as cloud, \
            httpx.Client(base_url=cloud.api_url, timeout=30) as api:
        assert cloud.restored is not None and cloud.restored.users == 1
        headers = signed_in_headers(cloud)  # the same password, checked by the restored user pool
        with pytest.raises(persistence.DirectoryInUse):  # a second cloud on the same state
            persistence.claim(first_run.stopped)

        assert api.get(f"/tasks/{first_run.task_id}", headers=headers).json()["title"] == "Kept task"
        assert [t["id"] for t in api.get("/tasks", headers=headers).json()["items"]] == [first_run.task_id]
        note = api.get(f"/notes/{first_run.note_id}", headers=headers).json()
        assert (note["title"], note["body"]) == ("Kept note", NOTE_BODY)  # the body is read back from S3
        assert [n["id"] for n in api.get("/notes", headers=headers).json()["items"]] == [first_run.note_id]

        assert file_status(api, headers, first_run.file_id) == "available"
        redirect = api.get(f"/files/{first_run.file_id}/download", headers=headers)
        assert redirect.status_code == 302, redirect.text
        download = httpx.get(redirect.headers["location"], timeout=30)  # from the bucket's new name
        assert (download.status_code, download.content) == (200, FILE_CONTENT)
        assert scan_tags(cloud, first_run.file_id) == {SCAN_TAG: "NO_THREATS_FOUND"}

        # The reminder is still scheduled, for the functions and roles of this deploy.
        assert reminder_schedules() == [first_run.reminder]
        schedule = local_client("scheduler").get_schedule(Name=first_run.reminder, GroupName=REMINDER_GROUP)
        assert first_run.task_id in schedule["Target"]["Input"]
        assert "RoleArn" in schedule["Target"] and stale_names(cloud, json.dumps(schedule["Target"])) == set()

        # A bus agent's inbox and topic subscription are made again (queues are not kept): its credentials
        # still trade for a token, and direct and topic messages reach it.
        agent = first_run.agent
        agent_headers = {"Authorization": f"Bearer {agent_token(api, agent)}"}
        assert api.post("/messages", headers=headers, json={"to": agent["id"], "payload": "direct"}).status_code == 202
        assert api.post("/topics/news/messages", headers=headers, json={"payload": "topic"}).status_code == 202
        inbox = api.get(f"/agents/{agent['id']}/messages", params={"wait": 2, "max": 10}, headers=agent_headers)
        assert inbox.status_code == 200, inbox.text
        assert sorted(m["payload"] for m in inbox.json()["messages"]) == ["direct", "topic"]

        # A restored cloud keeps saving: a task created now is in the next snapshot.
        task = created(api.post("/tasks", headers=headers, json={"title": "After the restart"}))
        assert eventually(lambda: snapshot_mentions(first_run.stopped, task["id"]), timeout=20)


def test_a_kill_keeps_what_the_last_periodic_snapshot_holds(first_run: FirstRun) -> None:
    with EmbeddedCloud(cloud_config(first_run.killed)) as cloud, \
            httpx.Client(base_url=cloud.api_url, timeout=30) as api:
        headers = signed_in_headers(cloud)
        assert api.get(f"/tasks/{first_run.task_id}", headers=headers).json()["title"] == "Kept task"
        assert api.get(f"/notes/{first_run.note_id}", headers=headers).json()["body"] == NOTE_BODY


def test_fresh_starts_empty(first_run: FirstRun) -> None:
    args = build_parser().parse_args(["local", "--fresh", "--state-dir", str(first_run.stopped),
                                      "--port", str(free_port()), "--aws-port", str(free_port())])
    config = local_config(args)
    assert (config.state_dir, config.fresh_state) == (first_run.stopped, True)
    # The CLI serves WebSockets on the API port + 1; beside other tests' clouds, any free port instead.
    with EmbeddedCloud(replace(config, snapshot_interval=0.5, ws_port=0)) as cloud:
        assert cloud.stack is not None and cloud.restored is None
        with pytest.raises(ClientError) as refused:
            sign_in(cloud.stack, EMAIL, PASSWORD)
        assert refused.value.response["Error"]["Code"] in ("UserNotFoundException", "NotAuthorizedException")
        # Signing the same e-mail up again gives a new, empty tenant.
        sign_up_and_confirm(cloud.stack, EMAIL, PASSWORD)
        with httpx.Client(base_url=cloud.api_url, timeout=30) as api:
            headers = signed_in_headers(cloud)
            assert api.get("/tasks", headers=headers).json()["items"] == []
            assert api.get("/notes", headers=headers).json()["items"] == []
            assert api.get(f"/tasks/{first_run.task_id}", headers=headers).status_code == 404
        assert reminder_schedules() == []
    assert not snapshot_mentions(first_run.stopped, first_run.task_id)  # the old state is gone for good


def test_a_restore_that_fails_half_way_starts_empty(first_run: FirstRun, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    state_dir = tmp_path / "state"
    shutil.copytree(first_run.killed, state_dir)
    restore_everything = persistence.restore

    def restore_then_fail(*args: Any) -> Any:
        restore_everything(*args)
        raise AttributeError("a model moto changed")

    monkeypatch.setattr(persistence, "restore", restore_then_fail)
    with EmbeddedCloud(cloud_config(state_dir)) as cloud:
        assert cloud.stack is not None and cloud.restored is None
        assert "restoring" in caplog.text and "starting empty" in caplog.text
        with pytest.raises(ClientError):
            sign_in(cloud.stack, EMAIL, PASSWORD)
        tasks_table = next(name for logical_id, name in cloud.stack.resources.items()
                           if logical_id.startswith("TasksTasksTable"))
        assert local_client("dynamodb").scan(TableName=tasks_table)["Count"] == 0
        assert reminder_schedules() == []
    assert (state_dir / f"{persistence.SNAPSHOT_FILE}.unreadable").exists()


def saved_state(**kinds: Any) -> dict[str, Any]:
    empty: dict[str, Any] = {"buckets": {}, "user_pools": {}, "schedule_groups": {}, "physical_ids": {}}
    return {**empty, "tables": pickle.dumps({}), **kinds}


def test_object_bodies_are_files_of_their_own_and_a_missing_one_makes_the_snapshot_unreadable(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from moto.s3.models import FakeKey

    key = FakeKey("notes/a.md", b"# A note", ACCOUNT_ID, "us-east-1", bucket_name="old-bucket")
    key.set_metadata({"title": "A"})
    state = saved_state(buckets={"Bucket": {"versions": {key.name: [key]}, "tags": {}}})
    persistence.write_snapshot(tmp_path, persistence.pickle_state(state, tmp_path))
    [body] = (tmp_path / persistence.OBJECTS_DIR).iterdir()
    assert body.read_bytes() == b"# A note" and b"# A note" not in (tmp_path / persistence.SNAPSHOT_FILE).read_bytes()

    saved = persistence.read_snapshot(tmp_path)
    assert saved is not None
    [restored] = saved[1]["buckets"]["Bucket"]["versions"]["notes/a.md"]
    assert (restored.value, restored.etag, restored.metadata) == (b"# A note", key.etag, key.metadata)
    assert restored.metadata["title"] == "A"

    body.unlink()
    assert persistence.read_snapshot(tmp_path) is None
    assert "cannot be restored (FileNotFoundError" in caplog.text
    assert (tmp_path / f"{persistence.SNAPSHOT_FILE}.unreadable").exists()
    assert (tmp_path / f"{persistence.OBJECTS_DIR}.unreadable").is_dir()


def test_a_snapshot_of_another_moto_is_set_aside_and_the_cloud_starts_empty(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    persistence.write_snapshot(tmp_path, persistence.pickle_state(saved_state(), tmp_path))
    assert persistence.read_snapshot(tmp_path) is not None
    monkeypatch.setattr(persistence, "moto_version", lambda: "0.0.1")

    assert persistence.read_snapshot(tmp_path) is None
    assert "cannot be restored" in caplog.text and "this is moto 0.0.1" in caplog.text
    assert not (tmp_path / persistence.SNAPSHOT_FILE).exists()
    assert (tmp_path / f"{persistence.SNAPSHOT_FILE}.unreadable").exists()


def test_a_corrupt_snapshot_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / persistence.SNAPSHOT_FILE).write_bytes(b"\x80\x05 not a pickle")

    assert persistence.read_snapshot(tmp_path) is None
    assert "cannot be restored" in caplog.text
    assert (tmp_path / f"{persistence.SNAPSHOT_FILE}.unreadable").read_bytes() == b"\x80\x05 not a pickle"


def test_only_requests_that_may_change_saved_data_mark_a_change() -> None:
    def changes(method: str = "POST", target: str = "", authorization: str = "", query: str = "") -> bool:
        return persistence.may_change_saved_state({
            "REQUEST_METHOD": method, "HTTP_X_AMZ_TARGET": target, "HTTP_AUTHORIZATION": authorization,
            "QUERY_STRING": query})

    s3_scope = "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, Signature=x"
    assert changes(target="DynamoDB_20120810.PutItem")
    assert changes(target="AWSCognitoIdentityProviderService.SignUp")
    assert not changes(target="DynamoDB_20120810.Query")
    assert not changes(target="DynamoDBStreams_20120810.GetRecords")
    assert not changes(target="AmazonSQS.ReceiveMessage")
    assert changes("PUT", authorization=s3_scope)
    assert changes("PUT", query="X-Amz-Credential=test%2F20260101%2Fus-east-1%2Fs3%2Faws4_request")
    assert changes("POST")  # a browser's presigned POST upload
    assert not changes("GET", authorization=s3_scope)
    assert not changes("POST", authorization=s3_scope.replace("/s3/", "/lambda/"))
