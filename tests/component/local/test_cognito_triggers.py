"""Cognito user pool triggers run against the local cloud (crewhouse.local.cognito_triggers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

from crewhouse.local import cognito_triggers
from tests.component.local.gap_filler_support import create_function, unique
from tests.support.moto_server import client, running_moto_server
from tests.support.sample_handlers import recorded_events

PASSWORD = "Correct-Horse-42"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        cognito_triggers.install()
        yield url


@pytest.fixture
def idp(endpoint: str) -> Any:
    return client("cognito-idp", endpoint)


def _pool(idp: Any, **lambda_config: str) -> tuple[str, str]:
    """A pool with ``custom:tenant_id`` and e-mail auto-verification; returns ``(pool_id, client_id)``."""
    pool_id = idp.create_user_pool(
        PoolName=unique("pool"), LambdaConfig=lambda_config, AutoVerifiedAttributes=["email"],
        Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def _pre_token_pool(idp: Any, arn: str, version: str = "V2_0") -> tuple[str, str]:
    """A pool whose mobile-like client may write only ``email``, with a pre token generation trigger."""
    trigger = {"PreTokenGenerationConfig": {"LambdaArn": arn, "LambdaVersion": version}}
    pool_id = idp.create_user_pool(
        PoolName=unique("pool"), LambdaConfig=trigger,
        Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True},
                {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="mobile", WriteAttributes=["email"], ReadAttributes=["email"],
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def _sign_up(idp: Any, client_id: str, username: str, email: str) -> dict[str, Any]:
    response: dict[str, Any] = idp.sign_up(ClientId=client_id, Username=username, Password=PASSWORD,
                                           UserAttributes=[{"Name": "email", "Value": email}])
    return response


def _attributes(idp: Any, pool_id: str, username: str) -> dict[str, str]:
    user = idp.admin_get_user(UserPoolId=pool_id, Username=username)
    return {attribute["Name"]: attribute["Value"] for attribute in user["UserAttributes"]} | {
        "status": user["UserStatus"]}


def test_post_confirmation_runs_once_after_confirm_sign_up(endpoint: str, idp: Any) -> None:
    function, arn = create_function(endpoint, "post_confirmation_tenant", {"TENANT_PREFIX": "t-"})
    pool_id, client_id = _pool(idp, PostConfirmation=arn)

    signed_up = _sign_up(idp, client_id, "ada", "ada@example.com")
    assert signed_up["UserConfirmed"] is False
    assert recorded_events(function) == []

    idp.confirm_sign_up(ClientId=client_id, Username="ada", ConfirmationCode="000000")  # moto takes any code
    idp.confirm_sign_up(ClientId=client_id, Username="ada", ConfirmationCode="000000")  # already confirmed

    [event] = recorded_events(function)
    assert event["version"] == "1"
    assert event["triggerSource"] == "PostConfirmation_ConfirmSignUp"
    assert event["region"] == "us-east-1"
    assert event["userPoolId"] == pool_id
    assert event["userName"] == "ada"
    assert event["callerContext"]["clientId"] == client_id
    assert event["callerContext"]["awsSdkVersion"]
    assert event["response"] == {}
    attributes = event["request"]["userAttributes"]
    assert attributes["email"] == "ada@example.com"
    assert attributes["email_verified"] == "true"
    assert attributes["cognito:user_status"] == "CONFIRMED"
    assert attributes["sub"] == signed_up["UserSub"]

    stored = _attributes(idp, pool_id, "ada")
    assert stored["custom:tenant_id"] == f"t-{signed_up['UserSub']}"
    assert stored["status"] == "CONFIRMED"


def test_admin_confirm_and_confirm_forgot_password_trigger_post_confirmation(endpoint: str, idp: Any) -> None:
    function, arn = create_function(endpoint, "record_event")
    pool_id, client_id = _pool(idp, PostConfirmation=arn)
    _sign_up(idp, client_id, "grace", "grace@example.com")

    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="grace")
    idp.forgot_password(ClientId=client_id, Username="grace")
    idp.confirm_forgot_password(ClientId=client_id, Username="grace", ConfirmationCode="123456",
                                Password="Another-Horse-43")

    events = recorded_events(function)
    assert [e["triggerSource"] for e in events] == ["PostConfirmation_ConfirmSignUp",
                                                   "PostConfirmation_ConfirmForgotPassword"]
    assert events[0]["callerContext"]["clientId"] == "CLIENT_ID_NOT_APPLICABLE"
    assert events[1]["callerContext"]["clientId"] == client_id
    assert all(e["request"]["userAttributes"]["email"] == "grace@example.com" for e in events)


def test_failing_post_confirmation_surfaces_but_the_user_stays_confirmed(endpoint: str, idp: Any) -> None:
    _, arn = create_function(endpoint, "fail")
    pool_id, client_id = _pool(idp, PostConfirmation=arn)
    _sign_up(idp, client_id, "alan", "alan@example.com")

    with pytest.raises(ClientError) as raised:
        idp.confirm_sign_up(ClientId=client_id, Username="alan", ConfirmationCode="000000")

    assert raised.value.response["Error"]["Code"] == "UserLambdaValidationException"
    assert raised.value.response["Error"]["Message"] == "PostConfirmation failed with error boom."
    assert _attributes(idp, pool_id, "alan")["status"] == "CONFIRMED"


def test_pre_sign_up_rejects_a_domain_before_the_user_exists(endpoint: str, idp: Any) -> None:
    function, arn = create_function(endpoint, "pre_sign_up_gate", {"BLOCKED_DOMAIN": "blocked.example"})
    pool_id, client_id = _pool(idp, PreSignUp=arn)

    with pytest.raises(ClientError) as raised:
        _sign_up(idp, client_id, "mallory", "mallory@blocked.example")
    allowed = _sign_up(idp, client_id, "barbara", "barbara@example.com")

    assert raised.value.response["Error"]["Code"] == "UserLambdaValidationException"
    assert raised.value.response["Error"]["Message"] == (
        "PreSignUp failed with error Sign-ups from blocked.example are not allowed.")
    assert [u["Username"] for u in idp.list_users(UserPoolId=pool_id)["Users"]] == ["barbara"]
    assert allowed["UserConfirmed"] is False
    events = recorded_events(function)
    assert [e["triggerSource"] for e in events] == ["PreSignUp_SignUp", "PreSignUp_SignUp"]
    assert events[1]["userName"] == "barbara"
    assert events[1]["request"]["userAttributes"] == {"email": "barbara@example.com"}
    assert events[1]["callerContext"]["clientId"] == client_id


def test_pre_sign_up_can_auto_confirm(endpoint: str, idp: Any) -> None:
    _, pre_arn = create_function(endpoint, "pre_sign_up_gate", {"AUTO_CONFIRM": "true"})
    post, post_arn = create_function(endpoint, "record_event")
    pool_id, client_id = _pool(idp, PreSignUp=pre_arn, PostConfirmation=post_arn)

    signed_up = _sign_up(idp, client_id, "katherine", "katherine@example.com")

    assert signed_up["UserConfirmed"] is True
    assert "CodeDeliveryDetails" not in signed_up
    stored = _attributes(idp, pool_id, "katherine")
    assert stored["status"] == "CONFIRMED"
    assert stored["email_verified"] == "true"
    assert recorded_events(post) == []  # AWS does not run PostConfirmation for auto-confirmed users
    tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "katherine", "PASSWORD": PASSWORD})
    assert tokens["AuthenticationResult"]["IdToken"]


def test_moto_tokens_carry_custom_attributes_and_groups(endpoint: str, idp: Any) -> None:
    """Not a gap filler: records what moto's USER_PASSWORD_AUTH tokens contain (compare with AWS)."""
    _, arn = create_function(endpoint, "post_confirmation_tenant", {"TENANT_PREFIX": "t-"})
    pool_id, client_id = _pool(idp, PostConfirmation=arn)
    sub = _sign_up(idp, client_id, "edsger", "edsger@example.com")["UserSub"]
    idp.confirm_sign_up(ClientId=client_id, Username="edsger", ConfirmationCode="000000")
    idp.create_group(UserPoolId=pool_id, GroupName="owners")
    idp.admin_add_user_to_group(UserPoolId=pool_id, Username="edsger", GroupName="owners")

    result = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "edsger", "PASSWORD": PASSWORD})["AuthenticationResult"]
    id_claims = jwt.decode(result["IdToken"], options={"verify_signature": False})
    access_claims = jwt.decode(result["AccessToken"], options={"verify_signature": False})

    assert id_claims["custom:tenant_id"] == f"t-{sub}"
    assert id_claims["cognito:groups"] == ["owners"]
    assert id_claims["cognito:username"] == "edsger"
    assert id_claims["token_use"] == "id"
    assert access_claims["cognito:groups"] == ["owners"]
    assert "custom:tenant_id" not in access_claims  # as in AWS: custom attributes are ID-token only
    assert access_claims["username"] == "edsger"


