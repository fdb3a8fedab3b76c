"""The local IAM check on KMS: a key's ARN as the resource and the request's encryption context as
``kms:EncryptionContext:<key>``, so a grant conditioned on ``Null`` context keys (the providers' roles,
cdk/crewhouse_cdk/constructs/providers.py) allows what AWS allows and refuses what AWS refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from crewhouse.local import iam
from tests.component.local.test_iam_enforcement import error_code, role_session
from tests.support.moto_server import client, running_moto_server

CONTEXT = {"Null": {"kms:EncryptionContext:tenant_id": "false", "kms:EncryptionContext:provider_id": "false"}}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with running_moto_server() as url:
        iam.install()
        try:
            yield url
        finally:
            iam.uninstall()


def test_decrypt_needs_the_granted_key_and_the_tenant_and_provider_in_the_context(endpoint: str) -> None:
    kms = client("kms", endpoint)
    key, other = (kms.create_key()["KeyMetadata"]["Arn"] for _ in range(2))
    context = {"tenant_id": "t1", "provider_id": "p1"}
    wrapped = kms.generate_data_key(KeyId=key, KeySpec="AES_256", EncryptionContext=context)["CiphertextBlob"]
    bare = kms.generate_data_key(KeyId=key, KeySpec="AES_256")["CiphertextBlob"]
    session = role_session(endpoint, [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key,
                                       "Condition": CONTEXT}])
    role_kms = session.client("kms", endpoint_url=endpoint)

    assert error_code(lambda: role_kms.decrypt(CiphertextBlob=wrapped, KeyId=key, EncryptionContext=context)) is None
    assert error_code(lambda: role_kms.decrypt(CiphertextBlob=bare, KeyId=key)) == "AccessDeniedException"
    assert error_code(lambda: role_kms.decrypt(CiphertextBlob=wrapped, KeyId=key, EncryptionContext={
        "tenant_id": "t1"})) == "AccessDeniedException"
    assert error_code(lambda: role_kms.decrypt(CiphertextBlob=wrapped, KeyId=other,
                                               EncryptionContext=context)) == "AccessDeniedException"
    assert error_code(lambda: role_kms.generate_data_key(KeyId=key, KeySpec="AES_256",
                                                         EncryptionContext=context)) == "AccessDeniedException"


def test_the_null_operator_holds_for_absent_and_present_keys() -> None:
    assert iam.condition_holds({"Null": {"k": "true"}}, {})
    assert not iam.condition_holds({"Null": {"k": "true"}}, {"k": "v"})
    assert iam.condition_holds({"Null": {"k": "false"}}, {"k": "v"})
    assert not iam.condition_holds({"Null": {"k": "false"}}, {})
