"""What one operation costs in AWS terms, measured on the embedded cloud (test code only).

``Meter`` patches ``BaseClient._make_api_call`` while it is active and sorts every AWS call made in this process
by who signed it: the functions (their role's STS keys, ``ASIA…``) and Step Functions' service integrations
(moto's interpreter signs with ``ak``) are what an account pays for; everything else is the emulator standing in
for AWS's own machinery (the gateway invoking functions, pollers, the scheduler) and is only counted apart,
except the SQS event source mapping's receives that returned messages and its deletes, which AWS bills to the
account (``sqs:… (poller)``).

For the billable calls it works out what AWS bills for:

- DynamoDB capacity by AWS's rules, from item sizes (moto's ConsumedCapacity is not real): reads in 4 KB units
  (eventually consistent half, transactional double), writes in 1 KB units of the larger of the old and new
  item (transactional double), plus the writes to every GSI whose keys the old or new image has (two when the
  index key changed). The images come from moto's in-process backend, read around the call; the request the
  function makes is never changed. Query and Scan charge the summed size of the items (or index entries) their
  key condition read, rounded up to 4 KB once per request: the meter asks the emulator the same question without
  filter, projection or Select, with ``Limit`` = the call's ``ScannedCount``.
- SQS and SNS requests in 64 KiB units of payload; EventBridge entries in 64 KiB units; S3 requests by tier.
- Step Functions state transitions, from each started execution's history once it has ended.
- Lambda invocations (all of them: API, authorizer, stream and queue workers, state machine tasks) with their
  measured in-process duration and the function's configured memory.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.client import BaseClient

from tests.bench.dynamodb_work import item_size

ACCOUNT = "123456789012"  # moto's default account: the embedded cloud's
READ_UNIT, WRITE_UNIT, PAYLOAD_UNIT = 4096, 1024, 65536
STATES_ACCESS_KEY = "ak"  # moto's Step Functions interpreter signs its service integrations' calls with it

Item = dict[str, Any]


@dataclass
class Invocation:
    function: str
    memory_mb: int
    ms: float


@dataclass
class Reading:
    """One metered operation: billable requests by ``service:Operation`` and what AWS bills them in."""

    requests: Counter[str] = field(default_factory=Counter)
    read_units: float = 0.0
    write_units: float = 0.0
    payload_units: Counter[str] = field(default_factory=Counter)  # sqs/sns/events billed 64 KiB units
    transitions: int = 0
    invocations: list[Invocation] = field(default_factory=list)
    emulator_invokes: int = 0  # lambda:Invoke calls made by the emulator (gateway, pollers, scheduler)
    api_requests: int = 0  # HTTP API requests (counted by the caller's client)
    executions: list[str] = field(default_factory=list)
    calls: list[tuple[str, float, float]] = field(default_factory=list)  # ("… <- caller", RCU, WCU) in order
    running: int = 0  # invocations begun inside the reading and not yet ended

    @property
    def lambda_ms(self) -> float:
        return sum(i.ms for i in self.invocations)

    def by_service(self) -> Counter[str]:
        services: Counter[str] = Counter()
        for name, count in self.requests.items():
            services[name.split(":", 1)[0]] += count
        return services


# --- DynamoDB capacity --------------------------------------------------------------------------------


def _backend_table(name: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT]["us-east-1"].get_table(name.rsplit("/", 1)[-1])


def _stored(table_name: str, key: Mapping[str, Any]) -> Item | None:
    """The item as moto holds it now (wire format), or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    table = _backend_table(table_name)
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    try:
        found = table.get_item(hash_key, range_key)
    except KeyError:
        return None
    return dict(found.to_json()["Attributes"]) if found is not None else None


def _key_of(table_name: str, item: Mapping[str, Any]) -> dict[str, Any]:
    table = _backend_table(table_name)
    names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    return {name: item[name] for name in names}


def _gsi_writes(table_name: str, old: Item | None, new: Item | None) -> int:
    """Index entries written or deleted by one item write, in 1 KB units (DescribeTable's GSIs)."""
    description = _backend_table(table_name).describe()["TableDescription"]
    table_keys = [k["AttributeName"] for k in description["KeySchema"]]
    units = 0
    for index in description.get("GlobalSecondaryIndexes", []):
        keys = [k["AttributeName"] for k in index["KeySchema"]]
        projection = index.get("Projection", {})
        before, after = _index_entry(old, keys, table_keys, projection), _index_entry(new, keys, table_keys, projection)
        if before is None and after is None:
            continue
        if before is not None and after is not None and any(before[k] != after[k] for k in keys):
            units += _write_units(item_size(before)) + _write_units(item_size(after))  # delete + put
        elif before == after:
            continue  # nothing projected into this index changed
        else:
            units += _write_units(item_size(after if after is not None else before or {}))
    return units


