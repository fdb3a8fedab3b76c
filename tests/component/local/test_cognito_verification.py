"""SRP password proofs and confirmation codes are checked on the embedded cloud (crewhouse.local.cognito_verification):
a browser's SRP sign-in with the right password works, one with a wrong password is refused, and only the code that
was mailed to the outbox confirms a sign-up or a password reset."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from crewhouse.local import cognito_verification as srp
from crewhouse.local.outbox import captured_mail
from tests.component.local.gap_filler_support import unique
from tests.support.moto_server import client, running_moto_server

PASSWORD = "Correct-Horse-42"


@pytest.fixture(scope="module")
def idp() -> Iterator[Any]:
    with running_moto_server() as url:
        srp.install()
        try:
            yield client("cognito-idp", url)
        finally:
            srp.uninstall()


def _pool(idp: Any) -> tuple[str, str]:
    pool_id = idp.create_user_pool(
        PoolName=unique("pool"), AutoVerifiedAttributes=["email"], UsernameAttributes=["email"],
        Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
    )["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web",
        ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    return pool_id, client_id


def _mailed_code(address: str) -> str:
    [latest, *_] = [m for m in reversed(captured_mail()) if address in m["to"]]
    return str(latest["body"]).rsplit(" ", 1)[-1]


def _signed_up(idp: Any, pool_id: str, client_id: str, email: str) -> None:
    idp.sign_up(ClientId=client_id, Username=email, Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": email}])
    idp.confirm_sign_up(ClientId=client_id, Username=email, ConfirmationCode=_mailed_code(email))


def _srp_sign_in(idp: Any, pool_id: str, client_id: str, email: str, password: str,
                 signature: str | None = None) -> dict[str, Any]:
    """What amazon-cognito-identity-js does: A, then the password claim over the server's B, salt and block."""
    a = secrets.randbelow(srp.N - 2) + 1
    large_a = pow(srp.G, a, srp.N)
    challenge = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH",
                                  AuthParameters={"USERNAME": email, "SRP_A": format(large_a, "x")})
    parameters = challenge["ChallengeParameters"]
    user_id, large_b = parameters["USER_ID_FOR_SRP"], int(parameters["SRP_B"], 16)
    u = srp.scrambler(large_a, large_b)
    x = srp.password_exponent(pool_id, user_id, password, parameters["SALT"])
    shared = pow((large_b - srp.K * pow(srp.G, x, srp.N)) % srp.N, a + u * x, srp.N)
    timestamp = datetime.now(UTC).strftime("%a %b %-d %H:%M:%S UTC %Y")
    key = srp.password_key(shared, u)
    message = (pool_id.split("_", 1)[1].encode() + user_id.encode() + base64.b64decode(parameters["SECRET_BLOCK"])
               + timestamp.encode())
    claim = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
    answer: dict[str, Any] = idp.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="PASSWORD_VERIFIER", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": parameters["USERNAME"], "PASSWORD_CLAIM_SECRET_BLOCK":
                            parameters["SECRET_BLOCK"], "TIMESTAMP": timestamp,
                            "PASSWORD_CLAIM_SIGNATURE": signature or claim})
    return answer


def _error(raised: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = raised.value.response["Error"]
    return error["Code"], error["Message"]


def test_srp_sign_in_with_the_password_gives_tokens(idp: Any) -> None:
    pool_id, client_id = _pool(idp)
    _signed_up(idp, pool_id, client_id, "ada@example.com")

    answer = _srp_sign_in(idp, pool_id, client_id, "ada@example.com", PASSWORD)

    assert answer["AuthenticationResult"]["IdToken"]
    assert answer["AuthenticationResult"]["RefreshToken"]


def test_srp_proof_of_a_wrong_password_is_refused(idp: Any) -> None:
    pool_id, client_id = _pool(idp)
    _signed_up(idp, pool_id, client_id, "grace@example.com")

    with pytest.raises(ClientError) as wrong_password:
        _srp_sign_in(idp, pool_id, client_id, "grace@example.com", "Wrong-Horse-42")
    with pytest.raises(ClientError) as forged:
        _srp_sign_in(idp, pool_id, client_id, "grace@example.com", PASSWORD,
                     signature=base64.b64encode(b"\0" * 32).decode())

    assert _error(wrong_password) == ("NotAuthorizedException", "Incorrect username or password.")
    assert _error(forged) == ("NotAuthorizedException", "Incorrect username or password.")


def test_a_challenge_answers_once(idp: Any) -> None:
    pool_id, client_id = _pool(idp)
    _signed_up(idp, pool_id, client_id, "barbara@example.com")
    challenge = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_SRP_AUTH",
                                  AuthParameters={"USERNAME": "barbara@example.com", "SRP_A": "abc123"})
    block = challenge["ChallengeParameters"]["SECRET_BLOCK"]
    responses = {"USERNAME": "barbara@example.com", "PASSWORD_CLAIM_SECRET_BLOCK": block, "TIMESTAMP": "now",
                 "PASSWORD_CLAIM_SIGNATURE": "AAAA"}

    for _ in range(2):
        with pytest.raises(ClientError) as raised:
            idp.respond_to_auth_challenge(ClientId=client_id, ChallengeName="PASSWORD_VERIFIER",
                                          Session=challenge["Session"], ChallengeResponses=responses)
        assert _error(raised)[0] == "NotAuthorizedException"
    assert srp._challenges.get(block) is None


def test_only_the_mailed_code_confirms_a_sign_up(idp: Any) -> None:
    pool_id, client_id = _pool(idp)
    idp.sign_up(ClientId=client_id, Username="alan@example.com", Password=PASSWORD,
                UserAttributes=[{"Name": "email", "Value": "alan@example.com"}])
    code = _mailed_code("alan@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    with pytest.raises(ClientError) as raised:
        idp.confirm_sign_up(ClientId=client_id, Username="alan@example.com", ConfirmationCode=wrong)
    assert _error(raised) == ("CodeMismatchException", "Invalid verification code provided, please try again.")
    assert idp.admin_get_user(UserPoolId=pool_id, Username="alan@example.com")["UserStatus"] == "UNCONFIRMED"

    idp.confirm_sign_up(ClientId=client_id, Username="alan@example.com", ConfirmationCode=code)
    assert idp.admin_get_user(UserPoolId=pool_id, Username="alan@example.com")["UserStatus"] == "CONFIRMED"


def test_only_the_mailed_code_resets_a_password(idp: Any) -> None:
    pool_id, client_id = _pool(idp)
    _signed_up(idp, pool_id, client_id, "edsger@example.com")
    forgot = idp.forgot_password(ClientId=client_id, Username="edsger@example.com")
    code = _mailed_code("edsger@example.com")
    assert "x-moto-forgot-password-confirmation-code" not in forgot["ResponseMetadata"]["HTTPHeaders"]

    with pytest.raises(ClientError) as raised:
        idp.confirm_forgot_password(ClientId=client_id, Username="edsger@example.com", Password="New-Horse-4242",
                                    ConfirmationCode=f"{(int(code) + 1) % 1_000_000:06d}")
    assert _error(raised)[0] == "CodeMismatchException"
    idp.confirm_forgot_password(ClientId=client_id, Username="edsger@example.com", Password="New-Horse-4242",
                                ConfirmationCode=code)

    assert _srp_sign_in(idp, pool_id, client_id, "edsger@example.com", "New-Horse-4242")["AuthenticationResult"]
    with pytest.raises(ClientError):
        _srp_sign_in(idp, pool_id, client_id, "edsger@example.com", PASSWORD)
