"""Two agents on the Agentic Context Bus find each other by capability and hold a request-reply conversation.

An admin (a tenant admin's bearer token: the one `make dev` prints) registers both agents; each then runs on its
own client credentials, as an external process would: it heartbeats, the asker discovers the responder by its
``echo`` capability, sends it synchronous and asynchronous requests, and checks every reply. Both agents are
unregistered at the end. Exit 0 when every reply came back right.

    python examples/bus_echo_agents.py --admin-token "$TOKEN"
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

try:
    import crewhouse_bus  # noqa: F401
except ImportError:  # run from a checkout without `pip install ./sdk/python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))

from crewhouse_bus import Agent, BusClient, Message

ROUNDS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default="http://localhost:8000/", help="the bus's HTTP API")
    parser.add_argument("--admin-token", default=os.environ.get("CREWHOUSE_ADMIN_TOKEN"),
                        help="a tenant admin's bearer token (default: $CREWHOUSE_ADMIN_TOKEN)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="synchronous requests to send")
    args = parser.parse_args(argv)
    if not args.admin_token:
        parser.error("give --admin-token or set CREWHOUSE_ADMIN_TOKEN (make dev prints one)")
    return args


def agent_client(api_url: str, registered: Agent) -> BusClient:
    """The agent's own client: its credentials (shown once, at registration) traded at <api-url>bus/token."""
    credentials = registered.get("credentials")
    if not credentials:
        raise SystemExit(f"agent {registered['id']} was registered without credentials")
    return (BusClient.builder().base_url(api_url)
            .client_credentials(credentials["client_id"], credentials["client_secret"])
            .timeout(10).build())


def find_responder(asker: BusClient, run_id: str, *, attempts: int = 10) -> str:
    """Discovery by capability; the run id in the metadata tells this run's responder from earlier ones."""
    for _ in range(attempts):
        for agent in asker.list_agents(capability="echo", status="online"):
            if agent.get("metadata", {}).get("demo_run") == run_id:
                return agent["id"]
        time.sleep(0.5)
    raise SystemExit("no online agent with the 'echo' capability showed up")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    admin = BusClient.builder().base_url(args.api_url).bearer_token(args.admin_token).build()
    registered: list[str] = []
    try:
        responder_reg = admin.register_agent(f"echo-responder-{run_id}", capabilities=["echo"],
                                             description="answers each request with its own text",
                                             metadata={"demo_run": run_id})
        registered.append(responder_reg["id"])
        asker_reg = admin.register_agent(f"echo-asker-{run_id}", capabilities=["chat"],
                                         metadata={"demo_run": run_id})
        registered.append(asker_reg["id"])
        print(f"registered responder {responder_reg['id']} and asker {asker_reg['id']}")

        responder = agent_client(args.api_url, responder_reg)
        asker = agent_client(args.api_url, asker_reg)
        responder.heartbeat(responder_reg["id"])  # online before anyone looks
        beats = [responder.start_heartbeat(responder_reg["id"]), asker.start_heartbeat(asker_reg["id"])]

        stop = threading.Event()

        def answer(message: Message) -> None:
            if message["kind"] == "request" and message["correlation_id"]:
                text = message["payload"].get("text") if isinstance(message["payload"], dict) else None
                responder.reply(message["correlation_id"], {"echo": text, "by": responder_reg["name"]})

        serving = threading.Thread(target=responder.consume, args=(responder_reg["id"], answer),
                                   kwargs={"stop": stop, "wait": 2}, daemon=True)
        serving.start()

        responder_id = find_responder(asker, run_id)
        print(f"asker found {responder_id} by capability 'echo'")
        failures = 0
        for round_number in range(1, args.rounds + 1):
            text = f"hello #{round_number} from {asker_reg['name']}"
            started = time.perf_counter()
            reply = asker.request(responder_id, {"text": text}, timeout_seconds=20)
            took = (time.perf_counter() - started) * 1000
            ok = reply["payload"] == {"echo": text, "by": responder_reg["name"]}
            failures += not ok
            print(f"  request {round_number}: {reply['payload']} in {took:.0f} ms {'ok' if ok else 'WRONG'}")

        correlation_id = asker.request_async(responder_id, {"text": "an asynchronous hello"})
        reply = asker.wait_reply(correlation_id, timeout=25)
        ok = reply["payload"] == {"echo": "an asynchronous hello", "by": responder_reg["name"]}
        failures += not ok
        print(f"  async request {correlation_id}: {reply['payload']} {'ok' if ok else 'WRONG'}")

        stop.set()
        serving.join(timeout=15)
        for beat in beats:
            beat.stop()
        responder.close()
        asker.close()
        print("conversation done" if not failures else f"{failures} replies were wrong")
        return 0 if not failures else 1
    finally:
        for agent_id in registered:
            admin.delete_agent(agent_id)
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
