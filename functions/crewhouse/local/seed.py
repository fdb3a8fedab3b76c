"""A demo tenant and user, signed up and confirmed through Cognito like any user."""

from __future__ import annotations

from dataclasses import dataclass

from crewhouse.local.deploy import DeployedStack
from crewhouse.local.endpoint import local_client

DEMO_EMAIL = "demo@crewhouse.local"
DEMO_PASSWORD = "Crewhouse-demo-2026!"


@dataclass(frozen=True)
class SignedInUser:
    email: str
    password: str
    user_id: str
    id_token: str
    access_token: str
    refresh_token: str


def sign_up_and_confirm(stack: DeployedStack, email: str, password: str) -> None:
    """Sign-up, then admin confirmation (which runs the post-confirmation trigger: tenant creation)."""
    cognito = local_client("cognito-idp")
    cognito.sign_up(ClientId=stack.outputs["MobileClientId"], Username=email, Password=password,
                    UserAttributes=[{"Name": "email", "Value": email}])
    cognito.admin_confirm_sign_up(UserPoolId=stack.outputs["UserPoolId"], Username=email)


def sign_in(stack: DeployedStack, email: str, password: str) -> SignedInUser:
    cognito = local_client("cognito-idp")
    result = cognito.initiate_auth(ClientId=stack.outputs["MobileClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]
    user = cognito.admin_get_user(UserPoolId=stack.outputs["UserPoolId"], Username=email)
    sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
    return SignedInUser(email=email, password=password, user_id=sub, id_token=result["IdToken"],
                        access_token=result["AccessToken"], refresh_token=result.get("RefreshToken", ""))


def seed_demo_user(stack: DeployedStack) -> SignedInUser:
    from botocore.exceptions import ClientError

    try:
        sign_up_and_confirm(stack, DEMO_EMAIL, DEMO_PASSWORD)
    except ClientError as error:  # restored from the local state of an earlier run
        if error.response["Error"]["Code"] != "UsernameExistsException":
            raise
    return sign_in(stack, DEMO_EMAIL, DEMO_PASSWORD)
