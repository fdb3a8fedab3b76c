"""The local IAM check: calls signed with a role's temporary credentials are authorized against that role's
policies with real resource ARNs; calls with any other credentials pass as before."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from crewhouse.local import iam
from tests.component.local.gap_filler_support import HANDLERS, unique
from tests.support.moto_server import REGION, client, running_moto_server

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        iam.install()
        try:
            yield url
        finally:
            iam.uninstall()


def table(endpoint: str) -> str:
    name = unique("t")
    client("dynamodb", endpoint).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "gk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    return name


def role_session(endpoint: str, statements: list[dict[str, Any]]) -> boto3.session.Session:
    """Credentials of a fresh role whose only policy holds ``statements``."""
    admin = client("iam", endpoint)
    name = unique("role")
    arn = admin.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    admin.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))
    creds = client("sts", endpoint).assume_role(RoleArn=arn, RoleSessionName="fn")["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=REGION)


def error_code(call: Any) -> str | None:
    try:
        call()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return None


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def test_a_grant_on_one_table_allows_that_table_only_and_only_the_granted_actions(endpoint: str) -> None:
    allowed, other = table(endpoint), table(endpoint)
    ddb = role_session(endpoint, [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query"],
                                   "Resource": [table_arn(allowed), f"{table_arn(allowed)}/index/*"]}]
                       ).client("dynamodb", endpoint_url=endpoint)
    key = {"pk": {"S": "a"}}

    assert error_code(lambda: ddb.get_item(TableName=allowed, Key=key)) is None
    assert error_code(lambda: ddb.query(TableName=allowed, IndexName="by-g", KeyConditionExpression="gk = :g",
                                        ExpressionAttributeValues={":g": {"S": "x"}})) is None
    assert error_code(lambda: ddb.get_item(TableName=other, Key=key)) == "AccessDeniedException"
    assert error_code(lambda: ddb.put_item(TableName=allowed, Item=key)) == "AccessDeniedException"
    # Transactions are authorized item by item, as the per-item actions
    assert error_code(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": allowed, "Item": key}}])) == "AccessDeniedException"


def test_an_explicit_deny_wins_and_transactions_need_each_items_action(endpoint: str) -> None:
    name = table(endpoint)
    ddb = role_session(endpoint, [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": table_arn(name)},
        {"Effect": "Deny", "Action": "dynamodb:DeleteItem", "Resource": "*"},
    ]).client("dynamodb", endpoint_url=endpoint)
    key = {"pk": {"S": "b"}}

    assert error_code(lambda: ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": name, "Item": key}}])) is None
    assert error_code(lambda: ddb.delete_item(TableName=name, Key=key)) == "AccessDeniedException"
    assert error_code(lambda: ddb.transact_write_items(TransactItems=[
        {"Delete": {"TableName": name, "Key": key}}])) == "AccessDeniedException"


def test_s3_object_grants_follow_the_prefix_and_listing_needs_the_prefix_condition(endpoint: str) -> None:
    bucket = unique("b")
    client("s3", endpoint).create_bucket(Bucket=bucket)
    s3 = role_session(endpoint, [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": f"arn:aws:s3:::{bucket}/notes/*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": ["notes/*"]}}},
    ]).client("s3", endpoint_url=endpoint)

    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="notes/a.md", Body=b"x")) is None
    assert s3.get_object(Bucket=bucket, Key="notes/a.md")["Body"].read() == b"x"
    assert error_code(lambda: s3.put_object(Bucket=bucket, Key="uploads/a.bin", Body=b"x")) == "AccessDenied"
    with pytest.raises(ClientError, match=f"s3:PutObject on resource: arn:aws:s3:::{bucket}/uploads/a.bin"):
        s3.put_object(Bucket=bucket, Key="uploads/a.bin", Body=b"x")
    assert error_code(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="notes/")) is None
    assert error_code(lambda: s3.list_objects_v2(Bucket=bucket)) == "AccessDenied"
    # CopyObject also reads its source
    assert error_code(lambda: s3.copy_object(Bucket=bucket, Key="notes/b.md", CopySource={
        "Bucket": bucket, "Key": "uploads/a.bin"})) == "AccessDenied"


def test_calls_without_role_credentials_pass_as_before(endpoint: str) -> None:
    name = table(endpoint)
    # the embedded cloud's own keys (tests, CLI, deploy, gap fillers)
    assert error_code(lambda: client("dynamodb", endpoint).put_item(TableName=name, Item={"pk": {"S": "c"}})) is None
    # a role whose policy grants something else is denied the same call
    denied = role_session(endpoint, [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]
                          ).client("dynamodb", endpoint_url=endpoint)
    assert error_code(lambda: denied.put_item(TableName=name, Item={"pk": {"S": "c"}})) == "AccessDeniedException"


def test_other_services_resolve_their_resource_arns(endpoint: str) -> None:
    queue_url = client("sqs", endpoint).create_queue(QueueName=unique("q"))["QueueUrl"]
    other_url = client("sqs", endpoint).create_queue(QueueName=unique("q"))["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_url.rsplit('/', 1)[1]}"
    bus = unique("bus")
    client("events", endpoint).create_event_bus(Name=bus)
    session = role_session(endpoint, [
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
        {"Effect": "Allow", "Action": "events:PutEvents",
         "Resource": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"},
    ])
    sqs, events = session.client("sqs", endpoint_url=endpoint), session.client("events", endpoint_url=endpoint)
    entry = {"Source": "t", "DetailType": "d", "Detail": "{}"}

    assert error_code(lambda: sqs.send_message_batch(QueueUrl=queue_url, Entries=[
        {"Id": "1", "MessageBody": "x"}])) is None
    assert error_code(lambda: sqs.send_message(QueueUrl=other_url, MessageBody="x")) is not None
    assert error_code(lambda: events.put_events(Entries=[{**entry, "EventBusName": bus}])) is None
    assert error_code(lambda: events.put_events(Entries=[entry])) == "AccessDeniedException"  # default bus


def test_each_function_calls_aws_as_its_own_role_with_cached_credentials(endpoint: str) -> None:
    import io
    import zipfile

    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")
    lambdas, names = client("lambda", endpoint), {}
    for label in ("a", "b"):
        role = unique(f"role-{label}")
        arn = client("iam", endpoint).create_role(RoleName=role, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        name = unique(f"whoami-{label}")
        lambdas.create_function(FunctionName=name, Runtime="python3.11", Role=arn, Handler=f"{HANDLERS}.whoami",
                                Code={"ZipFile": code.getvalue()},
                                Environment={"Variables": {"AWS_ENDPOINT_URL": endpoint}})
        names[label] = (name, role)

    def invoke(label: str) -> dict[str, str]:
        answer = lambdas.invoke(FunctionName=names[label][0])
        return dict(json.loads(answer["Payload"].read()))

    first_a, first_b, again_a = invoke("a"), invoke("b"), invoke("a")
    # one process, one client cache: still each function signs with its own role's session
    assert f":assumed-role/{names['a'][1]}/{names['a'][0]}" in first_a["arn"]
    assert f":assumed-role/{names['b'][1]}/{names['b'][0]}" in first_b["arn"]
    assert first_a["key"] != first_b["key"] and again_a == first_a  # credentials cached per role


def test_checks_for_names_the_per_item_actions_and_resources() -> None:
    call = iam.Call(service="dynamodb", action="TransactWriteItems", region=REGION, account=ACCOUNT,
                    params={"TransactItems": [{"Update": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]},
                    path="/", query={}, headers={}, body=b"", moto_resource="*")
    assert iam.checks_for(call) == [iam.Check("dynamodb:UpdateItem", table_arn("a")),
                                    iam.Check("dynamodb:ConditionCheckItem", table_arn("b"))]
    schedule = iam.Call(service="scheduler", action="CreateSchedule", region=REGION, account=ACCOUNT,
                        params={"GroupName": "g", "Target": {"RoleArn": "arn:aws:iam::1:role/r"}},
                        path="/schedules/s1", query={}, headers={}, body=b"", moto_resource="*")
    assert [c.action for c in iam.checks_for(schedule)] == ["scheduler:CreateSchedule", "iam:PassRole"]
    assert iam.checks_for(schedule)[0].resource == f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/g/s1"


def test_policy_evaluation_costs_little_per_request(endpoint: str) -> None:
    """Not a benchmark: guards against an evaluation that re-parses or rescans per request going unnoticed."""
    name = table(endpoint)
    ddb = role_session(endpoint, [{"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": table_arn(name)}]
                       ).client("dynamodb", endpoint_url=endpoint)
    call = iam.Call(service="dynamodb", action="GetItem", region=REGION, account=ACCOUNT,
                    params={"TableName": name}, path="/", query={}, headers={}, body=b"", moto_resource="*")
    ddb.get_item(TableName=name, Key={"pk": {"S": "x"}})  # the session is known from here on
    key, token = ddb._request_signer._credentials.access_key, ddb._request_signer._credentials.token
    started = time.perf_counter()
    for _ in range(1000):
        iam.authorize(call, key, token)
    assert (time.perf_counter() - started) / 1000 < 0.001


def test_sending_mail_checks_the_sender_identity_and_its_from_address() -> None:
    call = iam.Call(service="ses", action="SendEmail", region=REGION, account=ACCOUNT,
                    params={"FromEmailAddress": "Crewhouse <no-reply@crewhouse.test>"},
                    path="/v2/email/outbound-emails", query={}, headers={}, body=b"", moto_resource="*")
    [check] = iam.checks_for(call)
    assert check.resource == f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/no-reply@crewhouse.test"
    statement = {"Effect": "Allow", "Action": "ses:SendEmail", "Resource": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/*",
                 "Condition": {"StringEquals": {"ses:FromAddress": "no-reply@crewhouse.test"}}}
    assert iam.decide([statement], check.action, check.resource, dict(check.context)) == "Allow"
    other = iam.Call(**{**call.__dict__, "params": {"FromEmailAddress": "ceo@crewhouse.test"}})
    [spoofed] = iam.checks_for(other)
    assert iam.decide([statement], spoofed.action, spoofed.resource, dict(spoofed.context)) != "Allow"
