"""The ``crewhouse`` command: run Crewhouse locally on its embedded AWS cloud, and developer tools."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crewhouse.local.cloud import LocalCloudConfig

ROOT = Path(__file__).resolve().parents[3]
LOCAL_STATE_DIR = ROOT / ".crewhouse-local"


def local_config(args: argparse.Namespace) -> LocalCloudConfig:
    """The embedded cloud's configuration for ``crewhouse local``'s arguments."""
    from crewhouse.local.cloud import LocalCloudConfig

    environment = {}
    # Local only: a browser test uploads a few MiB in parts instead of 100 MiB (S3's parts are 5 MiB at least).
    if args.multipart_threshold_mib is not None:
        environment["MULTIPART_THRESHOLD_BYTES"] = str(args.multipart_threshold_mib << 20)
    if args.multipart_part_mib is not None:
        environment["MULTIPART_PART_BYTES"] = str(args.multipart_part_mib << 20)
    return LocalCloudConfig(host=args.host, aws_port=args.aws_port, api_port=args.port, ws_port=args.port + 1,
                            state_dir=Path(args.state_dir), fresh_state=args.fresh, function_environment=environment)


def _local(args: argparse.Namespace) -> int:
    from crewhouse.local.cloud import EmbeddedCloud
    from crewhouse.local.persistence import DirectoryInUse
    from crewhouse.local.seed import seed_demo_user

    started = time.monotonic()
    print("Starting the embedded AWS cloud and deploying the Crewhouse stack…", flush=True)
    try:
        cloud = EmbeddedCloud(local_config(args)).start()
    except DirectoryInUse as error:
        print(error, file=sys.stderr)
        return 1
    assert cloud.stack is not None
    demo = seed_demo_user(cloud.stack)
    state = f"restored {cloud.restored}" if cloud.restored else "empty (new)"
    if not cloud.restored and not args.empty:
        from crewhouse.local.sample_data import load_sample_data

        state = f"new, with sample data for the demo user ({load_sample_data(cloud.api_url, demo.id_token)})"
    ready_in = time.monotonic() - started
    print(f"""
Crewhouse is running locally (ready in {ready_in:.1f} s).

  API             {cloud.api_url}
  API docs        {cloud.api_url}/docs
  Web console     {cloud.api_url}/console/   (sign in as the demo user below; `make console` builds it)
  Live updates    {cloud.websocket_url}?token=<ID token>   (WebSocket; subscribe to job:<id> …)
  AWS endpoint    {cloud.aws_endpoint}   (AWS_ENDPOINT_URL; any access key works)
  User pool       {cloud.stack.outputs['UserPoolId']}
  Mobile client   {cloud.stack.outputs['MobileClientId']}
  Token endpoint  {cloud.api_url}/oauth2/token   (client credentials of MachineClient)
  Outbox          {cloud.api_url}/_local/outbox   (e-mail and push that would have been sent; local only)
  Local data      {args.state_dir}   {state}
                  kept across restarts; --fresh starts anew, --empty without sample data

  Demo user       {demo.email}
  Password        {demo.password}

Try it:
  curl {cloud.api_url}/health
  curl -H 'Authorization: Bearer {demo.id_token}' {cloud.api_url}/me

Authorization header (valid for one hour):
Authorization: Bearer {demo.id_token}

Press Ctrl-C to stop.""", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    print("\nStopping…", flush=True)
    cloud.stop()
    return 0


def _invoke(args: argparse.Namespace) -> int:
    """Invoke one function of a fresh embedded cloud with a sample event."""
    from crewhouse.local.cloud import EmbeddedCloud, LocalCloudConfig
    from crewhouse.local.endpoint import local_client

    event: Any = json.loads(Path(args.event).read_text())
    _function_logs_to_stderr()  # as `sam local invoke`: stdout is the response alone, whatever else runs meanwhile
    config = LocalCloudConfig(aws_port=args.aws_port, api_port=args.port, background_loops=True)
    with EmbeddedCloud(config) as cloud:
        response = local_client("lambda").invoke(FunctionName=cloud.function_name(args.function),
                                                 Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        print(json.dumps(payload, indent=2))
        return 1 if response.get("FunctionError") else 0


def _function_logs_to_stderr() -> None:
    import sys

    from crewhouse.core.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)


def _openapi(args: argparse.Namespace) -> int:
    from crewhouse.openapi import write_openapi

    write_openapi(Path(args.out))
    print(f"wrote {args.out}")
    return 0


def _synth(args: argparse.Namespace) -> int:
    from crewhouse.local.synth import synthesize

    print(synthesize(force=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crewhouse", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    local = commands.add_parser("local", help="run Crewhouse on the embedded AWS cloud")
    local.add_argument("--host", default="127.0.0.1")
    local.add_argument("--port", type=int, default=8000, help="HTTP API port")
    local.add_argument("--aws-port", type=int, default=4566, help="embedded AWS endpoint port")
    local.add_argument("--state-dir", default=str(LOCAL_STATE_DIR),
                       help="where users, items and objects are kept across restarts")
    local.add_argument("--fresh", action="store_true", help="delete the kept state and start anew")
    local.add_argument("--empty", action="store_true", help="no sample data on a first start")
    local.add_argument("--multipart-threshold-mib", type=int, metavar="MIB",
                       help="files above this size upload in parts (default: the files context's, 100 MiB)")
    local.add_argument("--multipart-part-mib", type=int, metavar="MIB",
                       help="the part size of multipart uploads (default: 16 MiB; S3 takes 5 MiB at least)")
    local.set_defaults(run=_local)

    invoke = commands.add_parser("invoke", help="invoke one function with an event file")
    invoke.add_argument("function", help="logical id of the function, or its prefix (e.g. PlatformPlatform)")
    invoke.add_argument("event", help="path to an event JSON file (see events/)")
    invoke.add_argument("--port", type=int, default=8010)
    invoke.add_argument("--aws-port", type=int, default=4576)
    invoke.set_defaults(run=_invoke)

    openapi = commands.add_parser("openapi", help="write the merged OpenAPI document")
    openapi.add_argument("--out", default=str(ROOT / "docs" / "openapi.json"))
    openapi.set_defaults(run=_openapi)

    synth = commands.add_parser("synth", help="synthesize the CDK app for the embedded cloud")
    synth.set_defaults(run=_synth)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