def test_a_client_writes_only_its_write_attributes(endpoint: str, idp: Any) -> None:
    _, arn = create_function(endpoint, "record_event")
    pool_id, client_id = _pre_token_pool(idp, arn)
    with pytest.raises(ClientError) as refused:
        idp.sign_up(ClientId=client_id, Username="mallory", Password=PASSWORD,
                    UserAttributes=[{"Name": "email", "Value": "m@example.com"},
                                    {"Name": "custom:tenant_id", "Value": "victim"}])
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    assert "custom:tenant_id" in refused.value.response["Error"]["Message"]
    assert idp.list_users(UserPoolId=pool_id)["Users"] == []  # nothing was created

    _sign_up(idp, client_id, "mallory", "m@example.com")
    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="mallory")
    access = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH", AuthParameters={
        "USERNAME": "mallory", "PASSWORD": PASSWORD})["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as refused:
        idp.update_user_attributes(AccessToken=access, UserAttributes=[{"Name": "custom:tenant_id", "Value": "v"}])
    assert refused.value.response["Error"]["Code"] == "NotAuthorizedException"
    idp.update_user_attributes(AccessToken=access, UserAttributes=[{"Name": "email", "Value": "m2@example.com"}])
    assert "custom:tenant_id" not in _attributes(idp, pool_id, "mallory")
    # Admin APIs are authorized by IAM, not by a client's attributes (as in AWS).
    idp.admin_update_user_attributes(UserPoolId=pool_id, Username="mallory",
                                     UserAttributes=[{"Name": "custom:tenant_id", "Value": "set-by-admin"}])
    assert _attributes(idp, pool_id, "mallory")["custom:tenant_id"] == "set-by-admin"


@pytest.mark.parametrize("version", ["V2_0", "V3_0"])
def test_pre_token_generation_shapes_both_tokens_once_per_issuance(endpoint: str, idp: Any, version: str) -> None:
    function, arn = create_function(endpoint, "pre_token_claims", {"TEAM": "green"})
    pool_id, client_id = _pre_token_pool(idp, arn, version)
    _sign_up(idp, client_id, "grace", "grace@example.com")
    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="grace")
    idp.admin_update_user_attributes(UserPoolId=pool_id, Username="grace",
                                     UserAttributes=[{"Name": "custom:tenant_id", "Value": "stale"}])

    result = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                               AuthParameters={"USERNAME": "grace", "PASSWORD": PASSWORD})["AuthenticationResult"]
    [event] = recorded_events(function)  # one invocation for both tokens
    assert (event["version"], event["triggerSource"]) == (version[1], "TokenGeneration_Authentication")
    assert event["request"]["userAttributes"]["email"] == "grace@example.com"
    assert event["callerContext"]["clientId"] == client_id
    for token in (result["IdToken"], result["AccessToken"]):
        claims = jwt.decode(token, options={"verify_signature": False})
        assert claims["team"] == "green"
        assert claims["sub"] != "forged"  # reserved claims stay Cognito's
        assert "custom:tenant_id" not in claims

    refreshed = idp.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                  AuthParameters={"REFRESH_TOKEN": result["RefreshToken"]})["AuthenticationResult"]
    assert recorded_events(function)[-1]["triggerSource"] == "TokenGeneration_RefreshTokens"
    assert len(recorded_events(function)) == 2
    assert jwt.decode(refreshed["IdToken"], options={"verify_signature": False})["team"] == "green"


def test_a_failing_pre_token_trigger_fails_the_sign_in(endpoint: str, idp: Any) -> None:
    _, arn = create_function(endpoint, "fail")
    pool_id, client_id = _pre_token_pool(idp, arn)
    _sign_up(idp, client_id, "alan", "alan@example.com")
    idp.admin_confirm_sign_up(UserPoolId=pool_id, Username="alan")
    with pytest.raises(ClientError) as refused:
        idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                          AuthParameters={"USERNAME": "alan", "PASSWORD": PASSWORD})
    assert refused.value.response["Error"]["Code"] == "UserLambdaValidationException"
