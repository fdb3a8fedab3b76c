"""S3 behaviour the files context relies on that moto 5.2.5 does not implement (server mode).

Covers:
- **Bucket policy conditions.** moto's ``IAMPolicyStatement.is_action_permitted`` answers DENIED for a statement
  whose ``Condition`` does not hold, so CDK's TLS-only statement (Deny ``s3:*`` if ``aws:SecureTransport`` is
  false) denies every object request. Here a statement applies only when its conditions hold; the embedded
  endpoint (plain HTTP on loopback, standing in for S3's TLS endpoint) counts as ``aws:SecureTransport=true``,
  and condition keys the emulator cannot know (object tags, principal ARNs) never hold.
- **Presigned requests.** moto never checks a presigned URL's signature or expiry, nor a presigned POST's
  policy. Query-string SigV4 requests (``X-Amz-Signature``) are verified here (canonical request, signing key,
  ``X-Amz-Expires``), and so are POST policies (signature, ``expiration``, every condition: ``bucket``,
  ``key``, ``Content-Type``, ``content-length-range``, ``starts-with`` and ``x-amz-*`` fields). Failures answer
  S3's 403 ``AccessDenied`` / ``SignatureDoesNotMatch`` or 400 ``EntityTooLarge`` / ``EntityTooSmall``.
  The secret key is the one this process signs with (the local credentials). A browser's CORS preflight
  (OPTIONS) to a presigned URL is not checked: S3 answers it from the bucket's CORS rules alone.
- **CORS preflights.** moto authorizes an OPTIONS request (``s3:ObjectCORSPreflightCheck``) with the presigned
  URL's credentials; S3 never does. Here the preflight is answered from the bucket's CORS rules only.
- **One event per completed multipart upload.** moto's ``complete_multipart_upload`` stores the object through its
  own ``put_object``, which sends ``ObjectCreated:Put``, then sends ``ObjectCreated:CompleteMultipartUpload``:
  every consumer (the files checks, the malware scan) ran twice. Here the inner put sends nothing, as in S3.
- **Part checksums.** moto ignores ``x-amz-checksum-sha256`` on UploadPart and lists no ``ChecksumSHA256`` in
  ListParts. Here a part whose bytes do not match the header is refused (400 ``BadDigest``) and ListParts
  reports each part's checksum.

Requests signed in the ``Authorization`` header (SDK calls) are left to moto, which does not verify them.
Call :func:`install` in the process that runs the moto server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from crewhouse.local import iam, patches
from crewhouse.local.iam import as_list, condition_holds, glob_match

LOCAL_CONDITION_CONTEXT = {"aws:securetransport": "true"}
_originals: dict[str, Callable[..., Any]] = {}
_completing = threading.local()  # set while this thread completes a multipart upload

Response = tuple[int, dict[str, str], bytes]


def _error(status: int, code: str, message: str) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>local</RequestId></Error>").encode()
    return status, {"Content-Type": "application/xml"}, body


# --- bucket policies ---------------------------------------------------------------------------------------


def evaluate_bucket_policy(policy: str | bytes | None, action: str, resource: str,
                           context: Mapping[str, str] = LOCAL_CONDITION_CONTEXT) -> str:
    """``"DENIED"``, ``"PERMITTED"`` or ``"NEUTRAL"`` for an anonymous-or-any principal's request."""
    if not policy:
        return "NEUTRAL"
    document = json.loads(policy)
    result = "NEUTRAL"
    for statement in as_list(document.get("Statement", [])):
        principal = statement.get("Principal")
        if principal not in ("*", {"AWS": "*"}):
            continue  # moto cannot tell who signed: statements for named principals are not applied
        actions = as_list(statement.get("Action", []))
        if not any(glob_match(a, action, ignore_case=True) for a in actions):
            continue
        if not any(glob_match(r, resource) for r in as_list(statement.get("Resource", []))):
            continue
        if not condition_holds(statement.get("Condition") or {}, context):
            continue
        if statement.get("Effect") == "Deny":
            return "DENIED"
        result = "PERMITTED"
    return result


def _bucket_get_permission(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import PermissionResult

    verdict = evaluate_bucket_policy(self.policy.decode() if isinstance(self.policy, bytes) else self.policy,
                                     action, resource)
    return getattr(PermissionResult, verdict)


# --- signatures --------------------------------------------------------------------------------------------


def secret_for(access_key: str) -> str | None:
    """The secret of ``access_key``: the credentials of this process, or a function's role credentials (what the
    local functions sign with, see :mod:`crewhouse.local.iam`)."""
    if access_key == os.environ.get("AWS_ACCESS_KEY_ID"):
        return os.environ.get("AWS_SECRET_ACCESS_KEY")
    if access_key == "test":
        return "test"
    from crewhouse.local.deploy import ACCOUNT_ID

    return iam.secret_for(access_key, ACCOUNT_ID)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _amz_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name.replace("+", "%20")), unquote(value.replace("+", "%20"))))
    return pairs


