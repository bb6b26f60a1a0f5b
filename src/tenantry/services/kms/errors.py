"""Turn root-key provider failures into the key service's API errors, each with its reason.

A key that is disabled, missing or denied takes the tenant's data offline with a clear 503; a
wrapped key that fails to authenticate is a 500 and a security event, since it means the stored
bytes were changed or moved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import structlog

from tenantry.platform.errors import ApiError
from tenantry.platform.logs import security_event
from tenantry.services.kms.providers import KeyProviderError, KeyUnavailable, UnwrapFailed

NO_STORE = {"cache-control": "no-store"}
"""Every kms answer carries this: key material must never sit in a cache."""

log = structlog.get_logger("tenantry.kms")


def kms_error(status: int, code: str, message: str) -> ApiError:
    """An API error whose response, like every kms response, may not be cached."""
    return ApiError(status, code, message, headers=dict(NO_STORE))


@contextlib.contextmanager
def provider_errors(
    unavailable: str = "tenant_key_unavailable", **fields: object
) -> Iterator[None]:
    """Answer provider failures in the block with kms errors; `fields` go into the logs.

    `unavailable` is the code for a root key that exists but cannot be used now.
    """
    try:
        yield
    except UnwrapFailed:
        security_event("data_key_corrupt", service="kms", **fields)
        raise kms_error(
            500, "data_key_corrupt", "a stored data key failed to authenticate"
        ) from None
    except KeyUnavailable as exc:
        log.warning("key_unavailable", reason=exc.reason, **fields)
        if exc.reason == "provider_unreachable":
            raise kms_error(
                503, "kms_provider_unavailable", "the key provider cannot be reached"
            ) from None
        raise kms_error(503, unavailable, f"the key is unavailable ({exc.reason})") from None
    except KeyProviderError as exc:
        log.error("key_provider_error", reason=exc.reason, **fields)
        raise kms_error(
            500, "kms_provider_error", f"the key provider failed ({exc.reason})"
        ) from None
