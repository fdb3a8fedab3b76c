"""Rules of hosted agents, crews and crew runs. No boto3 here: the store, the bus registry, the executions and the
agent runtime come in as ports (``wiring.py`` builds the real ones).

A crew run is one Step Functions execution of ``statemachines/crew_run.asl.json``: each ``RunStep`` calls
:meth:`CrewSteps.step`, which runs one task and records its output on the run item, conditioned on the step it
expected, so a retried step never writes twice. A failure anywhere reaches :meth:`CrewSteps.fail` (the state
machine's Catch), which marks the run failed with the task and the reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from crewhouse.core.errors import Conflict, NotFound, ValidationProblem
from crewhouse.core.etag import require_version
from crewhouse.core.identity import Identity
from crewhouse.crews.models import CrewFields, HostedAgentFields
from crewhouse.crews.runtime import AgentRun, AgentRuntime, ExtraTools, Outcome
from crewhouse.crews.store import DynamoCrews

Item = dict[str, Any]
OUTPUT_CHARS = 12_000  # of each task's output kept on the run item (20 tasks stay far below 400 KB)
ERROR_CHARS = 1000
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
EMPTY_USAGE = {"inputTokens": 0, "outputTokens": 0, "totalTokens": 0}


class RunCancelled(Exception):
    """The run was cancelled (or ended) while a step was due: the state machine stops without failing."""


class Registry(Protocol):
    def put(self, tenant_id: str, agent_id: str, *, name: str, description: str, capabilities: list[str],
            created_by: str) -> None: ...
    def remove(self, tenant_id: str, agent_id: str) -> None: ...


class Executions(Protocol):
    def start(self, name: str, payload: Item) -> str: ...
    def stop(self, execution_arn: str, cause: str) -> None: ...
    def console_url(self, execution_arn: str) -> str: ...


def _now(clock: Callable[[], datetime]) -> str:
    return clock().astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id() -> str:
    """A lower-case ULID, as the bus's ids are: a hosted agent's id is its registry entry's id too."""
    from ulid import ULID

    return str(ULID()).lower()


# --- crew validation -----------------------------------------------------------------------------------------

def _problem(path: str, message: str, kind: str = "crew") -> Item:
    return {"path": path, "message": message, "type": kind}


def crew_problems(crew: CrewFields, known_agents: set[str]) -> list[Item]:
    """Every problem of a crew definition at once (``known_agents``: the tenant's hosted agents among those it
    names)."""
    problems: list[Item] = []
    members = list(crew.members)
    for i, member in enumerate(members):
        if member not in known_agents:
            problems.append(_problem(f"body.members.{i}", f"No hosted agent {member}.", "unknown-agent"))
        if member in members[:i]:
            problems.append(_problem(f"body.members.{i}", f"{member} is listed twice.", "duplicate-member"))
    if crew.process == "hierarchical":
        if not crew.manager_agent_id:
            problems.append(_problem("body.manager_agent_id", "A hierarchical crew needs a manager agent.",
                                     "manager-required"))
        elif crew.manager_agent_id not in known_agents:
            problems.append(_problem("body.manager_agent_id", f"No hosted agent {crew.manager_agent_id}.",
                                     "unknown-agent"))
    seen: dict[str, int] = {}
    all_ids = {task.id: i for i, task in enumerate(crew.tasks)}
    for i, task in enumerate(crew.tasks):
        where = f"body.tasks.{i}"
        if task.id in seen:
            problems.append(_problem(f"{where}.id", f"Task id {task.id} is used twice.", "duplicate-task"))
        if task.agent_id is None:
            if crew.process == "sequential":
                problems.append(_problem(f"{where}.agent_id", f"Task {task.id} needs an agent in a sequential crew.",
                                         "agent-required"))
        elif task.agent_id not in members:
            problems.append(_problem(f"{where}.agent_id", f"Task {task.id}: {task.agent_id} is not a member.",
                                     "not-a-member"))
        for j, ref in enumerate(task.context):
            if ref == task.id:
                problems.append(_problem(f"{where}.context.{j}", f"Task {task.id} cannot use its own output.",
                                         "context-order"))
            elif ref in seen:
                continue
            elif ref in all_ids:
                problems.append(_problem(f"{where}.context.{j}",
                                         f"Task {task.id} uses {ref}, which comes later.", "context-order"))
            else:
                problems.append(_problem(f"{where}.context.{j}", f"Task {task.id} uses unknown task {ref}.",
                                         "unknown-task"))
        seen.setdefault(task.id, i)
    return problems


