"""The AWS KMS provider against a local moto KMS: round trips, revoked keys and an absent KMS."""

from __future__ import annotations

import base64
import secrets
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from loopback_ports import unused_port
from tenantry.services.kms.providers import (
    AwsKmsKeyProvider,
    InvalidKeyRequest,
    KeyProviderError,
    KeyState,
    KeyUnavailable,
    UnwrapFailed,
)

from .conftest import REGION

CONTEXT = {"tenant": "acme", "purpose": "data-key", "version": "3"}


def _key_id(arn: str) -> str:
    """moto's admin calls want the bare key id where real KMS also takes the ARN."""
    return arn.rsplit("/", 1)[1]


def _refused(call: Any, *args: Any) -> KeyProviderError:
    with pytest.raises(KeyProviderError) as refused:
        call(*args)
    return refused.value


def test_round_trip_by_arn_and_alias(aws: AwsKmsKeyProvider, kms_admin: Any, kms_key: str) -> None:
    kms_admin.create_alias(AliasName="alias/tenant-acme", TargetKeyId=kms_key)
    data_key = secrets.token_bytes(32)
    for key_ref in (kms_key, "alias/tenant-acme"):
        wrapped = aws.wrap(key_ref, data_key, CONTEXT)
        assert data_key not in wrapped
        assert aws.unwrap(key_ref, wrapped, CONTEXT) == data_key
        assert aws.unwrap(key_ref, wrapped, dict(reversed(CONTEXT.items()))) == data_key


@pytest.mark.parametrize(
    "context", [{**CONTEXT, "tenant": "globex"}, {**CONTEXT, "x": "y"}, {"tenant": "acme"}]
)
def test_wrong_context_is_refused(
    aws: AwsKmsKeyProvider, kms_key: str, context: dict[str, str]
) -> None:
    data_key = secrets.token_bytes(32)
    wrapped = aws.wrap(kms_key, data_key, CONTEXT)
    error = _refused(aws.unwrap, kms_key, wrapped, context)
    assert isinstance(error, UnwrapFailed)
    assert error.reason == "authentication_failed"
    assert data_key.hex() not in str(error)


def test_tampered_wrapped_key_is_refused(aws: AwsKmsKeyProvider, kms_key: str) -> None:
    wrapped = bytearray(aws.wrap(kms_key, secrets.token_bytes(32), CONTEXT))
    wrapped[-1] ^= 1
    error = _refused(aws.unwrap, kms_key, bytes(wrapped), CONTEXT)
    assert isinstance(error, UnwrapFailed)


def test_wrapped_key_of_another_customer_key_is_refused(
    aws: AwsKmsKeyProvider, kms_admin: Any, kms_key: str
) -> None:
    other_key = kms_admin.create_key()["KeyMetadata"]["Arn"]
    wrapped = aws.wrap(kms_key, secrets.token_bytes(32), CONTEXT)
    # Real KMS answers IncorrectKeyException (mapped below); moto answers AccessDeniedException.
    error = _refused(aws.unwrap, other_key, wrapped, CONTEXT)
    assert error.reason in {"authentication_failed", "access_denied"}


def test_disabled_key_is_unavailable_until_enabled(
    aws: AwsKmsKeyProvider, kms_admin: Any, kms_key: str
) -> None:
    data_key = secrets.token_bytes(32)
    wrapped = aws.wrap(kms_key, data_key, CONTEXT)

    kms_admin.disable_key(KeyId=_key_id(kms_key))
    assert aws.describe(kms_key) is KeyState.DISABLED
    for error in (
        _refused(aws.unwrap, kms_key, wrapped, CONTEXT),
        _refused(aws.wrap, kms_key, data_key, CONTEXT),
    ):
        assert isinstance(error, KeyUnavailable)
        assert error.reason == "key_disabled"
        assert kms_key in str(error)
        assert data_key.hex() not in str(error)
        assert base64.b64encode(data_key).decode() not in str(error)

    kms_admin.enable_key(KeyId=_key_id(kms_key))
    assert aws.describe(kms_key) is KeyState.ENABLED
    assert aws.unwrap(kms_key, wrapped, CONTEXT) == data_key


def test_key_pending_deletion_is_unavailable(
    aws: AwsKmsKeyProvider, kms_admin: Any, kms_key: str
) -> None:
    wrapped = aws.wrap(kms_key, secrets.token_bytes(32), CONTEXT)
    kms_admin.schedule_key_deletion(KeyId=_key_id(kms_key), PendingWindowInDays=7)
    assert aws.describe(kms_key) is KeyState.PENDING_DELETION
    for error in (
        _refused(aws.unwrap, kms_key, wrapped, CONTEXT),
        _refused(aws.wrap, kms_key, secrets.token_bytes(32), CONTEXT),
    ):
        assert isinstance(error, KeyUnavailable)
        assert error.reason == "key_disabled"


