"""Local data that survives a restart: the data plane of the embedded cloud, snapshotted to a directory.

What is kept: the items of the stack's DynamoDB tables, the objects (every version, with their tags) of its S3
buckets, the users (passwords, attributes, group memberships) of its Cognito user pools and the schedules of its
EventBridge Scheduler groups (task reminders, job schedules). Each is saved under its resource's logical id and,
on the next start, put back into the resource of that logical id in the stack just deployed, straight into
moto's models: no stream record, S3 notification or Cognito trigger fires for it, because the data was already
processed when it was first written. A schedule's target is rewritten to name the new deploy's functions, roles
and queues. Everything else (the stack itself, messages in queues, executions, tokens) starts afresh with each
deploy. README.md says why.

The snapshot file is two pickles: a header of plain values (format, moto version), then the state. An S3
object's body is not in it but in ``objects/``, one file per distinct body named by its ETag and size and
written once, so that a snapshot costs a large file's metadata, not its bytes. A snapshot whose header does not
match this process, or that cannot be read at all, is set aside and the cloud starts empty: the state holds
moto's own classes, which another moto may not read back faithfully.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import os
import pickle
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

from crewhouse.local import dynamodb_writes
from crewhouse.local.deploy import ACCOUNT_ID, DeployedStack

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "state.pickle"
OBJECTS_DIR = "objects"
SNAPSHOT_FORMAT = 1
TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"
USER_POOL = "AWS::Cognito::UserPool"
SCHEDULE_GROUP = "AWS::Scheduler::ScheduleGroup"
SECRET = "AWS::SecretsManager::Secret"
KINDS = {"tables": TABLE, "buckets": BUCKET, "user_pools": USER_POOL, "schedule_groups": SCHEDULE_GROUP}
# The template's generated keys (pagination cursors, the keyed hash of personal tokens and agents' client
# secrets): a new deploy generates new ones, which would turn every kept token and credential into a stranger.
# Optional in a snapshot, so that one written before they were kept still restores.
OPTIONAL_KINDS = {"secrets": SECRET}


@dataclass(frozen=True)
class RestoreSummary:
    items: int
    objects: int
    users: int
    schedules: int
    saved_at: str

    def __str__(self) -> str:
        return (f"{self.users} users, {self.items} items, {self.objects} objects, {self.schedules} schedules "
                f"(saved {self.saved_at})")


def moto_version() -> str:
    import moto

    return str(moto.__version__)


def _physical_ids(stack: DeployedStack, resource_type: str) -> dict[str, str]:
    return {logical_id: stack.resources[logical_id] for logical_id, resource in stack.template["Resources"].items()
            if resource["Type"] == resource_type and logical_id in stack.resources}


def _backends(region: str) -> tuple[Any, Any, Any, Any]:
    from moto.cognitoidp.models import cognitoidp_backends
    from moto.dynamodb.models import dynamodb_backends
    from moto.s3.models import s3_backends
    from moto.scheduler.models import scheduler_backends

    return (dynamodb_backends[ACCOUNT_ID][region], s3_backends[ACCOUNT_ID]["aws"],
            cognitoidp_backends[ACCOUNT_ID][region], scheduler_backends[ACCOUNT_ID][region])


# Capture ------------------------------------------------------------------------------------------------------

class _SnapshotPickler(pickle.Pickler):
    """Pickles each S3 object (moto's FakeKey, wherever it is referenced) as its metadata and the name of its
    body's file under ``objects/``, writing that file when it is not there yet."""

    def __init__(self, file: io.BytesIO, objects_dir: Path) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.objects_dir = objects_dir
        self.bodies: set[str] = set()

    def persistent_id(self, obj: Any) -> Any:
        from moto.s3.models import FakeKey

        if not isinstance(obj, FakeKey):
            return None
        body = f"{obj.etag.strip(chr(34))}-{obj.size}"
        if body not in self.bodies and not (self.objects_dir / body).exists():
            try:
                content = obj.value
            except ValueError:  # moto closed the buffer: deleted meanwhile, gone from the next snapshot
                body, content = "", b""
            if body:
                _write_atomically(self.objects_dir / body, content)
        if body:
            self.bodies.add(body)
        fields = {name: value for name, value in vars(obj).items() if name not in ("_value_buffer", "lock")}
        fields["multipart"] = None  # a completed upload's parts: their bytes again, for GetObject's partNumber
        return ("s3-object", id(obj), fields, body)


class _SnapshotUnpickler(pickle.Unpickler):
    def __init__(self, file: BinaryIO, objects_dir: Path) -> None:
        super().__init__(file)
        self.objects_dir = objects_dir
        self._objects: dict[int, Any] = {}  # one object referenced twice (a delete marker's key) stays one

    def persistent_load(self, pid: Any) -> Any:
        from moto.s3.models import FakeKey

        kind, identity, fields, body = pid
        if kind != "s3-object":
            raise pickle.UnpicklingError(f"unknown persistent id {kind!r}")
        if identity not in self._objects:
            key = cast(FakeKey, FakeKey.__new__(FakeKey))  # moto's BaseModel.__new__ tracks the instance
            key.__setstate__({**fields, "value": (self.objects_dir / body).read_bytes() if body else b""})
            self._objects[identity] = key
        return self._objects[identity]


@dataclass(frozen=True)
class Capture:
    body: bytes  # the snapshot's state pickle
    object_bodies: frozenset[str]  # the files of objects/ it refers to


def capture(stack: DeployedStack, region: str, directory: Path) -> Capture:
    """The stack's data plane as a snapshot's state (new object bodies are written to ``directory/objects``
    meanwhile). May raise RuntimeError while requests change a bucket or a user pool: try again later."""
    dynamodb, s3, cognito, scheduler = _backends(region)
    state: dict[str, Any] = {"buckets": {}, "user_pools": {}, "schedule_groups": {},
                             "physical_ids": dict(stack.resources)}
    for logical_id, name in _physical_ids(stack, BUCKET).items():
        bucket = s3.buckets.get(name)
        if bucket is None:
            continue
        versions = {key: list(keys) for key, keys in bucket.keys.lists()}
        tags = {(key.name, key.version_id): s3.tagger.get_tag_dict_for_resource(key.arn)
                for keys in versions.values() for key in keys if hasattr(key, "arn")}
        state["buckets"][logical_id] = {"versions": versions, "tags": {k: v for k, v in tags.items() if v}}
    for logical_id, pool_id in _physical_ids(stack, USER_POOL).items():
        pool = cognito.user_pools.get(pool_id)
        if pool is not None:
            state["user_pools"][logical_id] = _pool_users(pool)
    for logical_id, name in _physical_ids(stack, SCHEDULE_GROUP).items():
        group = scheduler.schedule_groups.get(name)
        if group is not None:
            state["schedule_groups"][logical_id] = list(group.schedules.values())
    state["secrets"] = _secret_values(stack, region)
    # Writes to tables wait while they are pickled, so a transaction is in the snapshot whole or not at all.
    with dynamodb_writes.serialized_writes():
        tables = {logical_id: (_key_schema(dynamodb.tables[name]), dynamodb.tables[name].items)
                  for logical_id, name in _physical_ids(stack, TABLE).items() if name in dynamodb.tables}
        state["tables"] = pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL)
    return pickle_state(state, directory)


