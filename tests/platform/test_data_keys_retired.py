"""Data keys in a service once old versions are retired: blind index keys come from kms's own
route (one call per tenant and purpose), and a retired version fails closed, never served."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from tenantry.platform.blind_index import blind_index
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.crypto import DataKey
from tenantry.platform.crypto.index_keys import index_key
from tenantry.platform.data_keys import DataKeys, TenantKeys
from tenantry.platform.errors import ApiError

A = TenantContext("tenant-a", "a", "eu", "eu-1", "active")
PURPOSE = b"accounts email"


@dataclass
class RetiringKms:
    """Answers like kms for tenant-a: versions 1..3, those below `minimum` retired."""

    minimum: int = 1
    calls: list[str] = field(default_factory=list)

    def key(self, version: int) -> bytes:
        return bytes([version]) * 32

    async def call(self, callee: str, method: str, route: str, **kw: Any) -> ServiceResponse:
        await asyncio.sleep(0.01)
        self.calls.append(route)
        params = kw.get("params", {})
        if route == "/internal/kms/index-key/{purpose}":
            derived = index_key(DataKey(1, self.key(1)), bytes.fromhex(params["purpose"]))
            return _ok({"key": base64.b64encode(derived).decode(), "max_age": 300})
        version = int(params["version"]) if "version" in params else 3
        if version < self.minimum:
            body = {"error": "data_key_retired", "message": "retired"}
            return ServiceResponse(410, {}, orjson.dumps(body))
        return _ok({"version": version, "key": base64.b64encode(self.key(version)).decode()})


def _ok(body: dict[str, Any]) -> ServiceResponse:
    return ServiceResponse(200, {}, orjson.dumps(body))


def make(kms: RetiringKms) -> DataKeys:
    return DataKeys(kms)  # type: ignore[arg-type]


async def index_of(data_keys: DataKeys, value: str) -> str:
    with tenant_scope(A):
        return await data_keys.run(lambda keys: blind_index(keys, PURPOSE, value))


async def test_index_keys_come_from_kms_once_version_1_is_retired() -> None:
    kms = RetiringKms()
    held_v1 = TenantKeys(DataKey(3, kms.key(3)), {1: DataKey(1, kms.key(1))})
    expected = blind_index(held_v1, PURPOSE, "ada@example.com")
    kms.minimum = 3
    data_keys = make(kms)
    got = await asyncio.gather(*(index_of(data_keys, "ada@example.com") for _ in range(10)))
    assert set(got) == {expected}  # the same index as from version 1 itself
    assert kms.calls.count("/internal/kms/index-key/{purpose}") == 1
    assert "/internal/kms/data-key/{version}" not in kms.calls  # version 1 was never asked for
    await index_of(data_keys, "bob@example.com")
    assert kms.calls.count("/internal/kms/index-key/{purpose}") == 1  # held with the tenant's keys


async def test_a_retired_version_fails_closed_and_the_rest_serves() -> None:
    kms = RetiringKms(minimum=3)
    data_keys = make(kms)
    with tenant_scope(A):
        with pytest.raises(ApiError) as refused:
            await data_keys.run(lambda keys: keys(2))
        assert (refused.value.status, refused.value.code) == (500, "data_key_retired")
        # The tenant is not forgotten as if purged: its current key serves on.
        keys = await data_keys.for_tenant()
        assert keys.current.version == 3
        assert await data_keys.run(lambda held: held(3).material) == kms.key(3)
