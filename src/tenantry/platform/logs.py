"""Structured JSON logs that always say which request and which tenant, and never who.

Every line carries the service, the request id and the tenant's cloud id, taken from the
contextvars of the request being served. Personal data (emails, names, bodies) is never logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from tenantry.platform.context import current_request_id, current_tenant
from tenantry.platform.metrics import SECURITY_EVENTS


def _add_request_context(
    _: Any, __: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    request_id = current_request_id.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    tenant = current_tenant.get()
    if tenant is not None:
        event.setdefault("tenant_id", tenant.cloud_id)
    return event


def configure_logging(service: str, region: str, level: int = logging.INFO) -> None:
    """Send JSON log lines for this process to stderr, tagged with service and region."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_request_context,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, region=region)


security_log = structlog.get_logger("tenantry.security")
REFUSAL_STATUSES = frozenset({401, 403})
"""The statuses of a denial worth a security event; a 503 (a store that cannot answer) is not."""


def security_event(reason: str, **fields: Any) -> None:
    """Record a refused attack or misuse; every denial of a token or route goes through here."""
    SECURITY_EVENTS.labels(reason=reason).inc()
    security_log.warning("security_event", reason=reason, **fields)
