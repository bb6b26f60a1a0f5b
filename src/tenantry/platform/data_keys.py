"""Tenants' data keys, fetched from their region's kms and held in this process's memory only.

A service that encrypts a tenant's fields asks `DataKeys` for a `TenantKeys` at the start of a
request. Keys are fetched over an allowlisted, signed call (the request's own tenant context
goes along), kept at most `max_age` seconds (kms says how long; 300 s by default), never
written anywhere, and shared by concurrent requests: one kms call per tenant per process per
`max_age`, however busy the tenant. When kms says the tenant's key is unavailable (a customer
disabled or revoked it), every key of that tenant is dropped at once. When kms cannot be
reached, keys already held keep serving until their time runs out; then requests get 503.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from tenantry.platform.client import ServiceClient, ServiceResponse, for_current_tenant
from tenantry.platform.context import TenantContext, require_tenant
from tenantry.platform.crypto import DataKey
from tenantry.platform.errors import ApiError

DEFAULT_MAX_AGE_SECONDS = 300.0
MAX_AGE_VARIABLE = "TENANTRY_DATA_KEY_MAX_AGE"
"""Seconds a process may hold a data key (default 300); tests and strict deployments lower it."""
KEY_UNAVAILABLE = "tenant_key_unavailable"
KEY_RETIRED = "data_key_retired"
KMS_ATTEMPT_TIMEOUT_SECONDS = 2.5
"""Each kms attempt's bound: with its retries it stays under the edge's 10 s wait for the service,
so a client whose key cannot be fetched gets this layer's 503 `kms_unavailable`, not a timeout."""
_MISSING_VERSION_RETRIES = 4

T = TypeVar("T")


def data_key_max_age() -> float:
    """The configured key holding time: `TENANTRY_DATA_KEY_MAX_AGE`, else 300 s."""
    raw = os.environ.get(MAX_AGE_VARIABLE)
    if raw is None:
        return DEFAULT_MAX_AGE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= DEFAULT_MAX_AGE_SECONDS:
        raise ValueError(f"{MAX_AGE_VARIABLE} must be a number of seconds in (0, 300]")
    return value


class KeyVersionNeeded(Exception):
    """Raised inside a request's work when a ciphertext names a key version not yet fetched."""

    def __init__(self, version: int) -> None:
        super().__init__(f"data key version {version} is not held yet")
        self.version = version


AskKms = Callable[[ServiceClient, dict[str, Any]], Awaitable[ServiceResponse]]
"""Makes one kms call with the given client and call arguments (the current tenant's)."""


class IndexKeyNeeded(KeyVersionNeeded):
    """Raised inside a request's work when a blind index key (`purpose`) is not held yet.

    Index keys derive from data key version 1, which kms stops handing out once it is
    retired; kms derives them itself then, on a route of their own. The raiser (the blind
    index module) says how to ask for it, so the allowlist names only the services that use
    blind indexes as callers of that route.
    """

    def __init__(self, purpose: bytes, version: int, ask: AskKms) -> None:
        super().__init__(version)
        self.purpose = purpose
        self.ask = ask


