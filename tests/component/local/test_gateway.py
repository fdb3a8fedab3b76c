"""The local HTTP API: JWT authorizer, payload format 2.0 events and API Gateway's error responses.

Three layers: the authorizer against a JWKS of our own key (so expiry and signatures can be forged
honestly), the ASGI app with a fake ``invoke`` (event shape and response mapping, no cloud), and the whole
chain over real HTTP: moto's Cognito tokens -> GatewayServer -> moto Lambda -> in-process handler.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route as StarletteRoute

from crewhouse.local.authorizer import event_claims, render_claim
from crewhouse.local.gateway import (
    GatewayServer,
    LambdaAuthorizer,
    Route,
    RouteTable,
    build_gateway_app,
    lambda_invoker,
)
from crewhouse.platform.jwt_verifier import AuthorizationError, JwtVerifier, token_scopes
from tests.component.local.gap_filler_support import create_function, unique
from tests.support.moto_server import REGION, client, running_moto_server

# --- the authorizer, against a JWKS we control ------------------------------------------------------------

ISSUER = "https://issuer.example/pool"
AUDIENCE = "client-a"


@dataclass
class Keys:
    jwks_url: str
    private_key: rsa.RSAPrivateKey

    def sign(self, claims: dict[str, Any], *, kid: str = "k1", key: rsa.RSAPrivateKey | None = None) -> str:
        return jwt.encode(claims, key or self.private_key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def keys() -> Iterator[Keys]:
    """A JWKS endpoint on loopback publishing one RSA key (kid ``k1``)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    document = json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Keys(f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json", private_key)
    finally:
        server.shutdown()
        server.server_close()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {"iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "token_use": "id",
                            "iat": now, "exp": now + 300}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def authorizer(keys: Keys, audiences: list[str] | None = None) -> JwtVerifier:
    return JwtVerifier(ISSUER, audiences or [AUDIENCE], keys.jwks_url)


def test_a_valid_token_yields_its_claims(keys: Keys) -> None:
    assert authorizer(keys).verify(keys.sign(claims(email="a@example.com")))["email"] == "a@example.com"


# Claims are built when each test runs: tokens made at collection time would expire in a long session.
@pytest.mark.parametrize(("token_claims", "reason"), [
    (lambda: claims(exp=int(time.time()) - 5), "expired"),
    (lambda: claims(iat=int(time.time()) + 3600), "iat"),
    (lambda: claims(nbf=int(time.time()) + 3600), "not yet valid"),
    (lambda: claims(exp=None), "exp"),
    (lambda: claims(iss="https://issuer.example/other"), "issuer"),
    (lambda: claims(aud="client-b"), "audience"),
    (lambda: claims(aud=None), "audience"),  # neither aud nor client_id
    (lambda: claims(aud="client-b", client_id=AUDIENCE), "audience"),  # aud decides when present
    (lambda: claims(token_use="refresh"), "token_use"),
    (lambda: claims(token_use=None), "token_use"),
])
def test_tokens_api_gateway_would_refuse(keys: Keys, token_claims: Callable[[], dict[str, Any]],
                                         reason: str) -> None:
    with pytest.raises(AuthorizationError, match=reason):
        authorizer(keys).verify(keys.sign(token_claims()))


def test_audience_rule_of_api_gateway(keys: Keys) -> None:
    auth = authorizer(keys, ["client-b", AUDIENCE])
    assert auth.verify(keys.sign(claims(aud=None, client_id=AUDIENCE, token_use="access")))["sub"] == "user-1"
    assert auth.verify(keys.sign(claims(aud=["other", "client-b"])))["sub"] == "user-1"


def test_signatures_are_checked(keys: Keys) -> None:
    auth = authorizer(keys)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(AuthorizationError):
        auth.verify(keys.sign(claims(), key=stranger))  # right kid, wrong key
    with pytest.raises(AuthorizationError, match="signing key"):
        auth.verify(keys.sign(claims(), kid="unknown"))
    unsigned = jwt.encode(claims(), key=None, algorithm="none", headers={"kid": "k1"})  # type: ignore[arg-type]
    with pytest.raises(AuthorizationError):
        auth.verify(unsigned)
    with pytest.raises(AuthorizationError):
        auth.verify("not-a-jwt")


def test_claims_are_rendered_like_api_gateway() -> None:
    assert render_claim(["admin", "member"]) == "[admin member]"
    assert render_claim(1700000000) == "1700000000"
    assert render_claim(True) == "true"
    assert render_claim({"city": "Oslo"}) == '{"city":"Oslo"}'
    assert event_claims({"sub": "u", "cognito:groups": ["admin"], "gone": None, "n": 3}) == {
        "sub": "u", "cognito:groups": "[admin]", "n": "3"}
    assert token_scopes({"scope": "a b"}) == ["a", "b"]
    assert token_scopes({"scp": ["x"]}) == ["x"]
    assert token_scopes({}) is None


# --- the ASGI app with a fake invoke ----------------------------------------------------------------------


class FakeLambda:
    """Records events; answers with whatever ``reply`` returns for the event."""

    def __init__(self, reply: Callable[[dict[str, Any]], tuple[Any, str | None]] | None = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.reply = reply or (lambda event: ({"statusCode": 200, "body": "ok"}, None))

    def __call__(self, function_name: str, event: dict[str, Any]) -> tuple[Any, str | None]:
        self.events.append(event)
        return self.reply(event)


@contextmanager
def app_client(fake: FakeLambda, *routes: Route, **options: Any) -> Iterator[httpx.Client]:
    """The gateway app on a loopback port, and a client for it."""
    table = RouteTable(routes or (Route("ANY /{proxy+}", "fn", None),))
    with GatewayServer(build_gateway_app(table, fake, **options), port=0) as server, \
            httpx.Client(base_url=server.url) as http:
        yield http


def test_event_shape_without_authorizer() -> None:
    fake = FakeLambda()
    with app_client(fake, Route("POST /orders/{id}", "fn", None)) as http:
        response = http.post("/orders/a%20b?x=1&x=2&q=a%26b&flag", content=b'{"n": 1}',
                             headers=[("content-type", "application/json"), ("x-dup", "1"), ("x-dup", "2"),
                                      ("cookie", "a=1; b=2")])
    assert response.status_code == 200 and response.text == "ok"
    event = fake.events[0]
    assert event["version"] == "2.0" and event["routeKey"] == "POST /orders/{id}"
    assert event["rawPath"] == "/orders/a b"  # HTTP APIs decode the path ...
    assert event["rawQueryString"] == "x=1&x=2&q=a%26b&flag"  # ... but not the query string
    assert event["queryStringParameters"] == {"x": "1,2", "q": "a&b", "flag": ""}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["cookies"] == ["a=1", "b=2"] and "cookie" not in event["headers"]
    assert event["headers"]["x-dup"] == "1,2"
    assert event["body"] == '{"n": 1}' and event["isBase64Encoded"] is False
    assert "stageVariables" not in event
    context = event["requestContext"]
    assert "authorizer" not in context
    assert context["http"] == {"method": "POST", "path": "/orders/a b", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": f"python-httpx/{httpx.__version__}"}
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert (context["accountId"], context["stage"], context["routeKey"]) == ("000000000000", "$default",
                                                                             "POST /orders/{id}")
    assert context["requestId"] == response.headers["apigw-requestid"]
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60
    assert time.strftime("%Y", time.gmtime()) in context["time"]


@pytest.mark.parametrize(("content_type", "encoded"), [
    ("text/plain; charset=utf-8", False), ("application/vnd.api+json", False),
    ("application/x-www-form-urlencoded", True), ("application/octet-stream", True), (None, True),
])
def test_non_text_bodies_arrive_base64_encoded(content_type: str | None, encoded: bool) -> None:
    fake = FakeLambda()
    body = b"a=1&b=\xc3\xa9"
    with app_client(fake) as http:
        http.post("/x", content=body, headers={"content-type": content_type} if content_type else {})
    event = fake.events[0]
    assert event["isBase64Encoded"] is encoded
    assert (base64.b64decode(event["body"]) if encoded else event["body"].encode()) == body


def test_get_without_body_has_no_body_field() -> None:
    fake = FakeLambda()
    with app_client(fake) as http:
        http.get("/x")
    assert "body" not in fake.events[0] and "queryStringParameters" not in fake.events[0]
    assert "pathParameters" in fake.events[0]  # {proxy+}


def test_body_limit_is_inclusive() -> None:
    fake = FakeLambda()
    with app_client(fake, max_body_bytes=10) as http:
        assert http.post("/x", content=b"x" * 10).status_code == 200
        too_big = http.post("/x", content=b"x" * 11)
        chunked = http.post("/x", content=iter([b"x" * 6, b"x" * 5]))  # no content-length to go by
    assert too_big.status_code == 413 and too_big.json() == {"message": "Request Entity Too Large"}
    assert chunked.status_code == 413 and "content-length" not in chunked.request.headers
    assert len(fake.events) == 1


def test_response_mapping() -> None:
    replies: dict[str, Any] = {
        "/binary": {"statusCode": 201, "isBase64Encoded": True, "body": base64.b64encode(b"\x00\xff").decode(),
                    "headers": {"content-type": "application/octet-stream", "x-n": 5},
                    "cookies": ["a=1", "b=2; Secure"]},
        "/inferred": {"items": [1, 2]},
        "/string": "hello",
        "/nobody": {"statusCode": 204},
        "/bad-status": {"statusCode": "200", "body": "x"},
        "/bad-body": {"statusCode": 200, "body": {"not": "a string"}},
        "/multi": {"statusCode": 200, "multiValueHeaders": {"x-m": ["1", "2"]}, "body": ""},
    }
    fake = FakeLambda(lambda event: (replies[event["rawPath"]], None))
    with app_client(fake) as http:
        binary = http.get("/binary")
        assert (binary.status_code, binary.content, binary.headers["x-n"]) == (201, b"\x00\xff", "5")
        assert binary.headers.get_list("set-cookie") == ["a=1", "b=2; Secure"]
        inferred = http.get("/inferred")
        assert (inferred.status_code, inferred.headers["content-type"], inferred.json()) == (
            200, "application/json", {"items": [1, 2]})
        assert http.get("/string").json() == "hello"
        assert (http.get("/nobody").status_code, http.get("/nobody").content) == (204, b"")
        for path in ("/bad-status", "/bad-body"):
            bad = http.get(path)
            assert (bad.status_code, bad.json()) == (500, {"message": "Internal Server Error"})
        assert "x-m" not in http.get("/multi").headers  # a payload 1.0 field; HTTP APIs ignore it in 2.0


def test_errors_of_the_integration() -> None:
    def reply(event: dict[str, Any]) -> tuple[Any, str | None]:
        if event["rawPath"] == "/raises":
            raise RuntimeError("cannot reach Lambda")
        if event["rawPath"] == "/slow":
            time.sleep(1)
        return {"errorMessage": "boom", "errorType": "ValueError"}, "Unhandled"

    fake = FakeLambda(reply)
    routes = (Route("GET /raises", "fn", None), Route("GET /unhandled", "fn", None),
              Route("GET /slow", "fn", None, timeout_seconds=0.2))
    with app_client(fake, *routes) as http:
        for path in ("/raises", "/unhandled"):
            failed = http.get(path)
            assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
        started = time.monotonic()
        slow = http.get("/slow")
        assert (slow.status_code, slow.json()) == (503, {"message": "Service Unavailable"})
        assert time.monotonic() - started < 0.9
        missing = http.get("/nowhere")
        assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})
        assert missing.headers["apigw-requestid"]


def test_scoped_routes(keys: Keys) -> None:
    auth = authorizer(keys)
    fake = FakeLambda()
    routes = (Route("GET /scoped", "fn", auth, authorization_scopes=("crew/read", "crew/write")),
              Route("GET /open", "fn", auth))
    token = keys.sign(claims(aud=None, client_id=AUDIENCE, token_use="access", scope="crew/read other"))
    plain = keys.sign(claims(scope="other"))
    with app_client(fake, *routes) as http:
        assert http.get("/scoped", headers={"authorization": token}).status_code == 200
        assert fake.events[-1]["requestContext"]["authorizer"]["jwt"]["scopes"] == ["crew/read", "other"]
        refused = http.get("/scoped", headers={"authorization": f"Bearer {plain}"})
        assert (refused.status_code, refused.json()) == (403, {"message": "Forbidden"})
        assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
        assert http.get("/open", headers={"authorization": f"Bearer {token}"}).status_code == 200
        # Measured AWS behaviour: without route scopes the event carries scopes: null (claims.scope stays).
        jwt_context = fake.events[-1]["requestContext"]["authorizer"]["jwt"]
        assert jwt_context["scopes"] is None and jwt_context["claims"]["scope"] == "crew/read other"


def test_lambda_authorizer_answers_map_to_statuses_and_are_cached_per_header() -> None:
    """Simple responses: an allowed caller's context reaches the function as ``authorizer.lambda``; false is a
    403; the error ``Unauthorized`` a 401 (not cached); any other error or shape a 500; no header a 401
    without invoking the authorizer. Answers are kept ``ttl_seconds`` per header value."""
    verdicts = {"good": ({"isAuthorized": True, "context": {"sub": "ada", "iat": 7}}, None),
                "denied": ({"isAuthorized": False}, None),
                "refused": ({"errorMessage": "Unauthorized", "errorType": "Exception"}, "Unhandled"),
                "broken": ({"errorMessage": "boom", "errorType": "KeyError"}, "Unhandled"),
                "odd": ({"allow": True}, None)}
    asked: list[str] = []

    def reply(event: dict[str, Any]) -> tuple[Any, str | None]:
        if event.get("type") == "REQUEST":
            asked.append(event["identitySource"][0])
            assert event["routeKey"] == "GET /items" and event["version"] == "2.0" and "body" not in event
            return verdicts[event["identitySource"][0]]
        return {"statusCode": 200, "body": "ok"}, None

    fake = FakeLambda(reply)
    gate = LambdaAuthorizer("authorizer-fn", ttl_seconds=1)
    with app_client(fake, Route("GET /items", "fn", gate)) as http:
        def status(token: str | None) -> int:
            return http.get("/items", headers={"authorization": token} if token else {}).status_code

        assert status(None) == 401 and asked == []
        assert [status(t) for t in ("good", "denied", "refused", "broken", "odd")] == [200, 403, 401, 500, 500]
        assert fake.events[1]["requestContext"]["authorizer"] == {"lambda": {"sub": "ada", "iat": 7}}
        assert [status(t) for t in ("good", "denied", "refused")] == [200, 403, 401]
        assert asked == ["good", "denied", "refused", "broken", "odd", "refused"]  # allow and deny were cached
        verdicts["good"] = verdicts["refused"]  # revoked meanwhile: refused once the cached answer expires
        deadline = time.monotonic() + 5
        while status("good") == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status("good") == 401 and asked.count("good") == 3


def test_extra_routes_come_first() -> None:
    async def docs(request: Request) -> Response:
        return PlainTextResponse("local docs")

    fake = FakeLambda()
    with app_client(fake, extra_routes=[StarletteRoute("/docs", docs)]) as http:
        assert http.get("/docs").text == "local docs"
        assert http.get("/docs/more").text == "ok"
    assert [e["rawPath"] for e in fake.events] == ["/docs/more"]


# --- the whole chain on a moto server ---------------------------------------------------------------------


@dataclass
class Stack:
    url: str
    pool_id: str
    id_token: str
    access_token: str
    foreign_token: str  # same signing key (moto shares one), other pool: only the issuer tells them apart
    sub: str


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_moto_server() as endpoint:
        idp = client("cognito-idp", endpoint)

        def pool_with_user(username: str) -> tuple[str, str, dict[str, str]]:
            pool_id = idp.create_user_pool(PoolName=unique("crew"))["UserPool"]["Id"]
            client_id = idp.create_user_pool_client(
                UserPoolId=pool_id, ClientName="web",
                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            )["UserPoolClient"]["ClientId"]
            idp.admin_create_user(UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
                                  TemporaryPassword="Temp-Pass-123!")
            idp.admin_set_user_password(UserPoolId=pool_id, Username=username, Password="Real-Pass-123!",
                                        Permanent=True)
            idp.create_group(UserPoolId=pool_id, GroupName="admin")
            idp.create_group(UserPoolId=pool_id, GroupName="member")
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName="admin")
            idp.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName="member")
            tokens = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                       AuthParameters={"USERNAME": username, "PASSWORD": "Real-Pass-123!"})
            return pool_id, client_id, tokens["AuthenticationResult"]

        pool_id, client_id, tokens = pool_with_user("alice")
        other_client = idp.create_user_pool_client(UserPoolId=pool_id, ClientName="other")["UserPoolClient"]
        _, _, foreign = pool_with_user("mallory")
        user = idp.admin_get_user(UserPoolId=pool_id, Username="alice")
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")

        def auth(audience: str) -> JwtVerifier:
            return JwtVerifier(f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}", [audience],
                                 f"{endpoint}/{pool_id}/.well-known/jwks.json")

        echo, _ = create_function(endpoint, "http_echo")
        sleeper, _ = create_function(endpoint, "http_sleep")
        failing, _ = create_function(endpoint, "fail")
        bare, _ = create_function(endpoint, "http_bare")
        table = RouteTable([
            Route("GET /items/{id}", echo, auth(client_id)),
            Route("ANY /files/{proxy+}", echo, auth(client_id)),
            Route("GET /other-audience", echo, auth(other_client["ClientId"])),
            Route("GET /public", echo, None),
            Route("POST /upload", echo, None),
            Route("GET /slow", sleeper, None, timeout_seconds=0.5),
            Route("GET /boom", failing, None),
            Route("GET /bare", bare, None),
        ])
        app = build_gateway_app(table, lambda_invoker(endpoint, REGION))
        with GatewayServer(app, port=0) as server:
            yield Stack(server.url, pool_id, tokens["IdToken"], tokens["AccessToken"], foreign["IdToken"], sub)


