"""A missing IAM grant fails locally, as it would in AWS: the tasks write function's role loses its tasks table
grant in a copy of the synthesized template, that copy is deployed, and creating a task fails with
AccessDeniedException while the untouched functions keep working.

This module starts its own embedded cloud, so it must not run while the package's cloud is up (moto's state is
process-wide): its name sorts before every other module of this package, and the fixture checks it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crewhouse.local import endpoint
from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
from crewhouse.local.seed import SignedInUser, sign_in, sign_up_and_confirm
from tests.support.moto_server import free_port

FUNCTION = "TasksTasksWriteFunction"  # serves POST /tasks
TABLE = "TasksTasksTable"


def without_tasks_table_grant(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every tasks-table resource removed from the write function's role policy."""
    resources = template["Resources"]
    function = next(r for k, r in resources.items() if k.startswith(FUNCTION) and r["Type"] == "AWS::Lambda::Function")
    role = function["Properties"]["Role"]["Fn::GetAtt"][0]
    policy = next(r for r in resources.values()
                  if r["Type"] == "AWS::IAM::Policy" and {"Ref": role} in r["Properties"]["Roles"])
    statements = []
    removed = 0
    for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
        targets = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        kept = [t for t in targets if TABLE not in json.dumps(t)]
        removed += len(targets) - len(kept)
        if kept:
            statements.append({**statement, "Resource": kept})
    assert removed == 2, "the write function's policy no longer grants the tasks table and its indexes"
    policy["Properties"]["PolicyDocument"]["Statement"] = statements
    return template


@pytest.fixture(scope="module")
def denied_cloud() -> Iterator[EmbeddedCloud]:
    assert endpoint.endpoint_url() is None, "another embedded cloud is running in this process"
    config = LocalCloudConfig(aws_port=free_port(), api_port=free_port(), background_loops=False,
                              template_transform=without_tasks_table_grant)
    with EmbeddedCloud(config) as started:
        yield started


@pytest.fixture(scope="module")
def member(denied_cloud: EmbeddedCloud) -> SignedInUser:
    assert denied_cloud.stack is not None
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    # sign-up runs the post-confirmation function (tenant creation): an untouched function
    sign_up_and_confirm(denied_cloud.stack, email, "Correct-horse-42!")
    return sign_in(denied_cloud.stack, email, "Correct-horse-42!")


@pytest.fixture
def function_errors() -> Iterator[list[BaseException]]:
    """Exceptions the functions log as unhandled (the API answers 500 problem+json for them)."""
    errors: list[BaseException] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.exc_info[1] is not None:
                errors.append(record.exc_info[1])

    handler = Collect()
    logging.getLogger("crewhouse").addHandler(handler)
    yield errors
    logging.getLogger("crewhouse").removeHandler(handler)


def test_the_function_without_its_grant_fails_with_access_denied_while_the_others_work(
        denied_cloud: EmbeddedCloud, member: SignedInUser, function_errors: list[BaseException]) -> None:
    headers = {"Authorization": f"Bearer {member.id_token}"}
    with httpx.Client(base_url=denied_cloud.api_url, timeout=30) as api:
        assert api.get("/me", headers=headers).status_code == 200  # platform function: its grants are intact
        assert api.get("/tasks", headers=headers).status_code == 200  # list function: same table, own role
        assert function_errors == []

        created = api.post("/tasks", json={"title": "Call the bank"}, headers=headers)

    assert created.status_code == 500, created.text
    assert created.headers["content-type"].startswith("application/problem+json")
    from botocore.exceptions import ClientError

    [error] = function_errors
    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert "assumed-role/" in str(error) and ":table/" in str(error)