@dataclass
class _Held:
    """One tenant's keys in memory, and until when they may be used."""

    current: int
    keys: dict[int, DataKey]
    expires: float
    index_keys: dict[bytes, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class TenantKeys:
    """The keys one request may use: the current one to seal, any held one to open."""

    current: DataKey
    held: dict[int, DataKey] = field(repr=False)
    index_keys: dict[bytes, bytes] = field(default_factory=dict, repr=False)
    """Blind index keys fetched from kms, by purpose (see `tenantry.platform.blind_index`)."""

    def __call__(self, version: int) -> DataKey:
        """The key of `version` (the lookup `decrypt_field` takes); asks for it if not held."""
        key = self.held.get(version)
        if key is None:
            raise KeyVersionNeeded(version)
        return key


class DataKeys:
    """The data keys of the tenants this process serves, in memory, per tenant."""

    def __init__(
        self,
        client: ServiceClient,
        *,
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._max_age = max_age
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._fetching: dict[tuple[str, int | None], asyncio.Future[_Held]] = {}
        self._fetching_index: dict[tuple[str, bytes], asyncio.Future[None]] = {}

    async def for_tenant(self, min_version: int = 0) -> TenantKeys:
        """The current tenant's keys, fetched from kms when none are held or they are too old.

        `min_version` asks for a current key at least that new (after a rotation, say), so
        kms is asked again if the one held is older.
        """
        tenant = require_tenant()
        if not tenant.key_available:
            # The signed context says the tenant's own key was revoked: nothing held may open.
            self.forget(tenant.cloud_id)
            raise ApiError(
                503, KEY_UNAVAILABLE, "the tenant's encryption key is unavailable", _RETRY
            )
        held = self._held.get(tenant.cloud_id)
        if held is None or held.expires <= self._clock() or held.current < min_version:
            held = await self._single_flight(tenant, None)
        return TenantKeys(held.keys[held.current], held.keys, held.index_keys)

    async def run(self, work: Callable[[TenantKeys], T], min_version: int = 0) -> T:
        """Run `work` with the tenant's keys; if it meets an older key version, fetch and rerun.

        `work` must be safe to run again (a read, or a write whose transaction it rolls back
        when it raises), which the tenant session's transactions give.
        """
        keys = await self.for_tenant(min_version)
        for _ in range(_MISSING_VERSION_RETRIES):
            try:
                return work(keys)
            except IndexKeyNeeded as needed:
                await self._index_single_flight(require_tenant(), needed)
                keys = await self.for_tenant(min_version)
            except KeyVersionNeeded as needed:
                await self._single_flight(require_tenant(), needed.version)
                keys = await self.for_tenant(min_version)
        return work(keys)

    def forget(self, cloud_id: str) -> None:
        """Drop every key of a tenant now (its key was revoked, or it was purged)."""
        self._held.pop(cloud_id, None)

    async def _single_flight(self, tenant: TenantContext, version: int | None) -> _Held:
        """One kms call per tenant (and version) at a time; concurrent callers share it."""
        slot = (tenant.cloud_id, version)
        running = self._fetching.get(slot)
        if running is None:
            running = asyncio.ensure_future(self._fetch(tenant, version))
            self._fetching[slot] = running
            running.add_done_callback(lambda _done: self._fetching.pop(slot, None))
        return await asyncio.shield(running)

    async def _fetch(self, tenant: TenantContext, version: int | None) -> _Held:
        call = self._ask_kms(tenant, version)
        try:
            response = await call
        except ApiError as exc:
            raise self._unreachable(tenant) from exc
        document = self._key_document(tenant, response)
        key = DataKey(int(document["version"]), base64.b64decode(document["key"]))
        max_age = min(self._max_age, float(document.get("max_age", self._max_age)))
        held = self._held.get(tenant.cloud_id)
        now = self._clock()
        if held is None or (version is None and held.expires <= now):
            held = _Held(key.version, {}, now + max_age)  # expired keys go, whatever version
            self._held[tenant.cloud_id] = held
        held.keys[key.version] = key
        if version is None:
            held.current = key.version
            held.expires = now + max_age
        return held

    async def _index_single_flight(self, tenant: TenantContext, needed: IndexKeyNeeded) -> None:
        """One kms call per tenant and index purpose at a time; concurrent callers share it."""
        slot = (tenant.cloud_id, needed.purpose)
        running = self._fetching_index.get(slot)
        if running is None:
            running = asyncio.ensure_future(self._fetch_index_key(tenant, needed))
            self._fetching_index[slot] = running
            running.add_done_callback(lambda _done: self._fetching_index.pop(slot, None))
        await asyncio.shield(running)

    async def _fetch_index_key(self, tenant: TenantContext, needed: IndexKeyNeeded) -> None:
        """Fetch the tenant's index key for `needed.purpose` into the keys held now."""
        call = needed.ask(self._client, self._kms_call_args())
        try:
            response = await call
        except ApiError as exc:
            raise self._unreachable(tenant) from exc
        document = self._key_document(tenant, response)
        held = self._held.get(tenant.cloud_id)
        if held is not None:
            held.index_keys[needed.purpose] = base64.b64decode(document["key"])

    def _key_document(self, tenant: TenantContext, response: ServiceResponse) -> Any:
        """kms's answer with a key in it; its refusals as this service's clear errors."""
        code = _code(response) if response.status != 200 else None
        if response.status == 503 and code == KEY_UNAVAILABLE:
            self.forget(tenant.cloud_id)
            raise ApiError(
                503, KEY_UNAVAILABLE, "the tenant's encryption key is unavailable", _RETRY
            )
        if response.status == 410 and code == KEY_RETIRED:
            # Something still names a retired version: refuse it rather than guess.
            raise ApiError(
                500, KEY_RETIRED, "stored data names a data key version that was retired"
            )
        if response.status == 410:
            self.forget(tenant.cloud_id)
            raise ApiError(410, "tenant_purged", "the tenant was purged; its data is gone")
        if response.status != 200:
            raise self._unreachable(tenant)
        return orjson.loads(response.body)

    def _kms_call_args(self) -> dict[str, Any]:
        return {**for_current_tenant(), "attempt_seconds": KMS_ATTEMPT_TIMEOUT_SECONDS}

    def _ask_kms(self, tenant: TenantContext, version: int | None) -> Awaitable[ServiceResponse]:
        common = self._kms_call_args()
        if version is None:
            return self._client.call("kms", "GET", "/internal/kms/data-key", **common)
        return self._client.call(
            "kms",
            "GET",
            "/internal/kms/data-key/{version}",
            params={"version": str(version)},
            **common,
        )

    def _unreachable(self, tenant: TenantContext) -> ApiError:
        """kms did not give a key: keys still in date keep serving; otherwise a clear 503."""
        held = self._held.get(tenant.cloud_id)
        if held is not None and held.expires > self._clock():
            return ApiError(503, "kms_unavailable", "an older key version is unavailable", _RETRY)
        return ApiError(503, "kms_unavailable", "the key service did not answer", _RETRY)


_RETRY = {"retry-after": "5"}


def _code(response: ServiceResponse) -> str | None:
    try:
        document = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        return None
    return document.get("error") if isinstance(document, dict) else None
