"""Put a tenant's data keys under its own AWS KMS key (BYOK), or back under the root key, online.

Nothing is re-encrypted: every version of the tenant's data key is unwrapped and wrapped again,
so the data, and backups sealed with the same data keys, stay readable. The customer's key is
tried first (a wrap and unwrap bound to the tenant), so a key that cannot serve the tenant is
refused before anything changes; a switch that fails half way is put back.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator

import structlog

from tenantry.platform.context import TenantContext, require_tenant
from tenantry.platform.errors import ApiError
from tenantry.services.kms.customer_keys import CustomerKey, KeyEvent
from tenantry.services.kms.data_key_store import DataKeyStore, Wrapping
from tenantry.services.kms.errors import kms_error
from tenantry.services.kms.keyring import DATA_KEY_PURPOSE
from tenantry.services.kms.providers import (
    DATA_KEY_BYTES,
    InvalidKeyRequest,
    KeyProvider,
    KeyProviderError,
    KeyState,
    KeyUnavailable,
    UnwrapFailed,
)
from tenantry.services.kms.providers.routing import customer_key_region
from tenantry.services.kms.root_keys import RootKeys

PROBE_PURPOSE = "byok-check"
log = structlog.get_logger("tenantry.kms")


def check_customer_key(provider: KeyProvider, key_ref: str, cloud_id: str) -> None:
    """Refuse a key the tenant could not use: not enabled, denied, or failing a round trip.

    The round trip is bound to the tenant like its data keys are (tenant and purpose), with a
    throwaway key, so a key policy that limits the encryption context is tested as it will be used.
    """
    state = provider.describe(key_ref)
    if state is not KeyState.ENABLED:
        raise KeyUnavailable("key_" + state.value, f"KMS key {key_ref} is {state.value}")
    probe = secrets.token_bytes(DATA_KEY_BYTES)
    context = {"tenant": cloud_id, "version": PROBE_PURPOSE, "purpose": DATA_KEY_PURPOSE}
    if provider.unwrap(key_ref, provider.wrap(key_ref, probe, context), context) != probe:
        raise UnwrapFailed(f"KMS key {key_ref} did not give back what it encrypted")


@contextlib.contextmanager
def customer_key_errors(key_ref: str) -> Iterator[None]:
    """Answer a customer key's failures with a clear 4xx/503 naming what is wrong with it."""
    try:
        yield
    except InvalidKeyRequest as exc:
        raise kms_error(422, "invalid_key_arn", exc.message) from None
    except KeyUnavailable as exc:
        if exc.reason == "provider_unreachable":
            raise kms_error(
                503, "customer_key_unreachable", f"AWS KMS could not be reached for {key_ref}"
            ) from None
        raise kms_error(
            422, "customer_key_unusable", f"the key {key_ref} cannot be used ({exc.reason})"
        ) from None
    except KeyProviderError as exc:
        raise kms_error(
            422, "customer_key_unusable", f"the key {key_ref} failed a test ({exc.reason})"
        ) from None


class Byok:
    """Switches the tenant of the running context between the root key and its own key."""

    def __init__(
        self,
        keys: DataKeyStore,
        roots: RootKeys,
        provider: KeyProvider,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self._keys = keys
        self._roots = roots
        self._provider = provider
        self._on_change = on_change
        """Told once a tenant's switch is done (the key watch starts or stops watching it)."""

    def enable(self, key_ref: str) -> dict[str, object]:
        """Wrap every data key of the tenant under `key_ref` from now on; the switch made."""
        tenant = self._tenant()
        with customer_key_errors(key_ref):
            customer_key_region(key_ref)
            check_customer_key(self._provider, key_ref, tenant.cloud_id)
        previous = self._keys.customers.of(tenant.cloud_id)
        # The record is the switch: from its commit on, new versions go under the customer's
        # key, so its event commits with it; the versions moved are the rewrap's own events.
        switched = KeyEvent(
            "byok_enabled",
            {
                "key_ref": key_ref,
                "previous_key_ref": previous.key_ref if previous is not None else None,
            },
        )
        self._keys.customers.put(tenant.cloud_id, tenant.region, tenant.shard, key_ref, switched)
        with self._undo_on_failure(tenant, previous), customer_key_errors(key_ref):
            moved = self._keys.move_to(Wrapping.of_customer(key_ref))
        self._on_change()
        return {"key_ref": key_ref, "rewrapped": len(moved)}

    def disable(self) -> dict[str, object]:
        """Wrap the tenant's data keys under the region's root key again; the switch made."""
        tenant = self._tenant()
        previous = self._keys.customers.of(tenant.cloud_id)
        if previous is None:
            raise kms_error(409, "byok_not_enabled", "this site's keys are under the root key")
        if not previous.usable:
            raise kms_error(
                409, "tenant_key_unavailable", "the site's own key is unavailable; enable it first"
            )
        switched = KeyEvent("byok_disabled", {"key_ref": previous.key_ref})
        self._keys.customers.remove(tenant.cloud_id, switched)
        with self._undo_on_failure(tenant, previous), customer_key_errors(previous.key_ref):
            moved = self._keys.move_to(Wrapping.of_root(self._roots.active(self._keys.region)))
        self._on_change()
        return {"key_ref": None, "rewrapped": len(moved)}

    def _tenant(self) -> TenantContext:
        tenant = require_tenant()
        if tenant.region != self._keys.region or tenant.shard not in self._keys.shards:
            raise kms_error(403, "wrong_region", "this tenant's keys do not live in this region")
        return tenant

    @contextlib.contextmanager
    def _undo_on_failure(
        self, tenant: TenantContext, previous: CustomerKey | None
    ) -> Iterator[None]:
        """If the rewrap fails, put the record and the keys back as they were, as far as possible.

        Every version stays readable either way: each row names the key that wraps it.
        """
        try:
            yield
        except (ApiError, KeyProviderError) as failure:
            customers = self._keys.customers
            undone = KeyEvent(
                "byok_switch_undone",
                {
                    "key_ref": previous.key_ref if previous is not None else None,
                    "reason": getattr(failure, "code", None) or getattr(failure, "reason", ""),
                },
            )
            if previous is None:
                customers.remove(tenant.cloud_id, undone)
                back = Wrapping.of_root(self._roots.active(self._keys.region))
            else:
                customers.put(
                    tenant.cloud_id, tenant.region, tenant.shard, previous.key_ref, undone
                )
                back = Wrapping.of_customer(previous.key_ref)
            try:
                self._keys.move_to(back)
            except (ApiError, KeyProviderError) as exc:
                log.warning("byok_undo_incomplete", tenant_id=tenant.cloud_id, error=str(exc))
            raise
