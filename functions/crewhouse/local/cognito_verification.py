"""Check what moto's Cognito takes on trust: SRP password proofs and confirmation codes.

Covers: moto answers ``InitiateAuth`` (``USER_SRP_AUTH``) with random ``SRP_B`` and ``SALT`` and accepts any
``PASSWORD_CLAIM_SIGNATURE`` in ``RespondToAuthChallenge`` (``PASSWORD_VERIFIER``), so a browser could sign in as
anyone with any password. ``ConfirmSignUp`` ignores the code and ``ConfirmForgotPassword`` takes any code not of
moto's own ``moto-confirmation-code:`` form, so anyone could confirm an address they do not own or reset a password.

Here the challenge is real Cognito SRP-6a (the 3072-bit group of RFC 5054, ``g = 2``, SHA-256, the verifier
derived from the user's password with the pool name and ``USER_ID_FOR_SRP``, the password key from HKDF over ``S``
and ``u``): ``SRP_B``, ``SALT`` and ``SECRET_BLOCK`` are generated per challenge, and a signature that does not match
the password is ``NotAuthorizedException`` ("Incorrect username or password."), as in AWS. Each challenge answers
once. ``SignUp`` (for a user left unconfirmed) and ``ForgotPassword`` generate a six-digit code and mail it, as
Cognito's default e-mail would, to the user's address: the message lands in the SES outbox
(:mod:`crewhouse.local.outbox`, ``GET /_local/outbox``). ``ConfirmSignUp`` and ``ConfirmForgotPassword`` then need
that code (``CodeMismatchException`` otherwise; one use). Codes live in memory: after a restart, request a new one.

Only the public API's response handlers are wrapped (``CognitoIdpResponse``): the admin APIs, authorized by IAM,
are unchanged, as in AWS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.exceptions import JsonRESTError

from crewhouse.local import patches
from crewhouse.local.cognito_oauth import OAuthError, _find_client

# RFC 5054's 3072-bit group, the one Cognito uses.
N = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B"
    "302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE6"
    "49286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D"
    "670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718"
    "3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7D"
    "B3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF", 16)
G = 2
HKDF_INFO = b"Caldera Derived Key\x01"
MAX_OPEN_CHALLENGES = 10_000
WRONG_PASSWORD = "Incorrect username or password."
WRONG_CODE = "Invalid verification code provided, please try again."
CODE_SENDER = "no-reply@verificationemail.com"  # the sender of Cognito's default e-mail


class NotAuthorizedException(JsonRESTError):
    def __init__(self, message: str = WRONG_PASSWORD) -> None:
        super().__init__("NotAuthorizedException", message)


class CodeMismatchException(JsonRESTError):
    def __init__(self) -> None:
        super().__init__("CodeMismatchException", WRONG_CODE)


# --- the SRP-6a maths, as Cognito's clients compute it -------------------------------------------------------


def pad_hex(value: int) -> str:
    """Even-length hex with a leading 00 when the top bit is set (a positive two's-complement number)."""
    text = format(value, "x")
    if len(text) % 2:
        return "0" + text
    return "00" + text if text[0] in "89abcdef" else text


def hex_hash(hex_text: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_text)).hexdigest()


K = int(hex_hash(pad_hex(N) + pad_hex(G)), 16)


def pool_name(user_pool_id: str) -> str:
    """What Cognito's clients hash and sign with: the pool id after its region."""
    return user_pool_id.split("_", 1)[1]


def password_exponent(pool_id: str, user_id: str, password: str, salt_hex: str) -> int:
    """``x = H(salt | H(poolName | userId | ":" | password))``."""
    identity = hashlib.sha256(f"{pool_name(pool_id)}{user_id}:{password}".encode()).hexdigest()
    return int(hex_hash(pad_hex(int(salt_hex, 16)) + identity), 16)


def scrambler(large_a: int, large_b: int) -> int:
    return int(hex_hash(pad_hex(large_a) + pad_hex(large_b)), 16)


def password_key(shared_secret: int, u: int) -> bytes:
    """Cognito's HKDF over ``S`` with ``u`` as salt, 16 bytes."""
    prk = hmac.new(bytes.fromhex(pad_hex(u)), bytes.fromhex(pad_hex(shared_secret)), hashlib.sha256).digest()
    return hmac.new(prk, HKDF_INFO, hashlib.sha256).digest()[:16]