def _index_entry(image: Item | None, keys: list[str], table_keys: list[str],
                 projection: Mapping[str, Any]) -> Item | None:
    """What a GSI holds of an item: nothing without its keys, else the projected attributes."""
    if image is None or any(k not in image for k in keys):
        return None
    if projection.get("ProjectionType", "ALL") == "ALL":
        return image
    kept = {*keys, *table_keys, *projection.get("NonKeyAttributes", [])}
    return {name: value for name, value in image.items() if name in kept}


def _write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT))


def _read_units(size: int, consistent: bool) -> float:
    units = float(max(1, math.ceil(size / READ_UNIT)))
    return units if consistent else units / 2


_NAME = re.compile(r"#[A-Za-z0-9_]+")
_VALUE = re.compile(r":[A-Za-z0-9_]+")


def _examined_query(client: Any, operation: str, params: Mapping[str, Any], scanned: int) -> list[Item]:
    """The items (or index entries) a Query/Scan read before filtering, asked again of the emulator."""
    if scanned == 0:
        return []
    again = {k: v for k, v in params.items()
             if k not in ("FilterExpression", "ProjectionExpression", "Select", "ReturnConsumedCapacity",
                          "ExpressionAttributeNames", "ExpressionAttributeValues", "AttributesToGet")}
    again["Limit"] = scanned
    used = " ".join(str(params.get(k, "")) for k in ("KeyConditionExpression",))
    names = {k: v for k, v in (params.get("ExpressionAttributeNames") or {}).items() if k in _NAME.findall(used)}
    values = {k: v for k, v in (params.get("ExpressionAttributeValues") or {}).items() if k in _VALUE.findall(used)}
    if names:
        again["ExpressionAttributeNames"] = names
    if values:
        again["ExpressionAttributeValues"] = values
    answered = getattr(client, "query" if operation == "Query" else "scan")(**again)
    return list(answered.get("Items", []))


# --- the meter --------------------------------------------------------------------------------------------