def verify_presigned_query(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str],
                           now: datetime | None = None) -> Response | None:
    """None when a query-string SigV4 request is valid (or is not one); else S3's error response.

    A CORS preflight (OPTIONS) is never authenticated: the browser sends it to the presigned URL without the
    request's headers, and S3 answers it from the bucket's CORS rules alone."""
    if method.upper() == "OPTIONS":
        return None
    pairs = _query_pairs(raw_query)
    params = dict(pairs)
    if "X-Amz-Signature" not in params:
        # SigV2: only the expiry is checked
        if ("Signature" in params and "Expires" in params
                and int(params["Expires"]) < (now or datetime.now(UTC)).timestamp()):
            return _error(403, "AccessDenied", "Request has expired")
        return None
    try:
        access_key, date, region, service, _ = params["X-Amz-Credential"].split("/")
        issued = _amz_time(params["X-Amz-Date"])
        expires = int(params["X-Amz-Expires"])
        signed_headers = params["X-Amz-SignedHeaders"].split(";")
    except (KeyError, ValueError):
        return _error(400, "AuthorizationQueryParametersError", "The presigned query parameters are malformed")
    if issued + timedelta(seconds=expires) < (now or datetime.now(UTC)):
        return _error(403, "AccessDenied", "Request has expired")
    secret = secret_for(access_key)
    if secret is None:
        return _error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    lowered = {k.lower(): v for k, v in headers.items()}
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(pairs) if k != "X-Amz-Signature")
    canonical_headers = "".join(f"{h}:{' '.join(str(lowered.get(h, '')).split())}\n" for h in signed_headers)
    payload = lowered.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
    canonical = "\n".join([method.upper(), raw_path, canonical_query, canonical_headers, ";".join(signed_headers),
                           payload])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    expected = hmac.new(signing_key(secret, date, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        return _error(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.")
    return None


def verify_post_policy(bucket: str, form: Mapping[str, str], file_size: int,
                       now: datetime | None = None) -> Response | None:
    """None when a browser-based (POST) upload satisfies its signed policy; else S3's error response."""
    fields = {k.lower(): v for k, v in form.items()}
    if "policy" not in fields:
        return None  # not a presigned POST
    try:
        policy = json.loads(base64.b64decode(fields["policy"]))
        access_key, date, region, service, _ = fields["x-amz-credential"].split("/")
        signature = fields["x-amz-signature"]
    except (KeyError, ValueError):
        return _error(403, "AccessDenied", "Invalid according to Policy: the policy or its signature is malformed")
    secret = secret_for(access_key)
    if secret is None:
        return _error(403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
    expected = hmac.new(signing_key(secret, date, region, service), fields["policy"].encode(),
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return _error(403, "SignatureDoesNotMatch",
                      "The request signature we calculated does not match the signature you provided.")
    expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
    if expiration < (now or datetime.now(UTC)):
        return _error(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**fields, "bucket": bucket}
    covered = {"policy", "x-amz-signature", "file"}
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            ((name, wanted),) = condition.items()
            name = name.lower()
            covered.add(name)
            if values.get(name) != str(wanted):
                return _error(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: "
                                                   f'["eq", "${name}", "{wanted}"]')
        elif condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if file_size > high:
                return _error(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size")
            if file_size < low:
                return _error(400, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size")
        else:
            operator, name, wanted = condition[0], str(condition[1]).lstrip("$").lower(), str(condition[2])
            covered.add(name)
            actual = values.get(name, "")
            if (operator == "eq" and actual != wanted) or (operator == "starts-with" and not actual.startswith(wanted)):
                return _error(403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: "
                                                   f'["{operator}", "${name}", "{wanted}"]')
    extra = sorted(f for f in fields if f not in covered and not f.startswith("x-ignore-"))
    if extra:
        return _error(403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {extra[0]}")
    return None


# --- request hooks -----------------------------------------------------------------------------------------


def _raw_target(request: Any) -> tuple[str, str]:
    environ = getattr(request, "environ", {}) or {}
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path, _, query = raw.partition("?")
        return path, query
    return quote(request.path, safe="/~"), environ.get("QUERY_STRING", "")


def _key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
    path, query = _raw_target(request)
    refused = verify_presigned_query(request.method, path, query, dict(request.headers))
    if refused is not None:
        return refused
    if request.method == "PUT" and "partNumber=" in query and "uploadId=" in query:
        refused = _check_part_checksum(request)
        if refused is not None:
            return refused
    response = _originals["key_response"](self, request, full_url, headers)
    if request.method == "PUT" and "partNumber=" in query and "uploadId=" in query:
        _remember_part_checksum(self, request)
    elif request.method == "GET" and "uploadId=" in query and "partNumber=" not in query:
        response = _with_part_checksums(self, request, response)
    return response


def _bucket_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
    path, query = _raw_target(request)
    refused = verify_presigned_query(request.method, path, query, dict(request.headers))
    if refused is not None:
        return refused
    if request.method == "POST" and "policy" in request.form:
        upload = request.files.get("file")
        size = 0
        if upload is not None:
            upload.stream.seek(0, os.SEEK_END)
            size = upload.stream.tell()
            upload.stream.seek(0)
        elif "file" in request.form:
            size = len(request.form["file"].encode())
        bucket = path.strip("/").split("/", 1)[0]
        refused = verify_post_policy(bucket, {k: v for k, v in request.form.items() if k != "file"}, size)
        if refused is not None:
            return refused
    return _originals["bucket_response"](self, request, full_url, headers)


def _part_target(request: Any) -> tuple[str, str, int]:
    bucket, _, _key = request.path.lstrip("/").partition("/")
    return bucket, request.args["uploadId"], int(request.args["partNumber"])


def _check_part_checksum(request: Any) -> Response | None:
    claimed = request.headers.get("x-amz-checksum-sha256")
    if not claimed:
        return None
    actual = base64.b64encode(hashlib.sha256(request.get_data()).digest()).decode()
    if actual != claimed:
        return _error(400, "BadDigest", "The SHA256 you specified did not match the calculated checksum.")
    return None


def _remember_part_checksum(self: Any, request: Any) -> None:
    claimed = request.headers.get("x-amz-checksum-sha256")
    if not claimed:
        return
    bucket, upload_id, number = _part_target(request)
    try:
        part = self.backend.get_bucket(bucket).multiparts[upload_id].parts[number]
    except (KeyError, AttributeError):
        return
    part.crewhouse_checksum_sha256 = claimed


def _with_part_checksums(self: Any, request: Any, response: Any) -> Any:
    status, headers, body = response
    if status != 200:
        return response
    bucket, _, _ = request.path.lstrip("/").partition("/")
    try:
        parts = self.backend.get_bucket(bucket).multiparts[request.args["uploadId"]].parts
    except (KeyError, AttributeError):
        return response
    text = body.decode() if isinstance(body, bytes) else str(body)

    def add(match: re.Match[str]) -> str:
        number = int(match.group(1))
        checksum = getattr(parts.get(number), "crewhouse_checksum_sha256", None)
        return match.group(0) + (f"<ChecksumSHA256>{checksum}</ChecksumSHA256>" if checksum else "")

    text = re.sub(r"<PartNumber>(\d+)</PartNumber>", add, text)
    return status, headers, text.encode()


def _complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
    _completing.active = True
    try:
        return _originals["complete_multipart_upload"](self, *args, **kwargs)
    finally:
        _completing.active = False


def _put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
    if getattr(_completing, "active", False):
        kwargs["disable_notification"] = True  # the completion sends its own CompleteMultipartUpload event
    return _originals["put_object"](self, *args, **kwargs)


def install_single_completion_event() -> None:
    """A completed multipart upload sends one ObjectCreated event, not two (idempotent)."""
    from moto.s3.models import S3Backend

    reason = "a completed multipart upload sends only ObjectCreated:CompleteMultipartUpload (moto adds a Put)"
    for name, replacement in (("complete_multipart_upload", _complete_multipart_upload),
                              ("put_object", _put_object)):
        _originals[name] = patches.patch(S3Backend, name, replacement, reason=reason, kind="accuracy").original


def _response_options(self: Any, headers: Any, bucket_name: str) -> Response:
    """A CORS preflight, answered from the bucket's CORS rules without authenticating it (as S3 does: the browser
    sends no credentials with it; moto checks the presigned URL's role for ``s3:ObjectCORSPreflightCheck``)."""
    from moto.s3.exceptions import MissingBucket

    try:
        bucket = self.backend.head_bucket(bucket_name)
    except MissingBucket:
        return 403, {}, b""
    self._set_cors_headers_options(headers, bucket)  # S3's 403 when no rule allows the origin
    return 200, self.response_headers, b""


def install() -> None:
    """Patch moto's S3 (idempotent)."""
    install_single_completion_event()
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    presigned = "verifies presigned URLs (signature, expiry) and presigned POST policies, which moto never checks"
    for owner, name, replacement, reason in (
        (S3Response, "key_response", _key_response,
         f"{presigned}; refuses a part whose x-amz-checksum-sha256 does not match and lists part checksums"),
        (S3Response, "bucket_response", _bucket_response, presigned),
        (S3Response, "_response_options", _response_options,
         "a CORS preflight is answered from the bucket's CORS rules unauthenticated, as S3 does (moto authorizes it)"),
        (FakeBucket, "get_permission", _bucket_get_permission,
         "a bucket policy statement applies only when its conditions hold (moto denies on any unmet Condition)"),
    ):
        _originals[name] = patches.patch(owner, name, replacement, reason=reason, kind="accuracy").original