def claim_signature(key: bytes, pool_id: str, user_id: str, secret_block: str, timestamp: str) -> str:
    message = pool_name(pool_id).encode() + user_id.encode() + base64.b64decode(secret_block) + timestamp.encode()
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Challenge:
    """One open ``PASSWORD_VERIFIER`` challenge: the server's secret ``b`` and what the proof is checked with."""

    pool_id: str
    user_id: str
    large_a: int  # the client's SRP_A, sent with InitiateAuth
    verifier: int
    secret: int
    large_b: int

    def expected_signature(self, secret_block: str, timestamp: str) -> str | None:
        if self.large_a % N == 0:
            return None
        u = scrambler(self.large_a, self.large_b)
        if u == 0:
            return None
        shared = pow(self.large_a * pow(self.verifier, u, N) % N, self.secret, N)
        return claim_signature(password_key(shared, u), self.pool_id, self.user_id, secret_block, timestamp)


def new_challenge(pool_id: str, user_id: str, password: str, large_a: int) -> tuple[Challenge, str]:
    """A challenge for a user whose password the pool knows; returns it with its salt (hex)."""
    salt_hex = secrets.token_hex(16)
    verifier = pow(G, password_exponent(pool_id, user_id, password, salt_hex), N)
    secret = secrets.randbelow(N - 2) + 1
    large_b = (K * verifier + pow(G, secret, N)) % N
    return Challenge(pool_id, user_id, large_a, verifier, secret, large_b), salt_hex


# --- state ---------------------------------------------------------------------------------------------------

_lock = threading.Lock()
_challenges: dict[str, Challenge] = {}  # by SECRET_BLOCK
_codes: dict[tuple[str, str, str], str] = {}  # (purpose, pool id, username) -> code


def _remember_challenge(secret_block: str, challenge: Challenge) -> None:
    with _lock:
        if len(_challenges) >= MAX_OPEN_CHALLENGES:
            _challenges.pop(next(iter(_challenges)))
        _challenges[secret_block] = challenge