def test_unknown_key(aws: AwsKmsKeyProvider, kms_key: str) -> None:
    missing = kms_key.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    assert aws.describe(missing) is KeyState.MISSING
    assert aws.describe("alias/no-such-alias") is KeyState.MISSING
    error = _refused(aws.wrap, missing, secrets.token_bytes(32), CONTEXT)
    assert isinstance(error, KeyUnavailable)
    assert error.reason == "key_not_found"


@pytest.fixture
def closed_port() -> int:
    return unused_port()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_unreachable_kms(aws_env: None, closed_port: int) -> None:
    aws = AwsKmsKeyProvider(REGION, endpoint_url=f"http://127.0.0.1:{closed_port}")
    key_ref = "alias/tenant-acme"
    for call, args in (
        (aws.wrap, (key_ref, secrets.token_bytes(32), CONTEXT)),
        (aws.unwrap, (key_ref, b"wrapped", CONTEXT)),
        (aws.describe, (key_ref,)),
    ):
        error = _refused(call, *args)
        assert isinstance(error, KeyUnavailable)
        assert error.reason == "provider_unreachable"


def test_kms_that_never_answers(aws_env: None, silent_port: int) -> None:
    aws = AwsKmsKeyProvider(
        REGION, endpoint_url=f"http://127.0.0.1:{silent_port}", read_timeout=0.2, max_attempts=1
    )
    error = _refused(aws.wrap, "alias/tenant-acme", secrets.token_bytes(32), CONTEXT)
    assert isinstance(error, KeyUnavailable)
    assert error.reason == "provider_unreachable"


def test_client_gives_up_quickly(aws_env: None, kms_endpoint: str) -> None:
    config = AwsKmsKeyProvider(REGION, endpoint_url=kms_endpoint)._client.meta.config
    assert config.connect_timeout <= 2
    assert config.read_timeout <= 5
    assert config.retries["total_max_attempts"] <= 2


def test_missing_credentials_are_reported(
    aws_env: None, kms_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name)
    aws = AwsKmsKeyProvider(REGION, endpoint_url=kms_endpoint)
    error = _refused(aws.wrap, "alias/tenant-acme", secrets.token_bytes(32), CONTEXT)
    assert isinstance(error, KeyUnavailable)
    assert error.reason == "access_denied"


def test_bad_input_is_refused_before_calling_kms(aws: AwsKmsKeyProvider) -> None:
    for data_key in (b"", secrets.token_bytes(31)):
        assert _refused(aws.wrap, "alias/x", data_key, CONTEXT).reason == "invalid_data_key"
    assert _refused(aws.wrap, "alias/x", secrets.token_bytes(32), {}).reason == "invalid_context"
    assert isinstance(_refused(aws.unwrap, "alias/x", b"", CONTEXT), UnwrapFailed)
    error = _refused(aws.wrap, "", secrets.token_bytes(32), CONTEXT)
    assert isinstance(error, InvalidKeyRequest)


@pytest.mark.parametrize(
    ("code", "kind", "reason"),
    [
        ("IncorrectKeyException", UnwrapFailed, "authentication_failed"),
        ("InvalidCiphertextException", UnwrapFailed, "authentication_failed"),
        ("DisabledException", KeyUnavailable, "key_disabled"),
        ("KMSInvalidStateException", KeyUnavailable, "key_disabled"),
        ("NotFoundException", KeyUnavailable, "key_not_found"),
        ("AccessDeniedException", KeyUnavailable, "access_denied"),
        ("UnrecognizedClientException", KeyUnavailable, "access_denied"),
        ("KeyUnavailableException", KeyUnavailable, "provider_unreachable"),
        ("KMSInternalException", KeyUnavailable, "provider_unreachable"),
        ("ThrottlingException", KeyUnavailable, "provider_unreachable"),
        ("SomethingNewException", KeyProviderError, "provider_error"),
    ],
)
def test_kms_error_codes_map_to_reasons(
    aws_env: None, code: str, kind: type[KeyProviderError], reason: str
) -> None:
    """Codes moto does not produce, answered by a stubbed client that makes no network calls."""
    client = boto3.session.Session().client(
        "kms", region_name=REGION, config=Config(retries={"total_max_attempts": 1})
    )
    aws = AwsKmsKeyProvider(REGION, client=client)
    with Stubber(client) as stub:
        stub.add_client_error("decrypt", service_error_code=code)
        error = _refused(aws.unwrap, "alias/tenant-acme", b"wrapped", CONTEXT)
    assert type(error) is kind
    assert error.reason == reason
