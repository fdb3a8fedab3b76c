"""schemathesis over the whole merged OpenAPI document, against the embedded cloud over real HTTP.

Every operation gets schema-driven cases (the schema's examples, boundary values, then random fuzzing with
a fixed seed) sent with a real Cognito ID token. Path parameters naming a resource get the id of a real one
made first, so the cases reach the handlers instead of stopping at a 404. Checks: no 5xx, and every
response matches the schema (status codes aside: a 404 or 409 on a fuzzed call is a fine answer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from crewhouse.local.cloud import EmbeddedCloud
from crewhouse.local.seed import SignedInUser
from crewhouse.openapi import merged_openapi
from tests.integration.conftest import bearer

pytestmark = pytest.mark.integration

# Random cases per operation in the fuzzing phase, on top of the coverage phase's boundary cases (~1,000 in
# all). 72 operations, ~1,200 requests: about 2.5 minutes on a loaded 2-core machine, cloud start included.
MAX_EXAMPLES = 3

schema = schemathesis.openapi.from_dict(merged_openapi(), config=schemathesis.Config.from_dict({
    "seed": 20261203,
    "generation": {"max-examples": MAX_EXAMPLES},
    # Boundary values that are valid (the longest text, the largest number...) for every field; invalid
    # inputs come from the fuzzing phase, which mixes both. Negative boundary cases too would triple the time.
    "phases": {"coverage": {"generation": {"mode": "positive"}}},
}))


@dataclass
class Resources:
    """Real resources of the fuzzing user: the ids path parameters get."""

    api: httpx.Client
    headers: dict[str, str]
    ids: dict[str, str] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)  # schemathesis sends with requests

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.api.post(path, json=body, headers=self.headers)
        assert response.status_code in (200, 201, 202), (path, response.status_code, response.text)
        return dict(response.json())

    def task(self) -> dict[str, str]:
        return {"task_id": self.post("/tasks", {"title": "fuzz target"})["id"]}

    def note(self) -> dict[str, str]:
        note = self.post("/notes", {"title": "fuzz note", "body": "first", "checklist": [{"text": "an item"}]})
        return {"note_id": note["id"], "item_id": note["checklist"][0]["id"]}

    def notebook(self) -> dict[str, str]:
        return {"notebook_id": self.post("/notebooks", {"name": "fuzz notebook"})["id"]}

    def template(self) -> dict[str, str]:
        return {"template_id": self.post("/task-templates", {"name": "fuzz template",
                                                             "task": {"title": "from a template"}})["id"]}

    def file(self) -> dict[str, str]:
        created = self.post("/files", {"filename": "fuzz.txt", "content_type": "text/plain", "size": 5})
        upload = created["upload"]
        posted = httpx.post(upload["url"], data=upload["fields"], files={"file": ("fuzz.txt", b"hello")})
        assert posted.status_code == 204, posted.text
        return {"file_id": created["id"]}

    def chat_session(self) -> dict[str, str]:
        return {"session_id": self.post("/chat/sessions", {"title": "fuzz chat"})["id"]}

    def job(self) -> dict[str, str]:
        return {"job_id": self.post("/jobs", {"type": "summarize",
                                              "params": {"text": "A short text for the fuzzer to summarise."}})["id"]}

    def path_parameters_for(self, case: schemathesis.Case) -> dict[str, str]:
        """The shared ids, except that an operation which may destroy its resource (DELETE, abort, cancel)
        gets a fresh one each case, so that the operations after it still find theirs."""
        if not (case.method == "DELETE" or case.path.endswith(("/abort", "/cancel"))):
            return self.ids
        makers = {"/tasks/": self.task, "/notes/": self.note, "/notebooks/": self.notebook,
                  "/task-templates/": self.template, "/files/": self.file, "/chat/sessions/": self.chat_session,
                  "/jobs/": self.job, "/tenant/invitations/": self.invitation}
        prefix = next((p for p in makers if case.path.startswith(p)), None)
        # Members: the generated ids name nobody (the fuzzing user is the tenant's only, and last, admin).
        return {**self.ids, **makers[prefix]()} if prefix else self.ids

    def invitation(self) -> dict[str, str]:
        return {"invitation_id": self.post("/tenant/invitations", {"email": "fuzz-invitee@example.com"})["id"]}


@pytest.fixture(scope="module")
def resources(api: httpx.Client, new_user: Callable[[], SignedInUser]) -> Resources:
    # A user of its own: the fuzzer fills and empties its account without touching other tests' data.
    made = Resources(api, bearer(new_user().id_token))
    for make in (made.task, made.note, made.notebook, made.template, made.file, made.chat_session, made.job):
        made.ids.update(make())
    made.ids["other_id"] = made.task()["task_id"]  # a second task: dependencies need two
    made.ids["revision"] = "1"
    return made


# Operations that end the caller's session everywhere: each case signs in a throwaway user instead.
SESSION_ENDING = {("POST", "/me/sign-out")}


@schema.parametrize()
@hypothesis.settings(derandomize=True, deadline=None, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_no_input_gets_a_server_error(case: schemathesis.Case, cloud: EmbeddedCloud, resources: Resources,
                                     new_user: Callable[[], SignedInUser]) -> None:
    if case.path_parameters:
        ids = resources.path_parameters_for(case)
        case.path_parameters = {name: ids.get(name, value) for name, value in case.path_parameters.items()}
    headers = bearer(new_user().id_token) if (case.method, case.path) in SESSION_ENDING else resources.headers
    case.call_and_validate(base_url=cloud.api_url, session=resources.session, headers=headers,
                           checks=[not_a_server_error, response_schema_conformance], timeout=30)