def _secrets_backend(region: str) -> Any:
    from moto.secretsmanager.models import secretsmanager_backends

    return secretsmanager_backends[ACCOUNT_ID][region]


def _secret_values(stack: DeployedStack, region: str) -> dict[str, str]:
    backend = _secrets_backend(region)
    values = {}
    for logical_id, arn in _physical_ids(stack, SECRET).items():
        try:
            values[logical_id] = str(backend.get_secret_value(arn, "", "AWSCURRENT")["SecretString"])
        except Exception:  # a secret that has no string value: nothing to keep
            continue
    return values


def pickle_state(state: dict[str, Any], directory: Path) -> Capture:
    """``state`` pickled, the bodies of the S3 objects in it written to ``directory/objects`` when new."""
    objects_dir = directory / OBJECTS_DIR
    objects_dir.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    pickler = _SnapshotPickler(buffer, objects_dir)
    pickler.dump(state)
    return Capture(body=buffer.getvalue(), object_bodies=frozenset(pickler.bodies))


def _key_schema(table: Any) -> tuple[str, str | None]:
    return table.hash_key_attr, table.range_key_attr


def _pool_users(pool: Any) -> dict[str, Any]:
    """A pool's users without their links to the pool's group objects (the deploy makes new ones)."""
    users = []
    for user in list(pool.users.values()):
        detached = copy.copy(user)
        detached.groups = set()
        users.append(detached)
    memberships = {name: sorted(user.username for user in list(group.users))
                   for name, group in list(pool.groups.items())}
    return {"users": users, "groups": memberships}


# Restore ------------------------------------------------------------------------------------------------------

