"""Give every request an id, count and time it, and log one line when it ends.

The line names the client: the peer that connected, or in a service, the client the edge
received the request from (service authentication fills that in).
"""

from __future__ import annotations

import re
import time
import uuid

import structlog

from tenantry.platform.asgi import ASGIApp, Message, Receive, Scope, Send, header
from tenantry.platform.context import current_request_id
from tenantry.platform.metrics import LATENCY, REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
log = structlog.get_logger("tenantry.request")


class RequestMiddleware:
    """Outermost middleware of every service: request id in, request id out, metrics, log line."""

    def __init__(self, app: ASGIApp, *, service: str) -> None:
        self.app = app
        self.service = service
        self._latency = LATENCY.labels(service=service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, REQUEST_ID_HEADER)
        request_id = (
            incoming if incoming and _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        )
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        status = 500
        facts: dict[str, str] = {}
        peer = scope.get("client")
        if peer:
            # Who sent the request; a service learns its end client's address from the edge.
            facts["client"] = str(peer[0])
        scope["tenantry"] = facts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            self._latency.observe(elapsed)
            REQUESTS.labels(service=self.service, method=scope["method"], status=status).inc()
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                ms=round(elapsed * 1000, 2),
                **facts,
            )
            current_request_id.reset(token)
