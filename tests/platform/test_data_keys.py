"""Data keys in a service: one kms call per tenant per holding time, dropped on revocation."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from settable_clock import SettableClock
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.data_keys import DataKeys, KeyVersionNeeded, TenantKeys
from tenantry.platform.errors import ApiError

A = TenantContext("tenant-a", "a", "eu", "eu-1", "active")
B = TenantContext("tenant-b", "b", "eu", "eu-1", "active")


@dataclass
class FakeKms:
    """Answers like kms: per tenant, versions 1..current, each a distinct key."""

    current: dict[str, int] = field(default_factory=lambda: {"tenant-a": 1, "tenant-b": 1})
    calls: list[tuple[str, str]] = field(default_factory=list)
    down: bool = False
    revoked: set[str] = field(default_factory=set)

    def key(self, tenant: str, version: int) -> bytes:
        return bytes([version]) * 16 + tenant.encode().ljust(16, b"-")[:16]

    async def call(self, callee: str, method: str, route: str, **kw: Any) -> ServiceResponse:
        await asyncio.sleep(0.01)
        tenant = kw["tenant_id"]
        self.calls.append((tenant, route))
        if self.down:
            raise ApiError(503, "upstream_unavailable", "kms did not answer")
        if tenant in self.revoked:
            body = {"error": "tenant_key_unavailable", "message": "disabled"}
            return ServiceResponse(503, {}, orjson.dumps(body))
        version = int(kw["params"]["version"]) if "params" in kw else self.current[tenant]
        body = {"version": version, "key": base64.b64encode(self.key(tenant, version)).decode()}
        return ServiceResponse(200, {}, orjson.dumps({**body, "max_age": 300}))


def make(kms: FakeKms, clock: SettableClock, max_age: float = 60.0) -> DataKeys:
    return DataKeys(kms, max_age=max_age, clock=clock)  # type: ignore[arg-type]


async def as_tenant(tenant: TenantContext, data_keys: DataKeys) -> TenantKeys:
    with tenant_scope(tenant):
        return await data_keys.for_tenant()


async def test_concurrent_requests_share_one_kms_call_per_tenant() -> None:
    kms, clock = FakeKms(), SettableClock(1000.0)
    data_keys = make(kms, clock)
    got = await asyncio.gather(*(as_tenant(t, data_keys) for t in [A] * 20 + [B] * 20))
    assert sorted(kms.calls) == [
        ("tenant-a", "/internal/kms/data-key"),
        ("tenant-b", "/internal/kms/data-key"),
    ]
    assert {k.current.material for k in got[:20]} == {kms.key("tenant-a", 1)}
    assert {k.current.material for k in got[20:]} == {kms.key("tenant-b", 1)}
    await as_tenant(A, data_keys)
    assert len(kms.calls) == 2  # held: no new call


async def test_keys_are_fetched_again_after_their_holding_time() -> None:
    kms, clock = FakeKms(), SettableClock(1000.0)
    data_keys = make(kms, clock, max_age=60)
    await as_tenant(A, data_keys)
    kms.current["tenant-a"] = 2  # rotated meanwhile
    clock.now += 59
    assert (await as_tenant(A, data_keys)).current.version == 1
    clock.now += 2
    keys = await as_tenant(A, data_keys)
    assert keys.current.version == 2 and len(kms.calls) == 2


async def test_a_revoked_key_is_dropped_at_once_and_refused_with_503() -> None:
    kms, clock = FakeKms(), SettableClock(1000.0)
    data_keys = make(kms, clock)
    await as_tenant(A, data_keys)
    await as_tenant(B, data_keys)
    kms.revoked.add("tenant-a")
    clock.now += 61
    with pytest.raises(ApiError) as refused:
        await as_tenant(A, data_keys)
    assert (refused.value.status, refused.value.code) == (503, "tenant_key_unavailable")
    assert "retry-after" in refused.value.headers
    with pytest.raises(ApiError):  # nothing of A's is held any more
        await as_tenant(A, data_keys)
    kms.revoked.clear()
    assert (await as_tenant(A, data_keys)).current.version == 1  # re-enabled: served again
    data_keys.forget("tenant-b")  # forgetting one tenant leaves the other's call count alone
    assert (await as_tenant(B, data_keys)).current.material == kms.key("tenant-b", 1)


async def test_when_kms_is_down_held_keys_serve_until_their_time_runs_out() -> None:
    kms, clock = FakeKms(), SettableClock(1000.0)
    data_keys = make(kms, clock, max_age=60)
    await as_tenant(A, data_keys)
    kms.down = True
    clock.now += 30
    assert (await as_tenant(A, data_keys)).current.version == 1
    clock.now += 31
    with pytest.raises(ApiError) as refused:
        await as_tenant(A, data_keys)
    assert (refused.value.status, refused.value.code) == (503, "kms_unavailable")


async def test_work_meeting_an_older_version_gets_it_and_runs_again() -> None:
    kms, clock = FakeKms(current={"tenant-a": 3}), SettableClock(1000.0)
    data_keys = make(kms, clock)
    runs: list[int] = []

    def work(keys: TenantKeys) -> DataKey:
        runs.append(keys.current.version)
        return keys(1)  # a row written under version 1

    with tenant_scope(A):
        old = await data_keys.run(work)
    assert old == DataKey(1, kms.key("tenant-a", 1))
    assert runs == [3, 3]
    assert [route for _, route in kms.calls] == [
        "/internal/kms/data-key",
        "/internal/kms/data-key/{version}",
    ]


def test_tenant_keys_ask_for_a_version_they_do_not_hold() -> None:
    key = DataKey(2, b"k" * 32)
    keys = TenantKeys(key, {2: key})
    assert keys(2) is key
    with pytest.raises(KeyVersionNeeded) as needed:
        keys(1)
    assert needed.value.version == 1
    assert "k" * 32 not in repr(keys)