def restore(stack: DeployedStack, region: str, state: dict[str, Any]) -> tuple[int, int, int, int]:
    """Put a snapshot's data into the stack just deployed; returns (items, objects, users, schedules) restored."""
    dynamodb, s3, cognito, scheduler = _backends(region)
    items = objects = users = schedules = 0
    for logical_id, name in _physical_ids(stack, TABLE).items():
        if logical_id not in state["tables"]:
            continue
        key_schema, saved = state["tables"][logical_id]
        table = dynamodb.tables[name]
        if key_schema != _key_schema(table):  # the items are stored by their keys: they no longer fit
            log.warning("local state: table %s has new keys %s (saved under %s); its saved items are dropped",
                        logical_id, _key_schema(table), key_schema)
            continue
        table.items = saved
        items += sum(len(value) if table.has_range_key else 1 for value in saved.values())
    for logical_id, name in _physical_ids(stack, BUCKET).items():
        saved = state["buckets"].get(logical_id)
        if saved:
            objects += _restore_bucket(s3, s3.buckets[name], saved)
    for logical_id, pool_id in _physical_ids(stack, USER_POOL).items():
        saved = state["user_pools"].get(logical_id)
        if saved:
            users += _restore_users(cognito.user_pools[pool_id], saved)
    renamed = _renamed_resources(state["physical_ids"], stack)
    for logical_id, name in _physical_ids(stack, SCHEDULE_GROUP).items():
        for schedule in state["schedule_groups"].get(logical_id, []):
            schedule.target = json.loads(_renamed(json.dumps(schedule.target), renamed))
            scheduler.schedule_groups[name].add_schedule(schedule)
            schedules += 1
    backend = _secrets_backend(region)
    for logical_id, arn in _physical_ids(stack, SECRET).items():
        value = state.get("secrets", {}).get(logical_id)
        if value is not None:
            backend.put_secret_value(arn, value, "", "", ["AWSCURRENT"])
    _log_dropped(state, stack)
    return items, objects, users, schedules


def clear(stack: DeployedStack, region: str) -> None:
    """Empty the stack's data plane again (after a restore that failed half-way)."""
    dynamodb, s3, cognito, scheduler = _backends(region)
    for name in _physical_ids(stack, TABLE).values():
        dynamodb.tables[name].items = type(dynamodb.tables[name].items)(dict)
    for name in _physical_ids(stack, BUCKET).values():
        for key in list(s3.buckets[name].keys):
            s3.buckets[name].keys.pop(key)
    for pool_id in _physical_ids(stack, USER_POOL).values():
        cognito.user_pools[pool_id].users.clear()
        for group in cognito.user_pools[pool_id].groups.values():
            group.users.clear()
    for name in _physical_ids(stack, SCHEDULE_GROUP).values():
        scheduler.schedule_groups[name].schedules.clear()


def _renamed_resources(saved_ids: dict[str, str], stack: DeployedStack) -> dict[str, str]:
    """Old name -> new name of the resources the deploy named anew (``<stack>-<logical id>-<random>``), the name
    being the end of the physical id (a queue's is its URL, an ARN names it too). Only names that contain their
    logical id: a short generated id could also occur inside unrelated text."""
    def name(physical_id: str) -> str:
        return re.split(r"[/:]", physical_id)[-1]

    return {name(old): name(stack.resources[logical_id]) for logical_id, old in saved_ids.items()
            if logical_id in stack.resources and name(old) != name(stack.resources[logical_id])
            and logical_id.lower() in name(old).lower()}


def _renamed(text: str, renamed: dict[str, str]) -> str:
    for old, new in renamed.items():
        text = text.replace(old, new)
    return text


def _restore_bucket(s3: Any, bucket: Any, saved: dict[str, Any]) -> int:
    # The deploy gives the bucket a new random name, and object tags are kept by ARN (which names the bucket).
    for key, versions in saved["versions"].items():
        for version in versions:
            if hasattr(version, "bucket_name"):
                version.bucket_name = bucket.name
        bucket.keys.setlist(key, versions)
    for (key_name, version_id), tags in saved["tags"].items():
        key = next((k for k in bucket.keys.getlist(key_name, []) if k.version_id == version_id), None)
        if key is not None:
            s3.tagger.tag_resource(key.arn, s3.tagger.convert_dict_to_tags_input(tags))
    return len(saved["versions"])


def _restore_users(pool: Any, saved: dict[str, Any]) -> int:
    for user in saved["users"]:
        user.user_pool_id = pool.id
        pool.users[user.username] = user
    for group_name, usernames in saved["groups"].items():
        group = pool.groups.get(group_name)
        if group is None:
            log.warning("local state: group %s is no longer in the stack; its memberships are dropped", group_name)
            continue
        for username in usernames:
            if username in pool.users:
                group.users.add(pool.users[username])
                pool.users[username].groups.add(group)
    return len(saved["users"])