def interpolate(text: str, inputs: Item) -> str:
    """``{name}`` becomes the input's value; placeholders without an input stay as written."""
    return _PLACEHOLDER.sub(lambda m: str(inputs[m.group(1)]) if m.group(1) in inputs else m.group(0), text)


# --- hosted agents -------------------------------------------------------------------------------------------

def agent_view(item: Item) -> Item:
    return {k: v for k, v in item.items() if k != "tenant_id"}


class HostedAgentService:
    def __init__(self, store: DynamoCrews, registry: Registry, runtime: AgentRuntime | None = None, *,
                 check_tools: Callable[[str, list[str]], None] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.registry = registry
        self.runtime = runtime
        self.check_tools = check_tools
        self.clock = clock

    def find(self, identity: Identity, agent_id: str) -> Item:
        found = self.store.agent(identity.tenant_id, agent_id)
        if found is None:
            raise NotFound(f"No hosted agent {agent_id}.")
        return found

    def _checked(self, identity: Identity, body: HostedAgentFields) -> Item:
        fields = body.model_dump(mode="json")
        fields["capabilities"] = sorted(set(fields["capabilities"]))
        if self.check_tools is not None and fields["tools"]:
            self.check_tools(identity.tenant_id, list(fields["tools"]))
        return fields

    def create(self, identity: Identity, body: HostedAgentFields) -> Item:
        fields = self._checked(identity, body)
        now = _now(self.clock)
        head = {**fields, "id": _new_id(), "tenant_id": identity.tenant_id, "version": 1, "created_at": now,
                "updated_at": now, "created_by": identity.user_id}
        self.store.create_agent(head)
        try:
            self._register(head)
        except Exception:
            self.store.delete_agent(identity.tenant_id, head["id"], None)  # no agent without its registry entry
            raise
        return agent_view(head)

    def update(self, identity: Identity, agent_id: str, body: HostedAgentFields, if_match: str | None) -> Item:
        current = self.find(identity, agent_id)
        version = int(current["version"])
        require_version(if_match, version)
        fields = self._checked(identity, body)
        now = _now(self.clock)
        head = {**current, **fields, "version": version + 1, "updated_at": now}
        snapshot = {**{k: v for k, v in head.items() if k != "updated_at"}, "created_at": now,
                    "created_by": identity.user_id}
        self.store.new_agent_version(head, version, snapshot)
        self._register(head)
        return agent_view(head)

    def _register(self, head: Item) -> None:
        self.registry.put(head["tenant_id"], head["id"], name=head["name"],
                          description=head.get("description") or f"{head['role']}: {head['goal']}"[:2000],
                          capabilities=list(head.get("capabilities") or []), created_by=f"user:{head['created_by']}")

    def delete(self, identity: Identity, agent_id: str, if_match: str | None) -> None:
        current = self.find(identity, agent_id)
        require_version(if_match, int(current["version"]))
        self.registry.remove(identity.tenant_id, agent_id)
        self.store.delete_agent(identity.tenant_id, agent_id, int(current["version"]))

    def version(self, identity: Identity, agent_id: str, version: int) -> Item:
        self.find(identity, agent_id)
        found = self.store.agent_version(identity.tenant_id, agent_id, version)
        if found is None:
            raise NotFound(f"Hosted agent {agent_id} has no version {version}.")
        return agent_view(found)

    def run(self, identity: Identity, agent_id: str, task: str, context: Item | None) -> AgentRun:
        assert self.runtime is not None
        self.find(identity, agent_id)
        return self.runtime.run(identity, agent_id, task, context)


# --- crews ---------------------------------------------------------------------------------------------------

def crew_view(item: Item) -> Item:
    return {k: v for k, v in item.items() if k != "tenant_id"}


def run_view(run: Item, executions: Executions | None) -> Item:
    arn = run.get("execution_arn")
    return {"id": run["id"], "crew_id": run["crew_id"], "crew_version": int(run["crew_version"]),
            "status": run["status"], "execution_arn": arn,
            "console_url": executions.console_url(arn) if arn and executions else None,
            "inputs": run.get("inputs") or {}, "started_at": run["started_at"], "finished_at": run.get("finished_at"),
            "outputs": list(run.get("outputs") or []), "result": run.get("result"),
            "agents_used": list(run.get("agents_used") or []), "tools_used": list(run.get("tools_used") or []),
            "usage": dict(run.get("usage") or EMPTY_USAGE), "steps": int(run.get("steps") or 0),
            "failed_task": run.get("failed_task"), "error": run.get("error")}


class CrewService:
    def __init__(self, store: DynamoCrews, executions: Executions | None = None, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.executions = executions
        self.clock = clock

    def find(self, identity: Identity, crew_id: str) -> Item:
        found = self.store.crew(identity.tenant_id, crew_id)
        if found is None:
            raise NotFound(f"No crew {crew_id}.")
        return found

    def _validate(self, identity: Identity, body: CrewFields) -> None:
        named = [*body.members, *([body.manager_agent_id] if body.manager_agent_id else [])]
        known = set(self.store.agents(identity.tenant_id, named))
        problems = crew_problems(body, known)
        if problems:
            paths = ", ".join(dict.fromkeys(p["path"] for p in problems))
            raise ValidationProblem(f"The crew has {len(problems)} problem(s): {paths}.", slug="crew-definition",
                                    errors=problems)

    def create(self, identity: Identity, body: CrewFields) -> Item:
        self._validate(identity, body)
        now = _now(self.clock)
        crew = {**body.model_dump(mode="json"), "id": _new_id(), "tenant_id": identity.tenant_id, "version": 1,
                "created_at": now, "updated_at": now, "created_by": identity.user_id}
        self.store.create_crew(crew)
        return crew_view(crew)

    def update(self, identity: Identity, crew_id: str, body: CrewFields, if_match: str | None) -> Item:
        current = self.find(identity, crew_id)
        version = int(current["version"])
        require_version(if_match, version)
        self._validate(identity, body)
        crew = {**current, **body.model_dump(mode="json"), "version": version + 1, "updated_at": _now(self.clock)}
        self.store.replace_crew(crew, version)
        return crew_view(crew)

    def delete(self, identity: Identity, crew_id: str, if_match: str | None) -> None:
        current = self.find(identity, crew_id)
        require_version(if_match, int(current["version"]))
        self.store.delete_crew(identity.tenant_id, crew_id, int(current["version"]))

    # --- runs -----------------------------------------------------------------------------------------------

    def start_run(self, identity: Identity, crew_id: str, inputs: Item) -> Item:
        """A run item, then its execution (named by the run id); if the start fails the run is marked failed."""
        assert self.executions is not None
        crew = self.find(identity, crew_id)
        named = [*crew["members"], *([crew["manager_agent_id"]] if crew.get("manager_agent_id") else [])]
        heads = self.store.agents(identity.tenant_id, named)
        missing = [agent_id for agent_id in dict.fromkeys(named) if agent_id not in heads]
        if missing:
            raise Conflict(f"The crew's agents {', '.join(missing)} no longer exist; update the crew.",
                           slug="crew-agents-missing")
        run_id = _new_id()
        run = {"id": run_id, "tenant_id": identity.tenant_id, "crew_id": crew_id, "crew_version": crew["version"],
               "crew": {k: crew.get(k) for k in ("process", "members", "manager_agent_id", "tasks", "max_steps")},
               "agent_versions": {agent_id: int(head["version"]) for agent_id, head in heads.items()},
               "status": "running", "inputs": inputs, "started_at": _now(self.clock),
               "started_by": identity.user_id, "started_role": identity.role, "outputs": [], "next_step": 0,
               "steps": 0, "delegations": 0, "agents_used": [], "tools_used": [], "usage": dict(EMPTY_USAGE)}
        self.store.create_run(run)
        try:
            arn = self.executions.start(run_id, {"run": {"tenant_id": identity.tenant_id, "crew_id": crew_id,
                                                         "run_id": run_id}})
        except Exception as exc:
            self.store.update_run(identity.tenant_id, crew_id, run_id,
                                  {"status": "failed", "error": f"The execution did not start: {exc}"[:ERROR_CHARS],
                                   "finished_at": _now(self.clock)})
            raise
        self.store.update_run(identity.tenant_id, crew_id, run_id, {"execution_arn": arn}, require_running=False)
        run["execution_arn"] = arn
        return run_view(run, self.executions)

    def run(self, identity: Identity, crew_id: str, run_id: str) -> Item:
        self.find(identity, crew_id)
        return run_view(self.store.require_run(identity.tenant_id, crew_id, run_id), self.executions)

    def runs(self, identity: Identity, crew_id: str, *, limit: int, start: Item | None
             ) -> tuple[list[Item], Item | None]:
        self.find(identity, crew_id)
        items, resume = self.store.runs_page(identity.tenant_id, crew_id, limit=limit, start=start)
        return [run_view(item, self.executions) for item in items], resume

    def cancel(self, identity: Identity, crew_id: str, run_id: str) -> Item:
        """Stop a running run's execution (StopExecution) and mark it cancelled; an ended run is a 409."""
        assert self.executions is not None
        self.find(identity, crew_id)
        run = self.store.require_run(identity.tenant_id, crew_id, run_id)
        if run["status"] != "running":
            raise Conflict(f"Run {run_id} already ended ({run['status']}).", slug="run-ended")
        changes = {"status": "cancelled", "finished_at": _now(self.clock), "error": f"Cancelled by {identity.user_id}."}
        if not self.store.update_run(identity.tenant_id, crew_id, run_id, changes):
            raise Conflict(f"Run {run_id} ended meanwhile.", slug="run-ended")
        if run.get("execution_arn"):
            self.executions.stop(str(run["execution_arn"]), f"Cancelled by {identity.user_id}")
        return run_view({**run, **changes}, self.executions)


# --- the steps of a run (the crew-step Lambda) ---------------------------------------------------------------

DELEGATE_SPEC = {"toolSpec": {
    "name": "delegate",
    "description": "Give a task to one member of your crew and get their answer back. Say exactly what you need.",
    "inputSchema": {"json": {"type": "object", "required": ["agent_id", "task"], "additionalProperties": False,
                             "properties": {"agent_id": {"type": "string", "description": "A member's id"},
                                            "task": {"type": "string", "description": "What the member should do"}}}},
}}


def _merge_usage(total: Item, usage: Item) -> dict[str, int]:
    return {key: int(total.get(key, 0)) + int(usage.get(key, 0)) for key in EMPTY_USAGE}


def error_reason(error: Item | None) -> str:
    """A Step Functions Catch's ``{"Error", "Cause"}`` (the Lambda's errorMessage inside Cause) as one line."""
    if not error:
        return "The run failed."
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        message = parsed.get("errorMessage") or cause
        kind = parsed.get("errorType") or error.get("Error") or "Error"
    except (TypeError, ValueError):
        message, kind = cause, error.get("Error") or "Error"
    return f"{kind}: {message}"[:ERROR_CHARS] if message else str(kind)


def delegation(runtime: AgentRuntime, identity: Identity, members: list[str], versions: Item, budget: int,
               crew_task: str, delegations: list[Item]) -> ExtraTools:
    """A manager's ``delegate`` tool: a member runs the work it names (within ``budget`` delegations); each
    delegation is appended to ``delegations``."""

    def delegate(name: str, arguments: dict[str, Any]) -> Outcome:
        agent_id, work = str(arguments.get("agent_id") or ""), str(arguments.get("task") or "").strip()
        if agent_id not in members:
            return Outcome(False, {"error": "not-a-member", "detail": f"{agent_id or '(none)'} is not a member; "
                                                                      f"members: {', '.join(members)}."})
        if not work:
            return Outcome(False, {"error": "no-task", "detail": "Say what the member should do."})
        if len(delegations) >= budget:
            return Outcome(False, {"error": "limit", "detail": "The crew's delegation limit is reached; answer "
                                                               "with what you have."})
        done = runtime.run(identity, agent_id, work, {"Crew task": crew_task}, version=versions.get(agent_id))
        delegations.append({"agent_id": agent_id, "task": work[:500], "text": done.text[:2000],
                            "tools_used": done.tools_used, "usage": done.usage, "tool_calls": done.tool_calls})
        return Outcome(True, {"agent_id": agent_id, "output": done.text})

    return ExtraTools([DELEGATE_SPEC], delegate)


def managed(runtime: AgentRuntime, identity: Identity, crew: Item, work: str, context: Item, versions: Item,
            budget: int, delegations: list[Item], suggested: str | None = None) -> AgentRun:
    """The manager handles ``work``, delegating to members through its ``delegate`` tool."""
    members = [m for m in crew["members"] if m != crew["manager_agent_id"]]
    if suggested:
        context["Suggested member"] = suggested
    context["Crew members (delegate to them by id)"] = "\n".join(f"- {member}" for member in members)
    manager = str(crew["manager_agent_id"])
    return runtime.run(identity, manager, work, context, version=versions.get(manager),
                       extra=delegation(runtime, identity, members, versions, budget, work, delegations))


def perform_task(runtime: AgentRuntime, identity: Identity, crew: Item, task: Item, inputs: Item,
                 outputs: dict[str, Item], versions: Item, budget: int, delegations: list[Item],
                 extra_context: Item | None = None) -> AgentRun:
    """One crew task: its description and expected output with ``inputs`` filled in, the outputs of the tasks it
    names as context; its agent runs it, or the manager (delegating) in a hierarchical crew."""
    description = interpolate(str(task["description"]), inputs)
    context: Item = {"Expected output": interpolate(str(task["expected_output"]), inputs), **(extra_context or {})}
    for ref in task.get("context") or []:
        if ref in outputs:
            context[f"Output of task {ref}"] = outputs[ref]["text"]
    if crew["process"] == "hierarchical":
        return managed(runtime, identity, crew, description, context, versions, budget, delegations,
                       suggested=str(task["agent_id"]) if task.get("agent_id") else None)
    agent_id = str(task["agent_id"])
    return runtime.run(identity, agent_id, description, context, version=versions.get(agent_id))


@dataclass
class StepResult:
    done: bool
    step: int

    def as_payload(self) -> Item:
        return {"done": self.done, "step": self.step}


class CrewSteps:
    def __init__(self, store: DynamoCrews, runtime: AgentRuntime, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.runtime = runtime
        self.clock = clock

    def _run(self, ids: Item) -> Item:
        run = self.store.run(str(ids["tenant_id"]), str(ids["crew_id"]), str(ids["run_id"]))
        if run is None:
            raise RunCancelled(f"Run {ids['run_id']} no longer exists.")
        return run

    def step(self, ids: Item) -> StepResult:
        run = self._run(ids)
        if run["status"] != "running":
            if run["status"] == "succeeded":
                return StepResult(True, int(run["next_step"]))
            raise RunCancelled(f"Run {run['id']} is {run['status']}.")
        step = int(run["next_step"])
        crew = run["crew"]
        tasks = list(crew["tasks"])
        if step >= len(tasks):
            return StepResult(True, step)
        task = tasks[step]
        identity = Identity(run["tenant_id"], str(run["started_by"]), str(run.get("started_role") or "member"),
                            frozenset())
        outputs = {o["task_id"]: o for o in run.get("outputs") or []}
        delegations: list[Item] = []
        budget = int(crew.get("max_steps") or 10) - int(run.get("delegations") or 0)
        result = perform_task(self.runtime, identity, crew, task, dict(run.get("inputs") or {}), outputs,
                              dict(run.get("agent_versions") or {}), budget, delegations)
        output = {"task_id": task["id"], "agent_id": result.agent_id, "agent_version": result.version,
                  "text": result.text[:OUTPUT_CHARS], "tools_used": result.tools_used,
                  "delegations": [{k: v for k, v in d.items() if k != "tool_calls"} for d in delegations],
                  "usage": result.usage}
        agents_used = list(dict.fromkeys([*run.get("agents_used", []), result.agent_id,
                                          *(d["agent_id"] for d in delegations)]))
        tools_used = list(dict.fromkeys([*run.get("tools_used", []), *result.tools_used,
                                         *(t for d in delegations for t in d["tools_used"])]))
        usage = _merge_usage(run.get("usage") or {}, result.usage)
        for delegation in delegations:
            usage = _merge_usage(usage, delegation["usage"])
        done = step + 1 >= len(tasks)
        changes: Item = {"outputs": [*run.get("outputs", []), output], "next_step": step + 1,
                         "steps": int(run.get("steps") or 0) + 1 + len(delegations),
                         "delegations": int(run.get("delegations") or 0) + len(delegations),
                         "agents_used": agents_used, "tools_used": tools_used, "usage": usage}
        if done:
            changes.update({"status": "succeeded", "result": output["text"], "finished_at": _now(self.clock)})
        if not self.store.update_run(run["tenant_id"], run["crew_id"], run["id"], changes, expected_step=step):
            again = self._run(ids)  # an earlier attempt wrote this step, or the run was cancelled meanwhile
            if again["status"] not in ("running", "succeeded"):
                raise RunCancelled(f"Run {run['id']} is {again['status']}.")
            return StepResult(again["status"] == "succeeded", int(again["next_step"]))
        return StepResult(done, step + 1)

    def fail(self, ids: Item, error: Item | None) -> Item:
        """Mark the run failed with the task it was on and the reason (unless it already ended)."""
        run = self.store.run(str(ids["tenant_id"]), str(ids["crew_id"]), str(ids["run_id"]))
        if run is None:
            return {"status": "gone"}
        tasks = list(run["crew"]["tasks"])
        step = int(run.get("next_step") or 0)
        failed_task = tasks[step]["id"] if step < len(tasks) else None
        changes = {"status": "failed", "failed_task": failed_task, "error": error_reason(error),
                   "finished_at": _now(self.clock)}
        self.store.update_run(run["tenant_id"], run["crew_id"], run["id"], changes)
        return {"status": "failed", "failed_task": failed_task}


# --- chat with a crew ----------------------------------------------------------------------------------------

@dataclass
class CrewReply:
    text: str
    agents: list[Item]  # in the order they worked: {"agent_id", "name", "tools_used"}
    tool_calls: list[Item]  # {"agent_id", "name", "input", "ok", "result"}
    usage: dict[str, int]
    provider: str
    finished: bool = True


class CrewConversation:
    """A chat session bound to a crew: each message goes to the crew. A hierarchical crew's manager agent answers
    it, delegating to members; a sequential crew runs its tasks in order (``{message}`` in a task's description is
    the message; the last task's output is the reply). The conversation so far comes along as context.

    Synchronous within the chat's turn: no task starts after ``timeout_seconds`` (the reply then says so)."""

    def __init__(self, store: DynamoCrews, runtime: AgentRuntime, *, timeout_seconds: float = 25.0,
                 clock: Callable[[], float] | None = None) -> None:
        import time

        self.store = store
        self.runtime = runtime
        self.timeout_seconds = timeout_seconds
        self.clock = clock or time.monotonic

    def crew(self, identity: Identity, crew_id: str) -> Item:
        found = self.store.crew(identity.tenant_id, crew_id)
        if found is None:
            raise NotFound(f"No crew {crew_id}.")
        return found

    def reply(self, identity: Identity, crew_id: str, text: str, transcript: str = "") -> CrewReply:
        crew = self.crew(identity, crew_id)
        named = list(dict.fromkeys([*crew["members"], *([crew["manager_agent_id"]] if crew.get("manager_agent_id")
                                                          else [])]))
        heads = self.store.agents(identity.tenant_id, named)
        missing = [agent_id for agent_id in named if agent_id not in heads]
        if missing:
            raise Conflict(f"The crew's agents {', '.join(missing)} no longer exist; update the crew.",
                           slug="crew-agents-missing")
        deadline = self.clock() + self.timeout_seconds
        context: Item = {"Conversation so far": transcript} if transcript else {}
        budget = int(crew.get("max_steps") or 10)
        runs: list[AgentRun] = []
        delegations: list[Item] = []
        finished = True
        if crew["process"] == "hierarchical":
            runs.append(managed(self.runtime, identity, crew, text, dict(context), {}, budget, delegations))
        else:
            outputs: dict[str, Item] = {}
            for task in crew["tasks"]:
                if runs and self.clock() > deadline:
                    finished = False
                    break
                done = perform_task(self.runtime, identity, crew, task, {"message": text}, outputs, {}, budget,
                                    delegations, extra_context={"Message": text, **context})
                outputs[str(task["id"])] = {"text": done.text}
                runs.append(done)
        worked = [(r.agent_id, r.tools_used, r.tool_calls, r.usage) for r in runs] + [
            (d["agent_id"], d["tools_used"], d.get("tool_calls") or [], d["usage"]) for d in delegations]
        agents: dict[str, Item] = {}
        calls: list[Item] = []
        usage: dict[str, int] = dict(EMPTY_USAGE)
        for agent_id, tools_used, tool_calls, used in worked:
            entry = agents.setdefault(agent_id, {"agent_id": agent_id, "name": heads[agent_id]["name"],
                                                 "tools_used": []})
            entry["tools_used"] = list(dict.fromkeys([*entry["tools_used"], *tools_used]))
            calls.extend({"agent_id": agent_id, **call} for call in tool_calls)
            usage = _merge_usage(usage, used)
        reply = runs[-1].text if runs else ""
        if not finished:
            reply = f"{reply}\n\n(The crew ran out of time after {len(runs)} of {len(crew['tasks'])} tasks.)"
        return CrewReply(reply, list(agents.values()), calls, usage, runs[-1].provider if runs else "", finished)