def _issue_code(purpose: str, pool: Any, user: Any, subject: str) -> None:
    """A six-digit code for ``user``, mailed to the address it has (none: kept all the same, as Cognito would fail
    to deliver it)."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    with _lock:
        _codes[(purpose, pool.id, user.username)] = code
    address = user.attribute_lookup.get("email")
    if address:
        from moto.ses.models import Message, ses_backends

        ses_backends[pool.account_id][pool.region].sent_messages.append(Message(
            secrets.token_hex(16), CODE_SENDER, subject, f"Your verification code is {code}",
            {"ToAddresses": [address]}))


def latest_code(purpose: str, pool_id: str, username: str) -> str | None:
    """The code waiting for ``username`` (``sign_up`` or ``forgot_password``), for tests and tools."""
    with _lock:
        return _codes.get((purpose, pool_id, username))


def _check_code(purpose: str, pool: Any, user: Any, code: str) -> None:
    key = (purpose, pool.id, user.username)
    with _lock:
        expected = _codes.get(key)
        if expected is None or not hmac.compare_digest(expected, code or ""):
            raise CodeMismatchException()
        del _codes[key]


def _pool_and_user(client_id: str, username: str) -> tuple[Any, Any]:
    try:
        pool, _ = _find_client(client_id)
    except OAuthError:
        return None, None
    return pool, pool._get_user(username)


# --- wrapped response handlers -------------------------------------------------------------------------------


def _initiate_auth(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def initiate_auth(self: Any) -> Any:
        result = original(self)
        if self._get_param("AuthFlow") != "USER_SRP_AUTH":
            return result
        answer = result.result
        parameters = answer["ChallengeParameters"]
        pool, user = _pool_and_user(self._get_param("ClientId"), parameters["USERNAME"])
        try:
            large_a = int(str((self._get_param("AuthParameters") or {}).get("SRP_A")), 16)
        except ValueError:
            raise NotAuthorizedException("SRP_A is not a hexadecimal number.") from None
        challenge, salt_hex = new_challenge(pool.id, parameters["USER_ID_FOR_SRP"], user.password, large_a)
        secret_block = base64.b64encode(secrets.token_bytes(64)).decode()
        backend = pool.backend
        backend.sessions[secret_block] = backend.sessions.pop(answer["Session"])  # moto finds it by secret block
        _remember_challenge(secret_block, challenge)
        parameters.update(SALT=salt_hex, SRP_B=pad_hex(challenge.large_b), SECRET_BLOCK=secret_block)
        answer["Session"] = secret_block
        return result

    return initiate_auth


def _respond_to_auth_challenge(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def respond_to_auth_challenge(self: Any) -> Any:
        if self._get_param("ChallengeName") == "PASSWORD_VERIFIER":
            responses = self._get_param("ChallengeResponses") or {}
            secret_block = str(responses.get("PASSWORD_CLAIM_SECRET_BLOCK") or "")
            with _lock:
                challenge = _challenges.pop(secret_block, None)
            expected = None if challenge is None else challenge.expected_signature(
                secret_block, str(responses.get("TIMESTAMP") or ""))
            signature = str(responses.get("PASSWORD_CLAIM_SIGNATURE") or "")
            if expected is None or not hmac.compare_digest(expected, signature):
                raise NotAuthorizedException()
        return original(self)

    return respond_to_auth_challenge


def _sign_up(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def sign_up(self: Any) -> Any:
        result = original(self)
        answer = result.result
        if not answer.get("UserConfirmed") and answer.get("CodeDeliveryDetails"):
            pool, user = _pool_and_user(self._get_param("ClientId"), self._get_param("Username"))
            if user is not None:
                _issue_code("sign_up", pool, user, "Your verification code")
        return result

    return sign_up


def _confirm_sign_up(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def confirm_sign_up(self: Any) -> Any:
        from moto.cognitoidp.models import UserStatus

        pool, user = _pool_and_user(self._get_param("ClientId"), self._get_param("Username"))
        if user is not None and user.status == UserStatus.UNCONFIRMED:
            _check_code("sign_up", pool, user, str(self._get_param("ConfirmationCode") or ""))
        return original(self)

    return confirm_sign_up


def _forgot_password(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def forgot_password(self: Any) -> Any:
        result = original(self)
        self.response_headers.pop("x-moto-forgot-password-confirmation-code", None)  # the code goes by mail only
        pool, user = _pool_and_user(self._get_param("ClientId"), self._get_param("Username"))
        if user is not None:
            _issue_code("forgot_password", pool, user, "Your password reset code")
        return result

    return forgot_password


def _confirm_forgot_password(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def confirm_forgot_password(self: Any) -> Any:
        pool, user = _pool_and_user(self._get_param("ClientId"), self._get_param("Username"))
        if user is None:
            raise CodeMismatchException()
        _check_code("forgot_password", pool, user, str(self._get_param("ConfirmationCode") or ""))
        return original(self)

    return confirm_forgot_password


_WRAPPERS: dict[str, tuple[Callable[[Callable[[Any], Any]], Callable[[Any], Any]], str]] = {
    "initiate_auth": (_initiate_auth, "USER_SRP_AUTH answers a real SRP-6a challenge (B, salt, secret block "
                                       "from the user's password)"),
    "respond_to_auth_challenge": (_respond_to_auth_challenge, "PASSWORD_VERIFIER checks the password claim's "
                                                              "signature (moto accepts any)"),
    "sign_up": (_sign_up, "an unconfirmed user gets a real six-digit code by e-mail (the local outbox)"),
    "confirm_sign_up": (_confirm_sign_up, "checks the confirmation code (moto ignores it)"),
    "forgot_password": (_forgot_password, "mails a real six-digit reset code instead of moto's response header"),
    "confirm_forgot_password": (_confirm_forgot_password, "checks the reset code (moto takes any code not its own "
                                                          "form)"),
}


def install() -> None:
    """Wrap moto's Cognito response handlers (idempotent)."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    for name, (wrapper, reason) in _WRAPPERS.items():
        patches.wrap(CognitoIdpResponse, name, wrapper, reason=reason, kind="accuracy")


def uninstall() -> None:
    """Put moto's own handlers back (for tests that need moto's trusting behaviour)."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    for name in _WRAPPERS:
        patches.undo(CognitoIdpResponse, name)
