"""Mobile push through SNS platform endpoints, in-process against moto: device registration (idempotent, at most
10, the caller's own only), a notification published to each device with a platform-shaped message and recorded in
its delivery history, and an endpoint SNS disabled (or deleted) removed at the next publish."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from crewhouse.core.settings import function_environment
from crewhouse.notifications import workers
from crewhouse.notifications.api import handler
from tests.component.notifications.test_notifications_api import ENV, member
from tests.component.notifications.test_notifications_api import aws as aws
from tests.support.events import claims_for, http_event, lambda_context, response_json

FCM_TOKEN, APNS_TOKEN = "fcm-token-" + "a" * 40, "b" * 64


@pytest.fixture
def push(aws: Any) -> Iterator[dict[str, str]]:
    """The platform applications a deployer makes (CloudFormation has no resource for them)."""
    sns = boto3.client("sns", region_name="us-east-1")
    fcm = sns.create_platform_application(Name="crewhouse-fcm", Platform="GCM",
                                          Attributes={"PlatformCredential": "server-key"})["PlatformApplicationArn"]
    apns = sns.create_platform_application(Name="crewhouse-apns", Platform="APNS",
                                           Attributes={"PlatformCredential": "key"})["PlatformApplicationArn"]
    yield {**ENV, "PUSH_FCM_APPLICATION_ARN": fcm, "PUSH_APNS_APPLICATION_ARN": apns}


def call(env: dict[str, str], user: str, method: str, path: str, body: Any = None, *,
         tenant: str = "t1") -> tuple[int, Any]:
    with function_environment(env):
        response = handler(http_event(method, path, body=body, claims=claims_for(tenant, user)), lambda_context())
    return response["statusCode"], response_json(response)


def endpoints() -> dict[str, Any]:
    """moto's platform endpoints by ARN (what SNS holds)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.sns.models import sns_backends

    return dict(sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].platform_endpoints)


def notify(env: dict[str, str], title: str = "Hello", priority: str = "normal") -> dict[str, Any]:
    status, sent = call(env, "admin", "POST", "/notifications", {"recipient_id": "ann", "category": "system",
                                                                 "priority": priority, "title": title,
                                                                 "body": "Body text", "link": "/tasks"})
    assert status == 201, sent
    return dict(sent["notifications"][0])


def test_register_is_idempotent_lists_and_removes(push: dict[str, str]) -> None:
    status, device = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})
    assert status == 201, device
    assert device["platform"] == "fcm" and device["token_hint"] == FCM_TOKEN[-8:] and "endpoint_arn" not in device
    [endpoint] = endpoints().values()
    assert endpoint.token == FCM_TOKEN
    assert json.loads(endpoint.custom_user_data) == {"tenant_id": "t1", "user_id": "ann"}
    # The same token again is the same device and the same endpoint.
    again = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})
    assert again == (200, device) and len(endpoints()) == 1
    assert call(push, "ann", "POST", "/notifications/devices", {"platform": "apns", "token": APNS_TOKEN})[0] == 201
    listed = call(push, "ann", "GET", "/notifications/devices")[1]
    assert [d["platform"] for d in listed] == ["fcm", "apns"] and listed[0] == device
    # Preferences written later keep the devices.
    assert call(push, "ann", "PUT", "/me/notification-preferences", {"quiet_hours": None})[0] == 200
    assert len(call(push, "ann", "GET", "/notifications/devices")[1]) == 2

    assert call(push, "ann", "DELETE", f"/notifications/devices/{device['id']}")[0] == 204
    assert [d["platform"] for d in call(push, "ann", "GET", "/notifications/devices")[1]] == ["apns"]
    assert [e.token for e in endpoints().values()] == [APNS_TOKEN]
    assert call(push, "ann", "DELETE", f"/notifications/devices/{device['id']}")[0] == 404


def test_devices_are_the_callers_own(aws: Any, push: dict[str, str]) -> None:
    device = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})[1]
    member(aws, "t2", "ann", "member", "ann@example.com")  # the same person in another tenant
    for user, tenant in (("admin", "t1"), ("eve", "t2"), ("ann", "t2")):
        assert call(push, user, "GET", "/notifications/devices", tenant=tenant) == (200, [])
        assert call(push, user, "DELETE", f"/notifications/devices/{device['id']}", tenant=tenant)[0] == 404
    # A token another account holds is refused (its pushes would reach the other account's notifications).
    status, problem = call(push, "admin", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})
    assert status == 409 and problem["type"].endswith("device-taken")
    assert call(push, "ann", "GET", "/notifications/devices")[1] == [device]


def test_bad_input_and_the_device_limit(push: dict[str, str]) -> None:
    assert call(push, "ann", "POST", "/notifications/devices", {"platform": "sms", "token": FCM_TOKEN})[0] == 422
    assert call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": "short"})[0] == 422
    assert call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": "x y" * 5})[0] == 422
    for n in range(10):
        registered = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": f"tok{n:08d}"})
        assert registered[0] == 201
    status, problem = call(push, "ann", "POST", "/notifications/devices", {"platform": "apns", "token": APNS_TOKEN})
    assert status == 409 and problem["type"].endswith("too-many-devices")
    assert call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": "tok00000003"})[0] == 200


