"""The offline provider: deterministic, no model, labelled as such in every answer.

It lets the chat work locally and in tests. It reads plain todo commands and answers the way a model
using Converse tool use would: with ``toolUse`` blocks, then a text reply once the tool results are in.

- "add buy milk tomorrow priority A"  -> create_task
- "what's on today" / "list my tasks" -> get_tasks
- "complete 2" / "complete buy milk"  -> complete_task (the 2nd task of the last list, or a search)
- "delete the bank task"              -> search_tasks, then delete_task
- "move buy milk to B"                -> search_tasks, then prioritize_tasks
- "rename buy milk to buy oat milk"   -> search_tasks, then update_task
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from crewhouse.llm.provider import ConverseResult, Message

LABEL = "(offline assistant)"
HELP = ("I understand: 'add <task> [today|tomorrow|fri 9am] [priority A]', 'what's on today', 'complete 2', "
        "'delete the <name> task', 'move <name> to B', 'rename <name> to <new name>'.")


@dataclass(frozen=True)
class Intent:
    action: str  # add | list | complete | delete | move | rename | help
    subject: str = ""
    value: str = ""
    index: int | None = None
    day: str | None = None


_NOISE = re.compile(r"^(the|my|a|an)\s+|\s+(task|todo|item)$", re.IGNORECASE)


def _clean(name: str) -> str:
    name = name.strip().strip(".!?\"'")
    previous = None
    while previous != name:
        previous, name = name, _NOISE.sub("", name).strip()
    return name


def parse_intent(text: str) -> Intent:
    line = text.strip()
    lower = line.lower().rstrip("?!. ")
    if match := re.match(r"^(?:please\s+)?(?:add|create|new task:?|remind me to)\s+(.+)$", line, re.IGNORECASE):
        return Intent("add", subject=match.group(1).strip())
    if re.search(r"\b(what'?s on|what is on|list|show)\b", lower) or lower in ("tasks", "todo", "my tasks"):
        day = "tomorrow" if "tomorrow" in lower else ("today" if "today" in lower else None)
        return Intent("list", day=day)
    if match := re.match(r"^(?:complete|done|finish|check off|mark)\s+(?:task\s+)?#?(\d+)(?:\s+as done)?$", lower):
        return Intent("complete", index=int(match.group(1)))
    if match := re.match(r"^(?:complete|done|finish|check off|mark)\s+(.+?)(?:\s+as done)?$", line, re.IGNORECASE):
        return Intent("complete", subject=_clean(match.group(1)))
    if match := re.match(r"^(?:delete|remove|drop)\s+(?:task\s+)?#?(\d+)$", lower):
        return Intent("delete", index=int(match.group(1)))
    if match := re.match(r"^(?:delete|remove|drop)\s+(.+)$", line, re.IGNORECASE):
        return Intent("delete", subject=_clean(match.group(1)))
    if match := re.match(r"^(?:move|make|set)\s+(.+?)\s+(?:to|priority)\s+([abc])$", line, re.IGNORECASE):
        return Intent("move", subject=_clean(match.group(1)), value=match.group(2).upper())
    if match := re.match(r"^(?:rename|change|update)\s+(.+?)\s+to\s+(.+)$", line, re.IGNORECASE):
        return Intent("rename", subject=_clean(match.group(1)), value=match.group(2).strip())
    return Intent("help")


def _tool_use(step: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"toolUse": {"toolUseId": f"offline-{step}-{name}", "name": name, "input": arguments}}


def _last_user_text(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """The latest user text and the tool results that followed it, in order."""
    results: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message["role"] != "user":
            continue
        texts = [b["text"] for b in message["content"] if "text" in b]
        if texts:
            return texts[-1], list(reversed(results))
        results.extend(reversed([b["toolResult"] for b in message["content"] if "toolResult" in b]))
    return "", []


def _payload(result: dict[str, Any]) -> dict[str, Any]:
    content = result.get("content") or [{}]
    data = content[0].get("json")
    return data if isinstance(data, dict) else {}


def _last_listing(messages: list[Message]) -> list[dict[str, Any]]:
    """Tasks of the most recent get_tasks result in the conversation ("complete 2" refers to it)."""
    listing_ids = set()
    for message in messages:
        for block in message["content"]:
            if "toolUse" in block and block["toolUse"]["name"] == "get_tasks":
                listing_ids.add(block["toolUse"]["toolUseId"])
    for message in reversed(messages):
        for block in reversed(message["content"]):
            result = block.get("toolResult")
            if result and result["toolUseId"] in listing_ids and result.get("status") == "success":
                return list(_payload(result).get("items", []))
    return []


def _describe(tasks: list[dict[str, Any]]) -> str:
    if not tasks:
        return "You have no tasks there."
    return "\n".join(f"{i}. [{t.get('label') or t.get('priority')}] {t['title']}"
                     + (" (done)" if t.get("status") == "done" else "") for i, t in enumerate(tasks, 1))


class OfflineProvider:
    name = "offline"

    def __init__(self, today: Any = None) -> None:
        self._today = today  # a callable returning the current date, for tests

    def _date(self, which: str | None) -> str | None:
        if which is None:
            return None
        from datetime import timedelta

        today = self._today() if self._today else datetime.now(UTC).date()
        return (today + timedelta(days=1 if which == "tomorrow" else 0)).isoformat()

    def converse(self, *, messages: list[Message], system: list[dict[str, Any]] | None = None,
                 tool_config: dict[str, Any] | None = None, max_tokens: int = 1024,
                 temperature: float | None = None) -> ConverseResult:
        if system and "[crewhouse-job:" in str(system[0].get("text", ""))[:64]:  # an agent job's tagged request
            from crewhouse.llm.offline_jobs import answer_job

            answered = answer_job(messages, system, max_tokens)
            if answered is not None:
                return answered
        text, results = _last_user_text(messages)
        # A hosted agent's turn is its task, then its context as "## " sections (crewhouse.crews.runtime.task_prompt):
        # the offline assistant acts on the task.
        text = text.split("\n\n## ", 1)[0]
        step = len(results)
        reply = self._next(parse_intent(text), text, results, messages, step)
        usage = {"inputTokens": sum(len(str(m["content"])) // 4 for m in messages), "outputTokens": 0}
        if isinstance(reply, str):
            usage["outputTokens"] = len(reply) // 4
            usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"]
            return ConverseResult({"role": "assistant", "content": [{"text": f"{LABEL} {reply}"}]}, "end_turn",
                                  usage, self.name)
        usage["totalTokens"] = usage["inputTokens"]
        return ConverseResult({"role": "assistant", "content": [reply]}, "tool_use", usage, self.name)

    def _next(self, intent: Intent, text: str, results: list[dict[str, Any]], messages: list[Message],
              step: int) -> str | dict[str, Any]:
        if results and results[-1].get("status") == "error":
            detail = _payload(results[-1]).get("detail") or "the tool failed"
            return f"That did not work: {detail}"
        if intent.action == "help":
            return HELP
        if intent.action == "add":
            if step == 0:
                return _tool_use(step, "create_task", self._task_fields(intent.subject))
            task = _payload(results[-1])
            when = f" for {task['planned_date']}" if task.get("planned_date") else ""
            return f"Added '{task['title']}' as {task.get('label') or task.get('priority')}{when}."
        if intent.action == "list":
            if step == 0:
                arguments: dict[str, Any] = {"status": ["todo", "in_progress"]}
                day = self._date(intent.day)
                if day:
                    arguments["planned_date"] = day
                return _tool_use(step, "get_tasks", arguments)
            return _describe(list(_payload(results[-1]).get("items", [])))
        return self._act_on_one(intent, results, messages, step)

    def _act_on_one(self, intent: Intent, results: list[dict[str, Any]], messages: list[Message],
                    step: int) -> str | dict[str, Any]:
        """Find the task (by list position or by search), act on it, then report."""
        action_tool = {"complete": "complete_task", "delete": "delete_task", "move": "prioritize_tasks",
                       "rename": "update_task"}[intent.action]
        done = [r for r in results if r["toolUseId"].endswith(action_tool)]
        if done:
            payload = _payload(done[-1])
            title = payload.get("title") or "the task"
            return {"complete": f"Completed '{title}'.", "delete": "Deleted it.",
                    "move": f"Moved '{title}' to {payload.get('label') or payload.get('priority')}.",
                    "rename": f"Renamed it to '{title}'."}[intent.action]
        if intent.index is not None:
            listing = _last_listing(messages)
            if not listing and step == 0:
                return _tool_use(step, "get_tasks", {"status": ["todo", "in_progress"]})
            if not listing:
                listing = list(_payload(results[-1]).get("items", []))
            if not 1 <= intent.index <= len(listing):
                return f"There is no task {intent.index} in the last list ({len(listing)} tasks)."
            target = listing[intent.index - 1]
        else:
            if step == 0:
                return _tool_use(step, "search_tasks", {"q": intent.subject, "status": ["todo", "in_progress"]})
            matches = list(_payload(results[-1]).get("items", []))
            if not matches:
                return f"I found no open task matching '{intent.subject}'."
            exact = [m for m in matches if m["title"].lower() == intent.subject.lower()]
            if len(matches) > 1 and len(exact) != 1:
                return f"Which one did you mean?\n{_describe(matches)}"
            target = exact[0] if exact else matches[0]
        arguments: dict[str, Any] = {"id": target["id"]}
        if intent.action == "move":
            arguments["priority"] = intent.value
        if intent.action == "rename":
            arguments["title"] = intent.value
        return _tool_use(step, action_tool, arguments)

    def _task_fields(self, subject: str) -> dict[str, Any]:
        """Title, day and letter of an 'add' command (dates are read with the quick-add parser)."""
        from crewhouse.tasks.quick_add import QuickAddError, parse_quick_add

        now = datetime.now(UTC)
        if self._today:
            today = self._today()
            now = now.replace(year=today.year, month=today.month, day=today.day)
        try:
            parsed = parse_quick_add(subject, now=now, timezone="UTC")
        except QuickAddError:
            return {"title": subject}
        fields: dict[str, Any] = {"title": parsed.title or subject}
        if parsed.priority:
            fields["priority"] = parsed.priority
        if parsed.planned_date:
            fields["planned_date"] = parsed.planned_date.isoformat()
        if parsed.tags:
            fields["tags"] = parsed.tags
        return fields