def echoed(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    event: dict[str, Any] = response.json()["event"]
    return event


def test_authorized_request_reaches_the_function(stack: Stack) -> None:
    response = httpx.get(f"{stack.url}/items/42?tag=a&tag=b&q=hello%20world",
                         headers={"authorization": f"Bearer {stack.id_token}", "cookie": "theme=light"})
    event = echoed(response)
    assert (event["routeKey"], event["rawPath"], event["pathParameters"]) == ("GET /items/{id}", "/items/42",
                                                                              {"id": "42"})
    assert event["rawQueryString"] == "tag=a&tag=b&q=hello%20world"
    assert event["queryStringParameters"] == {"tag": "a,b", "q": "hello world"}
    assert event["cookies"] == ["theme=light"]
    jwt_context = event["requestContext"]["authorizer"]["jwt"]
    assert jwt_context["claims"]["sub"] == stack.sub
    assert jwt_context["claims"]["token_use"] == "id"
    groups = jwt_context["claims"]["cognito:groups"]  # moto does not keep the groups in order
    assert groups in ("[admin member]", "[member admin]")
    assert jwt_context["claims"]["exp"].isdigit()
    assert jwt_context["scopes"] is None
    assert response.headers["x-handler"] == "http_echo"
    assert response.headers.get_list("set-cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]
    assert response.headers["apigw-requestid"] == event["requestContext"]["requestId"]


def test_access_token_without_bearer_prefix_and_greedy_path(stack: Stack) -> None:
    event = echoed(httpx.delete(f"{stack.url}/files/a/b/c.txt", headers={"authorization": stack.access_token}))
    assert (event["routeKey"], event["pathParameters"]) == ("ANY /files/{proxy+}", {"proxy": "a/b/c.txt"})
    claims_seen = event["requestContext"]["authorizer"]["jwt"]["claims"]
    assert (claims_seen["token_use"], claims_seen["scope"]) == ("access", "aws.cognito.signin.user.admin")


def tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    middle = len(signature) // 2  # not the last character: its low bits are padding and may not count
    flipped = "A" if signature[middle] != "A" else "B"
    return ".".join([header, payload, signature[:middle] + flipped + signature[middle + 1:]])


@pytest.mark.parametrize(("path", "token", "description"), [
    ("/items/1", None, None),
    ("/items/1", "tampered", "signature"),
    ("/items/1", "foreign", "issuer"),
    ("/other-audience", "id", "audience"),
    ("/files/x", "", "segments"),  # "Authorization: Bearer" alone
])
def test_unauthorized_requests(stack: Stack, path: str, token: str | None, description: str | None) -> None:
    tokens = {"id": stack.id_token, "tampered": tampered(stack.id_token), "foreign": stack.foreign_token, "": ""}
    headers = {} if token is None else {"authorization": f"Bearer {tokens[token]}".strip()}
    response = httpx.get(f"{stack.url}{path}", headers=headers)
    assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if description:
        assert 'error="invalid_token"' in challenge and description in challenge.lower()


def test_public_route_needs_no_token(stack: Stack) -> None:
    event = echoed(httpx.get(f"{stack.url}/public"))
    assert "authorizer" not in event["requestContext"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"


def test_bodies_over_10_mb_are_refused(stack: Stack) -> None:
    response = httpx.post(f"{stack.url}/upload", content=b"x" * (10 * 1024 * 1024 + 1),
                          headers={"content-type": "text/plain"}, timeout=30)
    assert (response.status_code, response.json()) == (413, {"message": "Request Entity Too Large"})
    event = echoed(httpx.post(f"{stack.url}/upload", content=b"\x00\x01", headers={"content-type": "image/png"}))
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, b"\x00\x01")


def test_integration_timeout(stack: Stack) -> None:
    started = time.monotonic()
    response = httpx.get(f"{stack.url}/slow?seconds=1.5", timeout=10)
    assert (response.status_code, response.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 1.4
    assert httpx.get(f"{stack.url}/slow?seconds=0").status_code == 204


def test_function_error_and_unknown_route(stack: Stack) -> None:
    failed = httpx.get(f"{stack.url}/boom")
    assert (failed.status_code, failed.json()) == (500, {"message": "Internal Server Error"})
    missing = httpx.get(f"{stack.url}/files")  # /files/{proxy+} does not take /files
    assert (missing.status_code, missing.json()) == (404, {"message": "Not Found"})


def test_result_without_status_code_is_the_json_body(stack: Stack) -> None:
    response = httpx.get(f"{stack.url}/bare")
    assert (response.status_code, response.headers["content-type"]) == (200, "application/json")
    assert response.json() == {"hello": "world", "path": "/bare"}