def _log_dropped(state: dict[str, Any], stack: DeployedStack) -> None:
    for kind, resource_type in KINDS.items():
        gone = set(state[kind]) - set(_physical_ids(stack, resource_type))
        if gone:
            log.warning("local state: %s no longer in the stack, their saved data is dropped: %s",
                        kind, ", ".join(sorted(gone)))


# Files --------------------------------------------------------------------------------------------------------

def _write_atomically(path: Path, *parts: bytes) -> None:
    """A reader (or a restart after a kill) finds the old file or the new one, never half of one."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            for part in parts:
                file.write(part)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_snapshot(directory: Path, captured: Capture) -> None:
    """The header and the state to ``directory/state.pickle``; then the object bodies it no longer refers to
    go (only now: until the new file is in place, the old one may be what a restart reads)."""
    directory.mkdir(parents=True, exist_ok=True)
    header = {"format": SNAPSHOT_FORMAT, "moto": moto_version(), "saved_at": datetime.now(UTC).isoformat()}
    _write_atomically(directory / SNAPSHOT_FILE, pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL),
                      captured.body)
    objects_dir = directory / OBJECTS_DIR
    if objects_dir.is_dir():
        for body in objects_dir.iterdir():
            if body.name not in captured.object_bodies and not body.name.startswith("."):
                body.unlink(missing_ok=True)


def read_snapshot(directory: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(header, state)`` of the saved snapshot; None when there is none or it cannot be used (then it is
    renamed ``state.pickle.unreadable``, so that the next snapshot does not overwrite it, and logged)."""
    path = directory / SNAPSHOT_FILE
    if not path.exists():
        return None
    try:
        with path.open("rb") as file:
            header = pickle.load(file)
            if header.get("format") != SNAPSHOT_FORMAT or header.get("moto") != moto_version():
                raise ValueError(f"written by moto {header.get('moto')} (format {header.get('format')}), "
                                 f"this is moto {moto_version()} (format {SNAPSHOT_FORMAT})")
            state = _SnapshotUnpickler(file, directory / OBJECTS_DIR).load()
        if not isinstance(state, dict) or not {*KINDS, "physical_ids"} <= set(state) <= {
                *KINDS, *OPTIONAL_KINDS, "physical_ids"}:
            raise ValueError("not a Crewhouse local snapshot")
        state["tables"] = pickle.loads(state["tables"])
    except Exception as error:  # any unreadable file: start empty rather than not at all
        log.warning("local state: %s cannot be restored (%s: %s); starting empty, the file is kept as %s",
                    path, type(error).__name__, error, set_aside(directory))
        return None
    return header, state


def set_aside(directory: Path) -> Path:
    """Rename the snapshot (and its object bodies, which the next snapshot would delete) out of the way."""
    aside = directory / f"{SNAPSHOT_FILE}.unreadable"
    os.replace(directory / SNAPSHOT_FILE, aside)
    if (directory / OBJECTS_DIR).is_dir():
        shutil.rmtree(directory / f"{OBJECTS_DIR}.unreadable", ignore_errors=True)
        os.replace(directory / OBJECTS_DIR, directory / f"{OBJECTS_DIR}.unreadable")
    return aside


class DirectoryInUse(RuntimeError):
    pass