class Meter:
    """Records the AWS work done in this process between :meth:`start` and :meth:`stop` (see the module)."""

    def __init__(self, aws_endpoint: str, region: str = "us-east-1") -> None:
        self.reading = Reading()
        self.active = False
        self._lock = threading.Lock()
        self._local = threading.local()  # set while the meter makes its own calls
        self._in_flight = 0
        self._endpoint, self._region = aws_endpoint, region
        self._own: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """The meter's own client (emulator keys: never counted as the functions')."""
        if service not in self._own:
            self._own[service] = boto3.client(service, endpoint_url=self._endpoint, region_name=self._region,
                                              aws_access_key_id="test", aws_secret_access_key="test")
        return self._own[service]

    # installation -------------------------------------------------------------------------------------

    @contextmanager
    def installed(self) -> Iterator[Meter]:
        """Patch botocore and the in-process Lambda runtime for as long as the block runs."""
        from crewhouse.local import lambda_runtime

        original_call = BaseClient._make_api_call
        original_invoke = lambda_runtime.invoke_in_process
        meter = self

        def metered_call(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if not meter.active or getattr(meter._local, "own", False):
                return original_call(client, operation, params)
            return meter._call(original_call, client, operation, params)

        def timed_invoke(handler_path: str, environment: Mapping[str, str], event: Any,
                         context: Any) -> tuple[Any, bool]:
            with meter._lock:
                meter._in_flight += 1
                # An invocation begun inside a reading belongs to it even if it ends after stop(): a schedule
                # firing just before stop() must show in ``invocations`` (its calls already count).
                reading = meter.reading if meter.active else None
                if reading is not None:
                    reading.running += 1
            began = time.perf_counter()
            outer = getattr(meter._local, "overhead", 0.0)
            meter._local.overhead = 0.0
            caller = getattr(meter._local, "function", None)
            meter._local.function = context.function_name  # names the calls in ``Reading.calls``
            try:
                return original_invoke(handler_path, environment, event, context)
            finally:
                meter._local.function = caller
                # The meter's own bookkeeping on this thread (item reads, Query re-asks) is not the function's.
                elapsed = (time.perf_counter() - began - meter._local.overhead) * 1000
                meter._local.overhead = outer
                with meter._lock:
                    meter._in_flight -= 1
                    owner = meter.reading if meter.active else reading
                    if owner is not None:
                        owner.invocations.append(
                            Invocation(context.function_name, int(context.memory_limit_in_mb), elapsed))
                    if reading is not None:
                        reading.running -= 1

        BaseClient._make_api_call = metered_call
        lambda_runtime.invoke_in_process = timed_invoke
        try:
            yield self
        finally:
            BaseClient._make_api_call = original_call
            lambda_runtime.invoke_in_process = original_invoke

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def wait_quiet(self, timeout: float = 120.0) -> None:
        """Wait until what the metered work set off has run: EventBridge's deliveries (each a Lambda
        invocation) and every invocation in flight, seen idle twice in a row so a delivery between two checks
        is not missed. Without it a reading stops while consumers (the live updates' fan-out) still work."""
        from crewhouse.local import eventbridge

        deadline = time.monotonic() + timeout
        quiet = 0
        while quiet < 2:
            assert time.monotonic() < deadline, f"still busy after {timeout:g} s: {self.in_flight} invocation(s)"
            idle = eventbridge.drain(timeout=max(0.0, deadline - time.monotonic()))
            quiet = quiet + 1 if idle and self.in_flight == 0 else 0
            time.sleep(0.05)

    @contextmanager
    def own_calls(self) -> Iterator[None]:
        self._local.own = True
        try:
            yield
        finally:
            self._local.own = False

    # metering -----------------------------------------------------------------------------------------

    def start(self) -> Reading:
        with self._lock:
            self.reading = Reading()
            self.active = True
        return self.reading

    def stop(self, execution_timeout: float = 60.0) -> Reading:
        """Close the reading; state transitions are counted once every started execution has ended."""
        with self._lock:
            self.active = False
        reading = self.reading
        deadline = time.monotonic() + execution_timeout
        while reading.running:  # let an invocation begun inside the reading end and be listed
            assert time.monotonic() < deadline, f"{reading.running} invocation(s) still running"
            time.sleep(0.01)
        with self.own_calls():
            sfn = self.client("stepfunctions")
            for arn in reading.executions:
                deadline = time.monotonic() + execution_timeout
                while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                    assert time.monotonic() < deadline, f"execution {arn} still running"
                    time.sleep(0.05)
                events: list[dict[str, Any]] = []
                kwargs: dict[str, Any] = {}
                while True:
                    page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **kwargs)
                    events += page["events"]
                    if not page.get("nextToken"):
                        break
                    kwargs = {"nextToken": page["nextToken"]}
                # AWS bills each state entered, plus the start.
                reading.transitions += 1 + sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
        return reading

    def count_api_request(self, _request: Any) -> None:
        """An httpx request hook: one HTTP API request while metering."""
        if self.active:
            with self._lock:
                self.reading.api_requests += 1

    def _call(self, original: Callable[..., Any], client: BaseClient, operation: str,
              params: dict[str, Any]) -> Any:
        credentials = client._request_signer._credentials
        key = credentials.access_key if credentials is not None else ""
        service = client.meta.service_model.endpoint_prefix
        if not key.startswith("ASIA") and key != STATES_ACCESS_KEY:
            if service == "lambda" and operation in ("Invoke", "InvokeAsync"):
                with self._lock:
                    self.reading.emulator_invokes += 1
            answer = original(client, operation, params)
            if service == "sqs" and operation in ("ReceiveMessage", "DeleteMessageBatch"):
                self._poller_call(operation, params, answer)
            return answer
        name = f"{service}:{operation}"
        began = time.perf_counter()
        before = self._before(service, operation, params) if service == "dynamodb" else None
        self._local.overhead = getattr(self._local, "overhead", 0.0) + time.perf_counter() - began
        failed = False
        try:
            response = original(client, operation, params)
        except Exception:
            failed = True
            response = None
            raise
        finally:
            began = time.perf_counter()
            with self.own_calls():
                reads, writes = (self._capacity(operation, params, response, before, failed)
                                 if service == "dynamodb" else (0.0, 0.0))
            self._local.overhead = getattr(self._local, "overhead", 0.0) + time.perf_counter() - began
            units = _payload_units(service, operation, params, response)
            with self._lock:
                reading = self.reading
                reading.requests[name] += 1
                table = params.get("TableName") or ",".join(params.get("RequestItems", {})) or ""
                caller = getattr(self._local, "function", None) or (
                    "Step Functions" if key == STATES_ACCESS_KEY else "unattributed")
                reading.calls.append((f"{name} {table} <- {caller}", reads, writes))
                reading.read_units += reads
                reading.write_units += writes
                if units:
                    reading.payload_units[service] += units
                if name == "states:StartExecution" and response is not None:
                    reading.executions.append(str(response["executionArn"]))
        return response

    def _poller_call(self, operation: str, params: Mapping[str, Any], answer: Any) -> None:
        """Lambda's SQS event source mapping polls on the account's bill: its receives that returned messages and
        its deletes count (``(poller)``); empty long polls depend on timing and are left out."""
        if operation == "ReceiveMessage" and not answer.get("Messages"):
            return
        with self._lock:
            self.reading.requests[f"sqs:{operation} (poller)"] += 1
            self.reading.payload_units["sqs"] += _payload_units("sqs", operation, params, answer)
            self.reading.calls.append((f"sqs:{operation} (poller)", 0.0, 0.0))

    # DynamoDB capacity ---------------------------------------------------------------------------------

    @staticmethod
    def _written_keys(operation: str, params: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
        """(table, key, transactional) of every item the write touches."""
        if operation in ("PutItem",):
            return [(params["TableName"], _key_of(params["TableName"], params["Item"]), False)]
        if operation in ("UpdateItem", "DeleteItem"):
            return [(params["TableName"], dict(params["Key"]), False)]
        if operation == "BatchWriteItem":
            found = []
            for table, requests in params["RequestItems"].items():
                for request in requests:
                    if "PutRequest" in request:
                        found.append((table, _key_of(table, request["PutRequest"]["Item"]), False))
                    else:
                        found.append((table, dict(request["DeleteRequest"]["Key"]), False))
            return found
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                (kind, body), = entry.items()
                key = _key_of(body["TableName"], body["Item"]) if kind == "Put" else dict(body["Key"])
                found.append((body["TableName"], key, True))
            return found
        return []

    def _before(self, service: str, operation: str, params: Mapping[str, Any]) -> list[Item | None]:
        return [_stored(table, key) for table, key, _ in self._written_keys(operation, params)]

    def _capacity(self, operation: str, params: Mapping[str, Any], response: Any,
                  before: list[Item | None] | None, failed: bool) -> tuple[float, float]:
        written = self._written_keys(operation, params)
        if written:
            units = 0.0
            condition_checks = {i for i, e in enumerate(params.get("TransactItems", []))
                                if "ConditionCheck" in e}
            for index, ((table, key, transactional), old) in enumerate(zip(written, before or [], strict=True)):
                new = _stored(table, key)
                base = _write_units(max(item_size(old or {}), item_size(new or {})))
                units += base * (2 if transactional else 1)
                if not failed and index not in condition_checks:
                    units += _gsi_writes(table, old, new)
            return 0.0, units
        if operation == "GetItem":
            item = _stored(params["TableName"], params["Key"])
            return _read_units(item_size(item or {}), bool(params.get("ConsistentRead"))), 0.0
        if operation == "BatchGetItem":
            units = 0.0
            for table, request in params["RequestItems"].items():
                for key in request["Keys"]:
                    units += _read_units(item_size(_stored(table, key) or {}), bool(request.get("ConsistentRead")))
            return units, 0.0
        if operation == "TransactGetItems":
            units = 0.0
            for entry in params["TransactItems"]:
                body = entry["Get"]
                units += 2 * _read_units(item_size(_stored(body["TableName"], body["Key"]) or {}), True)
            return units, 0.0
        if operation in ("Query", "Scan") and response is not None:
            examined = _examined_query(self.client("dynamodb"), operation, params, int(response["ScannedCount"]))
            consistent = bool(params.get("ConsistentRead")) and not params.get("IndexName")
            return _read_units(sum(item_size(i) for i in examined), consistent), 0.0
        return 0.0, 0.0


def _size(value: Any) -> int:
    return len(value.encode()) if isinstance(value, str) else len(repr(value).encode())


def _attributes_size(attributes: Mapping[str, Any] | None) -> int:
    total = 0
    for name, value in (attributes or {}).items():
        total += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        total += _size(value.get("StringValue") or value.get("BinaryValue") or value.get("Value") or "")
    return total


def _chunks(size: int) -> int:
    return max(1, math.ceil(size / PAYLOAD_UNIT))


def _payload_units(service: str, operation: str, params: Mapping[str, Any], response: Any) -> int:
    """Billed requests in 64 KiB units (SQS, SNS) or billed events (EventBridge); 0 for other services."""
    if service == "sqs":
        if operation == "SendMessage":
            return _chunks(_size(params["MessageBody"]) + _attributes_size(params.get("MessageAttributes")))
        if operation == "SendMessageBatch":
            return _chunks(sum(_size(e["MessageBody"]) + _attributes_size(e.get("MessageAttributes"))
                               for e in params["Entries"]))
        if operation == "ReceiveMessage" and response is not None:
            return _chunks(sum(_size(m.get("Body", "")) + _attributes_size(m.get("MessageAttributes"))
                               for m in response.get("Messages", [])))
        return 1
    if service == "sns":
        if operation == "Publish":
            return _chunks(_size(params["Message"]) + _attributes_size(params.get("MessageAttributes")))
        if operation == "PublishBatch":
            return sum(_chunks(_size(e["Message"]) + _attributes_size(e.get("MessageAttributes")))
                       for e in params["PublishBatchRequestEntries"])
        return 0  # only publishes are priced here
    if service == "events" and operation == "PutEvents":
        return sum(_chunks(_size(e.get("Detail", "")) + _size(e.get("DetailType", "")) + _size(e.get("Source", "")))
                   for e in params["Entries"])
    return 0
