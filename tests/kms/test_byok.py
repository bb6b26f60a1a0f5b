"""BYOK in kms: a tenant's data keys moved under its own AWS KMS key (a local moto KMS) and back,
refused keys, and the key watch that notices a revoked key and its return.

The kms routes run on a bare FastAPI with a stand-in for the platform's auth layer (as in
test_kms_service); the customer's KMS is moto's server on loopback, where a disabled key refuses
Encrypt and Decrypt as real KMS does.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from structlog.testing import capture_logs

from loopback_ports import unused_port
from tenantry.platform.background import Idle
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.storage import Databases
from tenantry.services.kms.customer_keys import UNAVAILABLE, CustomerKeys
from tenantry.services.kms.key_watch import UNREACHABLE_TRIES, CustomerKeyWatch
from tenantry.services.kms.models import WrappedDataKey
from tenantry.services.kms.providers import AwsKmsKeyProvider, LocalKeyProvider
from tenantry.services.kms.providers.routing import ENDPOINT_VARIABLE, KeyProviders

from .conftest import REGION as AWS_REGION
from .service_app import build_app

REGION = "eu"
SHARDS = ["eu-1", "eu-2"]
ROOT_V1 = "local:root-eu-v1"


@pytest.fixture
def customer_kms(aws_env: None, kms_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """kms reaches customer keys at the local moto server, with dummy credentials."""
    monkeypatch.setenv(ENDPOINT_VARIABLE, kms_endpoint)
    return kms_endpoint


@pytest.fixture
def client(
    databases: Databases, provider: LocalKeyProvider, customer_kms: str
) -> Iterator[TestClient]:
    """The kms routes, reaching customer keys at the local moto server."""
    with TestClient(build_app(databases, provider), raise_server_exceptions=False) as test_client:
        yield test_client


def as_tenant(tenant: str) -> dict[str, str]:
    return {"x-test-tenant": tenant, "x-test-shard": "eu-1", "x-test-region": REGION}


def context(tenant: str) -> TenantContext:
    return TenantContext(tenant, tenant, REGION, "eu-1", "active")


def key_of(client: TestClient, tenant: str, version: int | None = None) -> bytes:
    path = "/internal/kms/data-key" if version is None else f"/internal/kms/data-key/{version}"
    answer = client.get(path, headers=as_tenant(tenant))
    assert answer.status_code == 200, answer.text
    return base64.b64decode(answer.json()["key"], validate=True)


def wrapping(databases: Databases, tenant: str) -> list[tuple[int, str, int]]:
    """(version, wrapping key ref, root version) of each stored data key of the tenant."""
    with tenant_scope(context(tenant)), databases.session() as session:
        statement = select(
            WrappedDataKey.version, WrappedDataKey.root_key_ref, WrappedDataKey.root_version
        ).order_by(WrappedDataKey.version)
        return [tuple(row) for row in session.rows(statement)]


def byok(client: TestClient, tenant: str, arn: str) -> Any:
    return client.post("/internal/kms/byok", json={"aws_kms_key": arn}, headers=as_tenant(tenant))


def _key_id(arn: str) -> str:
    return arn.rsplit("/", 1)[1]


class Told:
    """Stands in for tcs: records what the watch told it, and can refuse to listen."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.answering = True

    async def __call__(self, cloud_id: str, available: bool) -> bool:
        self.calls.append((cloud_id, available))
        return self.answering


def test_byok_rewraps_every_version_under_the_customer_key_and_keeps_the_keys(
    client: TestClient, databases: Databases, kms_key: str
) -> None:
    first = key_of(client, "tenant-a")
    assert client.post("/internal/kms/data-key/rotate", headers=as_tenant("tenant-a")).json() == {
        "version": 2
    }
    second = key_of(client, "tenant-a")
    other = key_of(client, "tenant-b")

    with capture_logs() as logs:
        switched = byok(client, "tenant-a", kms_key)
    assert switched.status_code == 200, switched.text
    assert switched.json() == {"key_ref": kms_key, "rewrapped": 2}
    assert switched.headers["cache-control"] == "no-store"
    assert wrapping(databases, "tenant-a") == [(1, kms_key, 0), (2, kms_key, 0)]
    assert wrapping(databases, "tenant-b") == [(1, ROOT_V1, 1)]
    events = [e for e in logs if e.get("action") == "byok_enabled"]
    assert events and events[0]["tenant_id"] == "tenant-a" and events[0]["key_ref"] == kms_key
    moved = [e for e in logs if e.get("action") == "data_keys_moved"]
    assert moved and moved[0]["tenant_id"] == "tenant-a" and moved[0]["versions"] == [1, 2]

    # The data keys are the same ones: nothing sealed with them needs re-encrypting.
    assert key_of(client, "tenant-a", 1) == first
    assert key_of(client, "tenant-a") == second
    assert key_of(client, "tenant-b") == other
    answer = client.get("/internal/kms/data-key", headers=as_tenant("tenant-a")).json()
    assert answer["max_age"] == 30  # held briefly, so a revocation reaches every cache soon

    # A root rotation leaves the customer's keys alone; a new data key goes under them too.
    rotated = client.post("/internal/kms/root-key/rotate", json={"owner": None})
    assert rotated.status_code == 200, rotated.text
    assert wrapping(databases, "tenant-a") == [(1, kms_key, 0), (2, kms_key, 0)]
    assert wrapping(databases, "tenant-b") == [(1, "local:root-eu-v2", 2)]
    client.post("/internal/kms/data-key/rotate", headers=as_tenant("tenant-a"))
    assert wrapping(databases, "tenant-a")[-1] == (3, kms_key, 0)