def test_without_platform_applications_push_is_off(aws: Any) -> None:
    status, problem = call(ENV, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})
    assert status == 503 and problem["type"].endswith("push-disabled")
    only_fcm = {**ENV, "PUSH_FCM_APPLICATION_ARN": boto3.client("sns", region_name="us-east-1")
                .create_platform_application(Name="f", Platform="GCM", Attributes={})["PlatformApplicationArn"]}
    assert call(only_fcm, "ann", "POST", "/notifications/devices", {"platform": "apns", "token": APNS_TOKEN})[0] == 422
    assert call(ENV, "ann", "GET", "/notifications/devices") == (200, [])


def test_a_notification_is_published_to_each_device(push: dict[str, str]) -> None:
    fcm = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})[1]
    apns = call(push, "ann", "POST", "/notifications/devices", {"platform": "apns", "token": APNS_TOKEN})[1]
    notification = notify(push, "Your job finished")
    for device in (fcm, apns):
        history = notification["deliveries"][f"push:{device['id']}"]
        assert history["status"] == "sent" and history["attempts"] == 1 and history["history"][0]["detail"]
    by_token = {e.token: e for e in endpoints().values()}
    [fcm_message] = by_token[FCM_TOKEN].messages.values()
    fcm_payload = json.loads(json.loads(fcm_message)["GCM"])
    assert fcm_payload["notification"] == {"title": "Your job finished", "body": "Body text"}
    assert fcm_payload["data"] == {"notification_id": notification["id"], "category": "system", "link": "/tasks"}
    [apns_message] = by_token[APNS_TOKEN].messages.values()
    apns_payload = json.loads(json.loads(apns_message)["APNS"])
    assert apns_payload["aps"]["alert"] == {"title": "Your job finished", "body": "Body text"}
    assert apns_payload["notification_id"] == notification["id"]
    # Stored with the notification: the inbox shows the same history.
    stored = call(push, "ann", "GET", "/notifications")[1]["items"][0]
    assert stored["deliveries"][f"push:{fcm['id']}"]["status"] == "sent"

    # Opted out of push (here for one category): nothing is published.
    assert call(push, "ann", "PUT", "/me/notification-preferences",
                {"categories": {"system": {"push": False}}})[0] == 200
    quiet = notify(push, "Not pushed")
    assert not [k for k in quiet["deliveries"] if k.startswith("push:")]
    assert len(by_token[FCM_TOKEN].messages) == 1


def test_quiet_hours_skip_push_and_urgent_passes(push: dict[str, str]) -> None:
    device = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})[1]
    assert call(push, "ann", "PUT", "/me/notification-preferences", {
        "quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"}})[0] == 200
    held = notify(push, "At night")["deliveries"][f"push:{device['id']}"]
    assert held["status"] == "skipped" and held["error"].startswith("quiet hours until")
    assert notify(push, "Fire", priority="urgent")["deliveries"][f"push:{device['id']}"]["status"] == "sent"


def test_a_disabled_or_vanished_endpoint_is_removed(push: dict[str, str]) -> None:
    disabled = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})[1]
    vanished = call(push, "ann", "POST", "/notifications/devices", {"platform": "apns", "token": APNS_TOKEN})[1]
    sns = boto3.client("sns", region_name="us-east-1")
    by_token = {e.token: arn for arn, e in endpoints().items()}
    # What SNS does when FCM reports the token unregistered, and an endpoint deleted outside Crewhouse.
    sns.set_endpoint_attributes(EndpointArn=by_token[FCM_TOKEN], Attributes={"Enabled": "false"})
    sns.delete_endpoint(EndpointArn=by_token[APNS_TOKEN])
    notification = notify(push, "To nowhere")
    for device in (disabled, vanished):
        history = notification["deliveries"][f"push:{device['id']}"]
        assert history["status"] == "failed" and "device removed" in history["error"]
    assert notification["deliveries"]["email"]["status"] == "sent"  # the other channels go on
    assert call(push, "ann", "GET", "/notifications/devices")[1] == []
    assert endpoints() == {}
    assert not [k for k in notify(push, "Again")["deliveries"] if k.startswith("push:")]


def test_a_bus_event_is_pushed_by_the_consumer(push: dict[str, str]) -> None:
    device = call(push, "ann", "POST", "/notifications/devices", {"platform": "fcm", "token": FCM_TOKEN})[1]
    event = {"detail-type": "job.succeeded", "source": "crewhouse.jobs",
             "detail": {"job": {"tenant_id": "t1", "user_id": "ann", "job_id": "j1"}, "type": "summarize",
                        "result": {}}}
    with function_environment(push):
        notification_id = workers.on_domain_event(event, lambda_context())["notification_id"]
    stored = call(push, "ann", "GET", "/notifications")[1]["items"][0]
    assert stored["id"] == notification_id and stored["deliveries"][f"push:{device['id']}"]["status"] == "sent"
    [message] = next(iter(endpoints().values())).messages.values()
    assert json.loads(json.loads(message)["GCM"])["data"]["link"] == "/jobs/j1"
