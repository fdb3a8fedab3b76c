"""A large payload through the bus's streams, interrupted and resumed both ways, with SHA-256 checked at every end.

An admin registers a producer agent; the agent uploads a generated payload (200 MiB by default) with a progress
bar, stops on purpose at about 60 %, resumes (only the missing parts are sent), then downloads it, stops half-way,
resumes from the bytes on disk, and compares the SHA-256 of the source, of the context the bus made, and of the
downloaded file. It prints each phase's time and the process's peak memory (it must stream: the peak stays far
below the payload's size). The context and the agent are removed at the end.

    python examples/bus_stream_demo.py --admin-token "$TOKEN"
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

try:
    import crewhouse_bus  # noqa: F401
except ImportError:  # run from a checkout without `pip install ./sdk/python`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sdk" / "python" / "src"))

from crewhouse_bus import BusClient

MIB = 1024 * 1024


class Interruption(Exception):
    """Raised from the progress callback: the transfer stops as a dropped process would."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-url", default="http://localhost:8000/", help="the bus's HTTP API")
    parser.add_argument("--admin-token", default=os.environ.get("CREWHOUSE_ADMIN_TOKEN"),
                        help="a tenant admin's bearer token (default: $CREWHOUSE_ADMIN_TOKEN)")
    parser.add_argument("--size-mib", type=int, default=200, help="payload size")
    parser.add_argument("--part-mib", type=int, default=8, help="upload part size (at least 5)")
    parser.add_argument("--upload-stop", type=float, default=0.6, help="fraction at which the upload is cut")
    parser.add_argument("--download-stop", type=float, default=0.5, help="fraction at which the download is cut")
    parser.add_argument("--workdir", type=Path, default=None, help="where the payload files go (default: a temp dir)")
    args = parser.parse_args(argv)
    if not args.admin_token:
        parser.error("give --admin-token or set CREWHOUSE_ADMIN_TOKEN (make dev prints one)")
    return args


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(path: Path, size: int) -> str:
    """Random bytes written a MiB at a time, hashed as they are written."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        left = size
        while left:
            chunk = os.urandom(min(MIB, left))
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def progress_bar(label: str, *, stop_at: float | None = None) -> Callable[[int, int], None]:
    started = time.perf_counter()
    first: list[int] = []
    drawn = [-1]

    def show(done: int, total: int) -> None:
        if not first:
            first.append(done)
        fraction = done / total if total else 1.0
        stopping = stop_at is not None and fraction >= stop_at
        if int(fraction * 100) != drawn[0] or stopping:  # one redraw a percent, not one a MiB
            drawn[0] = int(fraction * 100)
            rate = (done - first[0]) / MIB / max(time.perf_counter() - started, 1e-6)
            filled = int(fraction * 30)
            sys.stderr.write(f"\r{label:9} [{'#' * filled}{'.' * (30 - filled)}] {fraction:6.1%} "
                             f"{done / MIB:7.1f}/{total / MIB:.1f} MiB {rate:6.1f} MiB/s")
            sys.stderr.flush()
        if fraction >= 1.0:
            sys.stderr.write("\n")
        if stopping:
            sys.stderr.write("  <- interrupted on purpose\n")
            raise Interruption(f"{label} stopped at {fraction:.0%}")

    return show


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"peak memory at start (interpreter and imports): {peak_rss_mib():.1f} MiB")
    size = args.size_mib * MIB
    run_id = uuid.uuid4().hex[:8]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bus-stream-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    source, dest = workdir / f"payload-{run_id}.bin", workdir / f"downloaded-{run_id}.bin"
    timings: dict[str, float] = {}

    admin = BusClient.builder().base_url(args.api_url).bearer_token(args.admin_token).build()
    registered = admin.register_agent(f"stream-demo-{run_id}", role="agent-full", capabilities=["stream-demo"])
    context_id: str | None = None
    try:
        credentials = registered.get("credentials")
        if not credentials:
            raise SystemExit("the agent was registered without credentials")
        agent = (BusClient.builder().base_url(args.api_url)
                 .client_credentials(credentials["client_id"], credentials["client_secret"]).timeout(60).build())

        started = time.perf_counter()
        source_sha = generate(source, size)
        timings["generate"] = time.perf_counter() - started
        peaks = {"generate": peak_rss_mib()}
        print(f"payload {args.size_mib} MiB, SHA-256 {source_sha}")

        started = time.perf_counter()
        upload = agent.start_upload(source, name=f"stream-demo-{run_id}", part_size=args.part_mib * MIB,
                                    content_type="application/octet-stream")
        parts = len(upload.plan.parts)
        try:
            upload.send(progress=progress_bar("upload", stop_at=args.upload_stop))
            raise SystemExit("the upload was meant to be interrupted")
        except Interruption:
            pass
        resumed = agent.resume_upload(upload.stream_id, source)
        missing = len(resumed.missing_parts())
        print(f"resuming stream {upload.stream_id}: {parts - missing} of {parts} parts already held, "
              f"{missing} to send")
        context = resumed.send(progress=progress_bar("upload"))
        timings["upload"] = time.perf_counter() - started
        peaks["upload"] = peak_rss_mib()
        context_id = context["id"]
        context_sha = context.get("sha256", "")
        print(f"context {context_id} version {context.get('version')}, SHA-256 {context_sha}")

        started = time.perf_counter()
        try:
            agent.download(context_id, dest, progress=progress_bar("download", stop_at=args.download_stop))
            raise SystemExit("the download was meant to be interrupted")
        except Interruption:
            pass
        result = agent.download(context_id, dest, progress=progress_bar("download"))
        timings["download"] = time.perf_counter() - started
        peaks["download"] = peak_rss_mib()
        print(f"download resumed from {result.resumed_from / MIB:.1f} MiB, SHA-256 {result.sha256}")
        downloaded_sha = sha256_of(dest)

        same = len({source_sha, context_sha, result.sha256, downloaded_sha}) == 1
        print(f"SHA-256 source == context == download == file on disk: {same}")
        for phase, seconds in timings.items():
            rate = f" ({args.size_mib / seconds:.1f} MiB/s)" if phase != "generate" else ""
            print(f"  {phase:9} {seconds:7.2f} s{rate}, peak memory so far {peaks[phase]:.1f} MiB")
        print(f"  peak memory (max RSS) of this process: {peak_rss_mib():.1f} MiB for a {args.size_mib} MiB payload")
        agent.close()
        return 0 if same else 1
    finally:
        if context_id is not None:
            admin.delete_context(context_id)
        admin.delete_agent(registered["id"])
        admin.close()
        for path in (source, dest, dest.with_name(dest.name + ".part")):
            path.unlink(missing_ok=True)
        if args.workdir is None:
            workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
