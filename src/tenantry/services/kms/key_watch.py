"""Notice within seconds when a customer disables, deletes or denies its key, and when it is back.

Every few seconds (a background loop of the kms process) kms tries each distinct customer key of
its region once (its state, then a wrap and unwrap of a throwaway key), in worker threads so the
event loop keeps serving. A key that refuses makes its tenants unavailable: kms refuses their
data-key calls at once, and tcs is told, so every edge answers 503 `tenant_key_unavailable`
within a second and every service drops the tenant's cached keys. A key that works again serves
them again. Each finding is recorded with its audit event (`byok_key_revoked`,
`byok_key_restored`) in one transaction. A key that cannot be reached counts as refused only
after a few tries in a row, so a brief network blip takes nobody offline. A region with no
customer key has nothing to check: the watch rests until a tenant switches to its own key
(which wakes it), or `IDLE_CHECK_SECONDS` at most (a switch made by another process).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import SQLAlchemyError

from tenantry.platform.background import Idle
from tenantry.services.kms.customer_keys import (
    ENABLED,
    UNAVAILABLE,
    CustomerKey,
    CustomerKeys,
    KeyEvent,
)
from tenantry.services.kms.providers import KeyProvider, KeyProviderError, KeyUnavailable

INTERVAL_VARIABLE = "TENANTRY_CUSTOMER_KEY_CHECK_SECONDS"
DEFAULT_INTERVAL_SECONDS = 2.0
IDLE_CHECK_SECONDS = 30.0
UNREACHABLE_TRIES = 3
PROBE_CONTEXT = {"purpose": "byok-probe"}
log = structlog.get_logger("tenantry.kms.watch")
_PROBE_KEY = bytes(32)  # a throwaway plaintext: only whether the key answers matters

Tell = Callable[[str, bool], Awaitable[bool]]
"""Tells tcs whether a tenant's key is available; True once tcs has recorded it."""


def check_interval() -> float:
    """Seconds between two checks of each customer key: the variable, else 2 s."""
    raw = os.environ.get(INTERVAL_VARIABLE)
    try:
        value = float(raw) if raw else DEFAULT_INTERVAL_SECONDS
    except ValueError:
        value = -1.0
    if not 0 < value <= 60:
        raise ValueError(f"{INTERVAL_VARIABLE} must be a number of seconds in (0, 60]")
    return value


@dataclass(frozen=True, slots=True)
class Finding:
    """What one check of a key found: usable or not, and why not; `None` means not sure yet."""

    usable: bool | None
    reason: str = ""


class CustomerKeyWatch:
    """Checks the customer keys of one region and keeps kms's records and tcs in step with them."""

    def __init__(
        self,
        customers: CustomerKeys,
        provider: KeyProvider,
        region: str,
        tell: Tell,
    ) -> None:
        self._customers = customers
        self._provider = provider
        self._region = region
        self._tell = tell
        self._told: dict[str, bool] = {}  # what tcs last recorded, per tenant, since start
        self._unreachable: dict[str, int] = {}

    async def check_once(self) -> Idle | None:
        """Check each distinct key once, then bring records and tcs in line with the findings;
        `Idle` when the region has no customer key to watch and nothing left to tell tcs."""
        records = await asyncio.to_thread(self._customers.in_region, self._region)
        if not records and not self._told:
            return Idle()
        refs = sorted({record.key_ref for record in records})
        findings = dict(
            zip(
                refs,
                await asyncio.gather(*(asyncio.to_thread(self._check, r) for r in refs)),
                strict=True,
            )
        )
        for record in records:
            finding = findings[record.key_ref]
            if finding.usable is not None:
                await self._apply(record, finding)
        # Tenants that left BYOK since (their keys are under the root key again) are available.
        current = {record.cloud_id for record in records}
        for cloud_id in [known for known in self._told if known not in current]:
            if self._told[cloud_id] or await self._tell(cloud_id, True):
                del self._told[cloud_id]
        return None

    def _check(self, key_ref: str) -> Finding:
        """Try `key_ref` once (blocking: runs in a worker thread)."""
        try:
            state = self._provider.describe(key_ref)
            if state.value != ENABLED:
                return self._refused(key_ref, "key_" + state.value)
            wrapped = self._provider.wrap(key_ref, _PROBE_KEY, PROBE_CONTEXT)
            self._provider.unwrap(key_ref, wrapped, PROBE_CONTEXT)
        except KeyUnavailable as exc:
            if exc.reason == "provider_unreachable":
                tries = self._unreachable.get(key_ref, 0) + 1
                self._unreachable[key_ref] = tries
                if tries < UNREACHABLE_TRIES:
                    return Finding(None)
            return self._refused(key_ref, exc.reason)
        except KeyProviderError as exc:
            return self._refused(key_ref, exc.reason)
        self._unreachable.pop(key_ref, None)
        return Finding(True)

    def _refused(self, key_ref: str, reason: str) -> Finding:
        if reason != "provider_unreachable":
            self._unreachable.pop(key_ref, None)
        return Finding(False, reason)

    async def _apply(self, record: CustomerKey, finding: Finding) -> None:
        usable = bool(finding.usable)
        if record.usable != usable:
            action = "byok_key_restored" if usable else "byok_key_revoked"
            event = KeyEvent(action, {"key_ref": record.key_ref, "reason": finding.reason or None})
            state = ENABLED if usable else UNAVAILABLE
            try:
                await asyncio.to_thread(
                    self._customers.set_state, record.cloud_id, record.key_ref, state, event
                )
            except SQLAlchemyError as exc:
                # The record and its event wait for the next round; tcs is told all the same,
                # so a revoked key takes the tenant offline whatever kms's storage does.
                log.warning("key_state_not_recorded", tenant_id=record.cloud_id, error=str(exc))
        if self._told.get(record.cloud_id) != usable and await self._tell(record.cloud_id, usable):
            self._told[record.cloud_id] = usable
