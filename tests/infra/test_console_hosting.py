"""The web console's hosting in the synthesized template (nested stack ``Console``, construct ``Hosting``): a private
bucket read by CloudFront through origin access control only, the security headers (CSP, HSTS …), the SPA
fallback, and ``config.json`` written at deploy time from the stack's tokens. cdk-nag and cfn-lint cover the
nested stack in ``test_nag``/``test_cfn_lint``."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from crewhouse_cdk.constructs import console
from tests.infra.conftest import Synthesized
from tests.infra.test_stack import as_list, props, render, resources

ROOT = "Console/Hosting"
PATHS = {"bucket": f"{ROOT}/Bucket", "distribution": f"{ROOT}/Distribution", "headers": f"{ROOT}/SecurityHeaders",
         "deployment": f"{ROOT}/Deployment/CustomResource-256MiB", "api": "Http/Api", "pool": "Auth/UserPool",
         "client": "Auth/UserPool/MobileClient", "files": "Storage/FilesBucket", "logs": "Storage/AccessLogsBucket",
         "realtime": "Notifications/Realtime/Api", "files_cors": "Console/FilesBucketCors/Rule/Default",
         "files_cors_fn": "Console/FilesBucketCors/Handler/Function"}
ONE_YEAR = 365 * 24 * 3600
CONFIG_READER = console.ROOT / "console" / "src" / "config.ts"


@pytest.fixture(scope="module")
def ids(synth_ok: Synthesized) -> dict[str, str]:
    return {name: synth_ok.logical_id(path) for name, path in PATHS.items()}


def csp_directives(template_json: dict[str, Any], ids: dict[str, str]) -> dict[str, list[str]]:
    config = props(template_json, ids["headers"])["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    text = render(config["ContentSecurityPolicy"]["ContentSecurityPolicy"])
    directives = [d.split() for d in text.split(";") if d.strip()]
    return {d[0]: d[1:] for d in directives}


def test_the_bucket_is_private_encrypted_and_logged(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    bucket = props(template_json, ids["bucket"])
    assert bucket["PublicAccessBlockConfiguration"] == {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                                        "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": ids["logs"]}
    assert "WebsiteConfiguration" not in bucket  # served by CloudFront from the REST endpoint, not as a website


def test_cloudfront_reads_the_bucket_through_origin_access_control(template_json: dict[str, Any],
                                                                   ids: dict[str, str]) -> None:
    config = props(template_json, ids["distribution"])["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["DomainName"] == {"Fn::GetAtt": [ids["bucket"], "RegionalDomainName"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}  # no legacy OAI
    oac_id = origin["OriginAccessControlId"]["Fn::GetAtt"][0]
    oac = props(template_json, oac_id)["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == (
        "s3", "always", "sigv4")
    behavior = config["DefaultCacheBehavior"]
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["ResponseHeadersPolicyId"] == {"Ref": ids["headers"]}


def test_the_bucket_policy_allows_only_the_distribution(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    (policy,) = [p["Properties"] for p in resources(template_json, "AWS::S3::BucketPolicy").values()
                 if p["Properties"]["Bucket"] == {"Ref": ids["bucket"]}]
    statements = policy["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1, allows
    (allow,) = allows
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert as_list(allow["Action"]) == ["s3:GetObject"]
    source_arn = render(allow["Condition"]["StringEquals"]["AWS:SourceArn"])
    assert source_arn.endswith(f":distribution/${{{ids['distribution']}}}"), source_arn
    denies = [s for s in statements if s["Effect"] == "Deny"]
    assert denies and all(s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in denies)


def test_the_content_security_policy_is_strict(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    csp = csp_directives(template_json, ids)
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert not any("unsafe" in source for sources in csp.values() for source in sources), csp
    assert (csp["object-src"], csp["frame-ancestors"], csp["base-uri"]) == (["'none'"], ["'none'"], ["'self'"])
    connect = csp["connect-src"]
    assert f"https://${{{ids['api']}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/" in connect
    assert "https://cognito-idp.${AWS::Region}.amazonaws.com" in connect
    assert any(source.startswith(f"wss://${{{ids['realtime']}}}.") for source in connect), connect
    files_hosts = {f"https://${{{ids['files']}}}.s3.amazonaws.com",
                   f"https://${{{ids['files']}}}.s3.${{AWS::Region}}.amazonaws.com"}
    assert files_hosts <= set(connect)  # presigned uploads
    assert csp["img-src"][:3] == ["'self'", "data:", "blob:"] and files_hosts <= set(csp["img-src"])  # thumbnails


def test_hsts_and_the_other_security_headers(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    headers = props(template_json, ids["headers"])["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    hsts = headers["StrictTransportSecurity"]
    assert hsts["AccessControlMaxAgeSec"] >= ONE_YEAR
    assert (hsts["IncludeSubdomains"], hsts["Preload"], hsts["Override"]) == (True, True, True)
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["ContentTypeOptions"]["Override"] is True
    assert headers["ReferrerPolicy"]["ReferrerPolicy"] == "strict-origin-when-cross-origin"
    assert headers["ContentSecurityPolicy"]["Override"] is True


def test_client_side_routes_fall_back_to_the_app(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    config = props(template_json, ids["distribution"])["DistributionConfig"]
    assert config["DefaultRootObject"] == "index.html"
    fallbacks = {r["ErrorCode"]: (r["ResponseCode"], r["ResponsePagePath"]) for r in config["CustomErrorResponses"]}
    assert fallbacks == {403: (200, "/index.html"), 404: (200, "/index.html")}


def test_config_json_is_written_at_deploy_time_from_the_stack(synth_ok: Synthesized, template_json: dict[str, Any],
                                                             ids: dict[str, str]) -> None:
    deployment = props(template_json, ids["deployment"])
    keys, markers = deployment["SourceObjectKeys"], deployment["SourceMarkers"]
    sources = [synth_ok.outdir / f"asset.{key.removesuffix('.zip')}" for key in keys]
    (config_source,) = [(path, marks) for path, marks in zip(sources, markers, strict=True)
                        if (path / "config.json").is_file()]
    text = (config_source[0] / "config.json").read_text()
    for marker, value in config_source[1].items():  # what the deployment's handler does (values JSON-quoted)
        text = text.replace(marker, render(value))
    config = json.loads(text)
    assert config["apiUrl"] == f"https://${{{ids['api']}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/"
    assert config["userPoolId"] == f"${{{ids['pool']}}}"
    assert config["clientId"] == f"${{{ids['client']}}}"
    assert config["region"] == "${AWS::Region}"
    assert config["cognitoEndpoint"] == "https://cognito-idp.${AWS::Region}.amazonaws.com/"
    assert config["websocketUrl"].startswith(f"wss://${{{ids['realtime']}}}.")
    # The app itself is the other source (console/dist, or the placeholder where it was not built).
    assert any((path / "index.html").is_file() for path in sources)
    assert deployment["DestinationBucketName"] == {"Ref": ids["bucket"]}
    # A new deploy is seen at once: no cached index.html or config.json at the edge or in the browser.
    assert set(deployment["DistributionPaths"]) == {"/index.html", "/config.json"}
    assert deployment["SystemMetadata"]["cache-control"] == "no-cache"


def test_the_console_url_is_a_stack_output(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    output = template_json["Outputs"]["ConsoleUrl"]
    assert output["Description"]
    assert render(output["Value"]) == f"https://${{{ids['distribution']}.DomainName}}"


def test_config_keys_are_the_ones_the_app_reads() -> None:
    """``console/src/config.ts`` (the browser app's ``RuntimeConfig``) is the contract: the deployment writes each
    of its keys and no other."""
    interface = re.search(r"interface RuntimeConfig \{(.*?)\n\}", CONFIG_READER.read_text(), re.DOTALL)
    assert interface, f"no RuntimeConfig interface in {CONFIG_READER}"
    read = set(re.findall(r"^\s*(\w+)\s*:", interface.group(1), re.MULTILINE))
    config = console.ConsoleConfig(api_url="https://api.example/", region="eu-west-1", user_pool_id="pool",
                                   user_pool_client_id="client", realtime_url="wss://live.example/live")
    assert set(config.as_json()) == read


def test_synth_without_a_built_console_deploys_a_placeholder(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "CONSOLE_DIST", tmp_path / "dist")
    monkeypatch.setattr(console, "PLACEHOLDER_DIR", tmp_path / "placeholder")
    source = console.console_source()
    assert source == tmp_path / "placeholder"
    assert "not built" in (source / "index.html").read_text()
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>built</title>")
    assert console.console_source() == tmp_path / "dist"


def test_only_the_schema_worker_may_eval(template_json: dict[str, Any], ids: dict[str, str]) -> None:
    """ajv compiles JSON Schemas with new Function: its worker script gets a CSP of its own; the pages keep theirs."""
    config = props(template_json, ids["distribution"])["DistributionConfig"]
    (behavior,) = config["CacheBehaviors"]
    assert behavior["PathPattern"] == "/assets/schemaWorker-*"
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["TargetOriginId"] == config["DefaultCacheBehavior"]["TargetOriginId"]
    policy_id = behavior["ResponseHeadersPolicyId"]["Ref"]
    assert policy_id != config["DefaultCacheBehavior"]["ResponseHeadersPolicyId"]["Ref"]
    worker = props(template_json, policy_id)["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert worker["ContentSecurityPolicy"]["ContentSecurityPolicy"] == console.SCHEMA_WORKER_CSP
    assert console.SCHEMA_WORKER_CSP == "default-src 'none'; script-src 'self' 'unsafe-eval'"


def test_the_files_bucket_lets_the_console_upload_from_its_origin_only(template_json: dict[str, Any],
                                                                       ids: dict[str, str]) -> None:
    """The console PUTs multipart parts and POSTs presigned forms straight to the files bucket: one CORS rule for
    the distribution's origin exactly (not "*"), exposing ETag (the browser completes an upload with each part's).
    A custom resource sets it once the bucket and the distribution exist (the distribution's CSP names the
    bucket, so the rule cannot be the bucket's own property)."""
    resource = template_json["Resources"][ids["files_cors"]]
    assert resource["Type"] == "Custom::FilesBucketCors"
    cors = resource["Properties"]
    assert cors["ServiceToken"] == {"Fn::GetAtt": [ids["files_cors_fn"], "Arn"]}
    assert render(cors["BucketName"]) == f"${{{ids['files']}}}"
    (rule,) = cors["CorsRules"]
    assert [render(origin) for origin in rule["AllowedOrigins"]] == [f"https://${{{ids['distribution']}.DomainName}}"]
    assert sorted(rule["AllowedMethods"]) == ["GET", "POST", "PUT"]
    assert rule["ExposeHeaders"] == ["ETag"]
    assert "*" not in rule["AllowedHeaders"] and "x-amz-checksum-sha256" in rule["AllowedHeaders"]
    assert 600 <= rule["MaxAgeSeconds"] <= 24 * 3600
    # The bucket itself names no CORS rule: a later stack update never overwrites the one set here.
    assert "CorsConfiguration" not in props(template_json, ids["files"])
    # The handler may set the CORS rule of this bucket and of no other.
    role = props(template_json, ids["files_cors_fn"])["Role"]["Fn::GetAtt"][0]
    statements = [s for p in resources(template_json, "AWS::IAM::Policy").values()
                  if {"Ref": role} in p["Properties"]["Roles"] for s in p["Properties"]["PolicyDocument"]["Statement"]]
    cors_grants = [s for s in statements if "s3:PutBucketCORS" in as_list(s["Action"])]
    assert [render(s["Resource"]) for s in cors_grants] == [f"${{{ids['files']}.Arn}}"]
