"""Structured JSON logs that always say which request and which tenant, and never who.

Every line carries the service, the request id and the tenant's cloud id, taken from the
contextvars of the request being served. Personal data (emails, names, bodies) is never logged.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any, BinaryIO

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


def _processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_context,
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=orjson.dumps),
    ]


def configure_logging(service: str, region: str, level: int = logging.INFO) -> None:
    """Send JSON log lines for this process to stderr, tagged with service and region."""
    structlog.configure(
        processors=_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service, region=region)


class _ServiceLogs:
    """Writes each line to the log of the service it names (see `configure_service_logs`)."""

    def __init__(self, files: Mapping[str, BinaryIO], fallback: BinaryIO) -> None:
        self._files = files
        self._fallback = fallback
        self._lock = threading.Lock()  # lines come from worker threads too

    def msg(self, message: bytes) -> None:
        service = structlog.contextvars.get_contextvars().get("service")
        out = self._files.get(service, self._fallback) if isinstance(service, str) else None
        with self._lock:
            (out or self._fallback).write(message + b"\n")
            (out or self._fallback).flush()

    log = debug = info = warn = warning = error = err = critical = exception = fatal = msg


def configure_service_logs(logs: Mapping[str, Path], level: int = logging.INFO) -> None:
    """For a process of several services: each line goes to the log file of the service it is
    written for (`logs`, by service), as each would write in a process of its own; lines of
    the process itself go to stderr."""
    files: dict[str, BinaryIO] = {}
    for service, path in logs.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        files[service] = os.fdopen(fd, "ab")
    sink = _ServiceLogs(files, sys.stderr.buffer)
    structlog.configure(
        processors=_processors(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_args: sink,
        cache_logger_on_first_use=True,
    )


security_log = structlog.get_logger("tenantry.security")
REFUSAL_STATUSES = frozenset({401, 403})
"""The statuses of a denial worth a security event; a 503 (a store that cannot answer) is not."""


def security_event(reason: str, **fields: Any) -> None:
    """Record a refused attack or misuse; every denial of a token or route goes through here."""
    SECURITY_EVENTS.labels(reason=reason).inc()
    security_log.warning("security_event", reason=reason, **fields)