def claim(directory: Path) -> BinaryIO:
    """Hold ``directory`` for this process until the returned file is closed or the process ends (even by
    ``kill -9``): two clouds saving into one directory would delete each other's object bodies."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = (directory / ".lock").open("wb")
    try:
        import fcntl
    except ImportError:  # not POSIX: unguarded
        return lock
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise DirectoryInUse(f"{directory} is in use by another crewhouse local (give it --state-dir)") from None
    return lock


def discard(directory: Path) -> None:
    """Delete what this module keeps in ``directory`` (only that: the directory is the user's choice)."""
    for name in (SNAPSHOT_FILE, f"{SNAPSHOT_FILE}.unreadable"):
        (directory / name).unlink(missing_ok=True)
    for name in (OBJECTS_DIR, f"{OBJECTS_DIR}.unreadable"):
        shutil.rmtree(directory / name, ignore_errors=True)
    if directory.is_dir():
        for leftover in directory.glob(f".{SNAPSHOT_FILE}.*"):  # the temporary file of a killed write
            leftover.unlink(missing_ok=True)


# What changed -------------------------------------------------------------------------------------------------

_READ_ACTIONS = ("Get", "BatchGet", "Query", "Scan", "Describe", "List", "AdminGet", "AdminList")
_SIGNED_SERVICE = re.compile(r"(?:/|%2F)([a-z0-9-]+)(?:/|%2F)aws4_request", re.IGNORECASE)


def may_change_saved_state(environ: dict[str, Any]) -> bool:
    """Whether a request to moto may change what a snapshot holds (a cheap guess that errs towards yes)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        service, _, action = target.partition(".")
        if service.startswith("DynamoDB_") or service == "AWSCognitoIdentityProviderService":
            return not action.startswith(_READ_ACTIONS)
        return False  # queues, streams, state machines, events: not saved
    if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD", "OPTIONS"):
        return False
    # S3 and Scheduler are the saved services without a target header; a POST without a signature is a
    # browser's upload form.
    signed = _SIGNED_SERVICE.search(environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", ""))
    return signed is None or signed.group(1) in ("s3", "scheduler")


class ChangeWatcher:
    """WSGI middleware in front of moto's server: notes each answered request that may have changed saved state.
    Noted once moto has answered, so that a snapshot taken after the note has the change."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self._changed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        response = self.app(environ, start_response)
        if may_change_saved_state(environ):
            self._changed.set()
        return response

    def note_change(self) -> None:
        self._changed.set()

    def take_change(self) -> bool:
        changed = self._changed.is_set()
        self._changed.clear()
        return changed


def watch_requests(moto_server: Any) -> ChangeWatcher:
    """Put a ChangeWatcher in front of a started ThreadedMotoServer's WSGI app."""
    wsgi_server = moto_server._server  # werkzeug's server; its .app is what each request is handed to
    watcher = ChangeWatcher(wsgi_server.app)
    wsgi_server.app = watcher
    return watcher


# The loop -----------------------------------------------------------------------------------------------------

class LocalState:
    """Restores the saved state into a deployed stack, then snapshots it every ``interval`` seconds when a request
    may have changed it (and once more after that, for work that follows a request, such as a malware scan's
    tag), and at :meth:`stop`. A snapshot equal to the last one written is not written again."""

    def __init__(self, directory: Path, stack: DeployedStack, region: str, watcher: ChangeWatcher,
                 interval: float = 2.0) -> None:
        self.directory = directory
        self.stack = stack
        self.region = region
        self.watcher = watcher
        self.interval = interval
        self._written_digest: bytes | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.snapshots_written = 0
        self._failing = False  # a failure is logged once, not at every tick

    def restore(self) -> RestoreSummary | None:
        saved = read_snapshot(self.directory)
        if saved is None:
            return None
        header, state = saved
        try:
            items, objects, users, schedules = restore(self.stack, self.region, state)
        except Exception:
            clear(self.stack, self.region)
            log.exception("local state: restoring %s failed; starting empty, the file is kept as %s",
                          self.directory / SNAPSHOT_FILE, set_aside(self.directory))
            return None
        summary = RestoreSummary(items=items, objects=objects, users=users, schedules=schedules,
                                 saved_at=str(header.get("saved_at")))
        log.info("local state restored from %s: %s", self.directory, summary)
        return summary

    def start(self) -> LocalState:
        self.watcher.note_change()  # the first snapshot records this deploy's (restored or empty) state
        self._thread = threading.Thread(target=self._run, name="local-state-snapshots", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        follow_up = False
        while not self._stop.wait(self.interval):
            changed = self.watcher.take_change()
            if changed or follow_up:
                saved = self.snapshot()
                follow_up = changed and saved
                if not saved:
                    self.watcher.note_change()  # try again at the next tick

    def snapshot(self) -> bool:
        """Write a snapshot if the state differs from the last one written; False if it could not be taken."""
        try:
            captured = capture(self.stack, self.region, self.directory)
            digest = hashlib.blake2b(captured.body, digest_size=16).digest()
            if digest != self._written_digest:
                write_snapshot(self.directory, captured)
                self._written_digest = digest
                self.snapshots_written += 1
        except RuntimeError as error:  # a dict changed size while being copied: a request was writing
            log.debug("local state: snapshot deferred (%s)", error)
            return False
        except Exception:  # e.g. a full disk: keep serving, keep trying
            if not self._failing:
                log.exception("local state: a snapshot failed; the last one written stays, retrying")
            self._failing = True
            return False
        if self._failing:
            log.info("local state: snapshots are written again")
        self._failing = False
        return True

    def stop(self) -> None:
        """Stop the loop and write the final snapshot (call once requests have stopped)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for _ in range(5):
            if self.snapshot():
                return
        log.error("local state: the final snapshot could not be taken; the last periodic one stays")