def test_byok_off_puts_the_keys_back_under_the_root_key(
    client: TestClient, databases: Databases, kms_key: str
) -> None:
    before = key_of(client, "tenant-a")
    assert byok(client, "tenant-a", kms_key).status_code == 200
    back = client.delete("/internal/kms/byok", headers=as_tenant("tenant-a"))
    assert back.status_code == 200, back.text
    assert back.json() == {"key_ref": None, "rewrapped": 1}
    assert wrapping(databases, "tenant-a") == [(1, ROOT_V1, 1)]
    assert key_of(client, "tenant-a") == before
    again = client.delete("/internal/kms/byok", headers=as_tenant("tenant-a"))
    assert again.status_code == 409 and again.json()["error"] == "byok_not_enabled"


def test_a_tenant_without_keys_yet_gets_its_first_key_under_the_customer_key(
    client: TestClient, databases: Databases, kms_key: str
) -> None:
    switched = byok(client, "tenant-new", kms_key)
    assert switched.json() == {"key_ref": kms_key, "rewrapped": 0}
    key_of(client, "tenant-new")
    assert wrapping(databases, "tenant-new") == [(1, kms_key, 0)]


@pytest.mark.parametrize(
    ("arn", "code"),
    [
        ("not-an-arn", "invalid_key_arn"),
        ("arn:aws:kms:eu-west-1:123456789012:key/", "invalid_key_arn"),
        ("arn:aws:s3:::bucket/key", "invalid_key_arn"),
        ("local:root-eu-v1", "invalid_key_arn"),
        (
            "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000",
            "customer_key_unusable",
        ),
    ],
)
def test_a_bad_or_unknown_key_is_refused_and_nothing_changes(
    client: TestClient, databases: Databases, arn: str, code: str
) -> None:
    before = key_of(client, "tenant-a")
    refused = byok(client, "tenant-a", arn)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == code
    assert wrapping(databases, "tenant-a") == [(1, ROOT_V1, 1)]
    assert CustomerKeys(databases).of("tenant-a") is None
    assert key_of(client, "tenant-a") == before


def test_a_disabled_key_is_refused_before_anything_changes(
    client: TestClient, databases: Databases, kms_admin: Any, kms_key: str
) -> None:
    key_of(client, "tenant-a")
    kms_admin.disable_key(KeyId=_key_id(kms_key))
    refused = byok(client, "tenant-a", kms_key)
    assert refused.status_code == 422
    assert refused.json()["error"] == "customer_key_unusable"
    assert "disabled" in refused.json()["message"]
    assert wrapping(databases, "tenant-a") == [(1, ROOT_V1, 1)]


