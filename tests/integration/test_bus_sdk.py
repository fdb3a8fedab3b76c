"""The bus's Python SDK against the embedded cloud: two agents hold a request-reply conversation through
``subscribe`` (ack on success, nack on an exception), and a payload of three 5 MiB parts is uploaded with an
interruption and a resume, then downloaded with an interruption and a resume, the SHA-256 equal at every end.
(``examples/bus_stream_demo.py`` does the same with 200 MiB and reports time and memory.)"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from crewhouse_bus import BusClient

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser

MIB = 2**20


class Interrupted(Exception):
    pass


def stop_after(fraction: float) -> Callable[[int, int], None]:
    def progress(done: int, total: int) -> None:
        if done >= total * fraction:
            raise Interrupted(f"stopped at {done} of {total}")

    return progress


@pytest.fixture(scope="module")
def admin(cloud: EmbeddedCloud, new_user: Callable[[], SignedInUser]) -> Iterator[BusClient]:
    with BusClient.builder().base_url(f"{cloud.api_url}/").bearer_token(new_user().id_token).build() as client:
        yield client


def agent_client(cloud: EmbeddedCloud, admin: BusClient, name: str, **fields: object) -> tuple[str, BusClient]:
    registered = admin.register_agent(name, **fields)  # type: ignore[arg-type]
    credentials = registered["credentials"]
    assert credentials is not None
    client = (BusClient.builder().base_url(f"{cloud.api_url}/")
              .client_credentials(credentials["client_id"], credentials["client_secret"]).build())
    return str(registered["id"]), client


def test_agents_discover_each_other_and_converse_through_the_sdk(cloud: EmbeddedCloud, admin: BusClient) -> None:
    responder_id, responder = agent_client(cloud, admin, "sdk responder", capabilities=["sdk-echo"])
    asker_id, asker = agent_client(cloud, admin, "sdk asker")
    responder.heartbeat(responder_id)
    [found] = asker.discover("sdk-echo", status="online")
    assert found["id"] == responder_id
    seen: list[object] = []

    def respond() -> None:
        with responder.subscribe(responder_id, wait=2) as messages:
            for message in messages:
                seen.append(message["payload"])
                if message["payload"] == "poison":
                    raise RuntimeError("a handler failure: the message is nacked")
                responder.reply(str(message["correlation_id"]), {"echo": message["payload"]})
                if len(seen) >= 2:
                    return

    raised: list[BaseException] = []

    def respond_and_record() -> None:
        try:
            respond()
        except RuntimeError as error:
            raised.append(error)

    thread = threading.Thread(target=respond_and_record)
    thread.start()
    asker.send(responder_id, "poison")
    thread.join(timeout=30)
    assert seen == ["poison"] and len(raised) == 1  # the handler's exception reached the subscriber's caller
    # The nacked message comes back to the next subscriber; this one answers the request after it.
    answered: list[object] = []

    def respond_again() -> None:
        with responder.subscribe(responder_id, wait=2) as messages:
            for message in messages:
                answered.append(message["payload"])
                if message.get("correlation_id"):
                    responder.reply(str(message["correlation_id"]), {"echo": message["payload"]})
                    return

    thread = threading.Thread(target=respond_again)
    thread.start()
    reply = asker.request(responder_id, "hello", timeout_seconds=20)
    thread.join(timeout=30)
    assert reply["payload"] == {"echo": "hello"}, reply
    assert answered[0] == "poison" and answered[-1] == "hello"
    for client in (responder, asker):
        client.close()
    admin.delete_agent(responder_id)
    admin.delete_agent(asker_id)


def test_a_stream_resumes_both_ways_with_equal_checksums(cloud: EmbeddedCloud, admin: BusClient,
                                                        tmp_path: Path) -> None:
    agent_id, agent = agent_client(cloud, admin, "sdk streamer")
    source, dest = tmp_path / "payload.bin", tmp_path / "downloaded.bin"
    source.write_bytes(os.urandom(11 * MIB))  # three parts of 5 MiB (the last one 1 MiB)
    source_sha = hashlib.sha256(source.read_bytes()).hexdigest()

    upload = agent.start_upload(source, name="sdk stream", part_size=5 * MIB)
    with pytest.raises(Interrupted):
        upload.send(progress=stop_after(0.6))
    resumed = agent.resume_upload(upload.stream_id, source)
    missing = resumed.missing_parts()
    assert 0 < len(missing) < 3, missing  # some parts were held, not all
    context = resumed.send()
    assert context["sha256"] == source_sha and context["size"] == 11 * MIB

    with pytest.raises(Interrupted):
        agent.download(context["id"], dest, progress=stop_after(0.5))
    result = agent.download(context["id"], dest)
    assert result.resumed_from > 0 and result.sha256 == source_sha
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == source_sha
    agent.close()
    admin.delete_agent(agent_id)
