"""What the chat Lambda loads: never the MCP transport; the provider layer and the task tools only for a turn."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import json, sys
def loaded(*prefixes):
    return sorted({m.split(".")[0] if m.startswith("mcp") else m for m in sys.modules if m.startswith(prefixes)})
import crewhouse.chat.api
at_import = loaded("mcp", "crewhouse.llm.provider", "crewhouse.tools.")
from crewhouse.chat.logic import registry_caller, tool_config
from crewhouse.core.identity import Identity
registry_caller(Identity("t", "u", "member", frozenset()), lambda cls: None)
config = tool_config()
print(json.dumps({"at_import": at_import, "for_a_turn": loaded("mcp", "crewhouse.tools."),
                  "tools": [t["toolSpec"]["name"] for t in config["tools"]]}))
"""


def test_the_chat_never_loads_mcp_and_loads_only_the_task_tools_for_a_turn() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "functions"), "AWS_DEFAULT_REGION": "us-east-1"}).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["at_import"] == []  # no MCP, no provider layer, no tool registry at import (cold start)
    assert seen["for_a_turn"] == ["crewhouse.tools.registry", "crewhouse.tools.task_tools"]  # no notes/files/jobs
    assert seen["tools"] == ["create_task", "get_tasks", "update_task", "complete_task", "delete_task",
                             "prioritize_tasks", "search_tasks"]