def test_an_unreachable_kms_is_a_503_and_nothing_changes(
    client: TestClient, databases: Databases, kms_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_of(client, "tenant-a")
    monkeypatch.setenv(ENDPOINT_VARIABLE, f"http://127.0.0.1:{unused_port()}")
    refused = byok(client, "tenant-a", kms_key)
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "customer_key_unreachable"
    assert CustomerKeys(databases).of("tenant-a") is None


def test_the_watch_takes_a_revoked_tenant_offline_and_back_and_no_other(
    client: TestClient,
    databases: Databases,
    provider: LocalKeyProvider,
    kms_admin: Any,
    kms_key: str,
) -> None:
    key_of(client, "tenant-a")
    other = key_of(client, "tenant-b")
    assert byok(client, "tenant-a", kms_key).status_code == 200
    told = Told()
    watch = CustomerKeyWatch(CustomerKeys(databases), KeyProviders(provider), REGION, told)
    asyncio.run(watch.check_once())
    assert told.calls == [("tenant-a", True)]  # tcs hears the truth once at start

    kms_admin.disable_key(KeyId=_key_id(kms_key))
    with capture_logs() as logs:
        asyncio.run(watch.check_once())
    assert told.calls[-1] == ("tenant-a", False)
    assert CustomerKeys(databases).of("tenant-a").state == UNAVAILABLE  # type: ignore[union-attr]
    revoked = [e for e in logs if e.get("action") == "byok_key_revoked"]
    assert revoked and revoked[0]["reason"] == "key_disabled"
    refused = client.get("/internal/kms/data-key/1", headers=as_tenant("tenant-a"))
    assert refused.status_code == 503
    assert refused.json()["error"] == "tenant_key_unavailable"
    assert (
        client.post("/internal/kms/data-key/rotate", headers=as_tenant("tenant-a")).status_code
        == 503
    )
    assert key_of(client, "tenant-b") == other

    # Nothing new to say while it stays revoked; tcs is told again only when it comes back.
    calls = len(told.calls)
    asyncio.run(watch.check_once())
    assert len(told.calls) == calls
    kms_admin.enable_key(KeyId=_key_id(kms_key))
    with capture_logs() as logs:
        asyncio.run(watch.check_once())
    assert told.calls[-1] == ("tenant-a", True)
    assert [e["action"] for e in logs if e.get("action", "").startswith("byok")] == [
        "byok_key_restored"
    ]
    key_of(client, "tenant-a")


def test_the_watch_rests_without_customer_keys_and_each_switch_wakes_it(
    databases: Databases, provider: LocalKeyProvider, customer_kms: str, kms_key: str
) -> None:
    switches: list[str] = []
    app = build_app(databases, provider, lambda: switches.append("switched"))
    told = Told()
    watch = CustomerKeyWatch(CustomerKeys(databases), KeyProviders(provider), REGION, told)
    with TestClient(app, raise_server_exceptions=False) as client:
        key_of(client, "tenant-a")
        assert asyncio.run(watch.check_once()) == Idle()  # no customer key: nothing to watch
        assert byok(client, "tenant-a", kms_key).status_code == 200
        assert switches == ["switched"]
        assert asyncio.run(watch.check_once()) is None
        assert told.calls == [("tenant-a", True)]
        refused = byok(client, "tenant-b", "arn:aws:kms:eu-west-1:111122223333:key/nope")
        assert refused.status_code != 200 and switches == ["switched"]  # no switch, no wake
        assert client.delete("/internal/kms/byok", headers=as_tenant("tenant-a")).status_code == 200
        assert switches == ["switched", "switched"]
    assert asyncio.run(watch.check_once()) is None  # the tenant left BYOK: told it is available
    assert asyncio.run(watch.check_once()) == Idle()


def test_the_watch_repeats_until_tcs_has_heard_it(
    client: TestClient,
    databases: Databases,
    provider: LocalKeyProvider,
    kms_admin: Any,
    kms_key: str,
) -> None:
    assert byok(client, "tenant-a", kms_key).status_code == 200
    told = Told()
    watch = CustomerKeyWatch(CustomerKeys(databases), KeyProviders(provider), REGION, told)
    kms_admin.disable_key(KeyId=_key_id(kms_key))
    told.answering = False
    asyncio.run(watch.check_once())
    asyncio.run(watch.check_once())
    assert told.calls == [("tenant-a", False), ("tenant-a", False)]
    # kms refuses the tenant's keys from the first finding, whether tcs answered or not.
    assert client.get("/internal/kms/data-key", headers=as_tenant("tenant-a")).status_code == 503
    told.answering = True
    asyncio.run(watch.check_once())
    asyncio.run(watch.check_once())
    assert told.calls == [("tenant-a", False)] * 3


def test_the_watch_waits_for_a_few_misses_before_calling_an_unreachable_key_revoked(
    databases: Databases, customer_kms: str
) -> None:
    arn = f"arn:aws:kms:{AWS_REGION}:123456789012:key/11111111-2222-3333-4444-555555555555"
    CustomerKeys(databases).put("tenant-a", REGION, "eu-1", arn)
    dead = AwsKmsKeyProvider(
        AWS_REGION, endpoint_url=f"http://127.0.0.1:{unused_port()}", max_attempts=1
    )
    told = Told()
    watch = CustomerKeyWatch(CustomerKeys(databases), dead, REGION, told)
    for _ in range(UNREACHABLE_TRIES - 1):
        asyncio.run(watch.check_once())
    assert told.calls == []
    asyncio.run(watch.check_once())
    assert told.calls == [("tenant-a", False)]


def test_leaving_byok_while_tcs_thinks_the_key_is_gone_makes_the_tenant_available(
    client: TestClient,
    databases: Databases,
    provider: LocalKeyProvider,
    kms_admin: Any,
    kms_key: str,
) -> None:
    key_of(client, "tenant-a")
    assert byok(client, "tenant-a", kms_key).status_code == 200
    told = Told()
    watch = CustomerKeyWatch(CustomerKeys(databases), KeyProviders(provider), REGION, told)
    kms_admin.disable_key(KeyId=_key_id(kms_key))
    asyncio.run(watch.check_once())
    off = client.delete("/internal/kms/byok", headers=as_tenant("tenant-a"))
    assert off.status_code == 409 and off.json()["error"] == "tenant_key_unavailable"
    kms_admin.enable_key(KeyId=_key_id(kms_key))
    asyncio.run(watch.check_once())
    assert client.delete("/internal/kms/byok", headers=as_tenant("tenant-a")).status_code == 200
    told.calls.clear()
    asyncio.run(watch.check_once())
    assert told.calls == []  # tcs already knew the key was available
