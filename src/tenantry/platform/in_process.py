"""Calls between services that share a process: the callee's app is called directly.

When services of one region run in one process, a call between them goes through this transport
rather than the network: no TLS, no socket, no HTTP parsing, and no service token, since the
caller is known by construction. The callee sees the same ASGI request it would get from its
server, plus an `InProcessCall` naming the caller and the claims a token would have carried.
`ServiceAuthMiddleware` accepts that in place of a token, and checks the allowlist and the
signed tenant context exactly as for a call over the network. Only this transport makes one: it
lives in the request scope, which a server builds from nothing a network peer can choose.

The callee runs in a task of its own with an empty context, as if it were another process: no
contextvar of the caller (tenant, user, request id) leaks into it.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import structlog

from tenantry.platform.asgi import ASGIApp, Message
from tenantry.platform.directory import GLOBAL
from tenantry.platform.transport import Attempt, Reply

IN_PROCESS_CALL = "tenantry.in_process_call"
"""The scope key under which an in-process call names its caller."""
_QUEUED_PIECES = 4
_END = b""
log = structlog.get_logger("tenantry.in_process")


@dataclass(frozen=True, slots=True)
class InProcessCall:
    """Who makes an in-process call, and what a service token would have said for it."""

    caller: str
    claims: Mapping[str, Any]


@dataclass(slots=True)
class InProcessApps:
    """The apps of the services in this process, by service and region."""

    _apps: dict[tuple[str, str], ASGIApp] = field(default_factory=dict)

    def add(self, service: str, region: str, app: ASGIApp) -> None:
        """Make `service` in `region` callable in process."""
        self._apps[(service, region)] = app

    def find(self, service: str, region: str) -> ASGIApp | None:
        """The app a call to `service` in `region` reaches, as the directory would resolve it
        (a global service serves every region); None if it runs in another process."""
        return self._apps.get((service, region)) or self._apps.get((service, GLOBAL))


class CutShort(ConnectionError):
    """The callee stopped before its answer was complete."""


class _InProcessReply:
    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        pieces: asyncio.Queue[bytes | BaseException],
        task: asyncio.Task[None],
        seconds: float,
    ) -> None:
        self.status = status
        self.headers = headers
        self._pieces = pieces
        self._task = task
        self._seconds = seconds
        self._done = False

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        while not self._done:
            async with asyncio.timeout(self._seconds):
                piece = await self._pieces.get()
            if isinstance(piece, BaseException):
                self._done = True
                raise CutShort("the callee failed before its answer was complete") from piece
            if piece is _END:
                self._done = True
                return
            for start in range(0, len(piece), size):
                yield piece[start : start + size]

    async def close(self) -> None:
        self._done = True
        if not self._task.done():
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task


class InProcessTransport:
    """Carries attempts to the apps of this process, as `caller`."""

    def __init__(self, caller: str, apps: InProcessApps) -> None:
        self._caller = caller
        self._apps = apps

    def serves(self, callee: str, region: str) -> bool:
        """True when `callee` in `region` runs in this process."""
        return self._apps.find(callee, region) is not None

    async def open(self, attempt: Attempt) -> Reply:
        """Start the callee on the attempt's request; answer once its response has begun."""
        app = self._apps.find(attempt.callee, attempt.region)
        if app is None:
            raise LookupError(f"{attempt.callee} does not run in this process")
        scope = _scope(attempt, InProcessCall(self._caller, dict(attempt.claims)))
        started: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        pieces: asyncio.Queue[bytes | BaseException] = asyncio.Queue(_QUEUED_PIECES)
        released = asyncio.Event()
        request = {"type": "http.request", "body": attempt.body, "more_body": False}
        sent_request = False

        async def receive() -> Message:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return request
            await released.wait()
            return {"type": "http.disconnect"}

        ended = False

        async def send(message: Message) -> None:
            nonlocal ended
            if message["type"] == "http.response.start":
                if not started.done():
                    started.set_result(message)
            elif message["type"] == "http.response.body" and not ended:
                body = bytes(message.get("body", b""))
                if body:
                    await pieces.put(body)
                if not message.get("more_body", False):
                    ended = True
                    await pieces.put(_END)

        async def run() -> None:
            try:
                await app(scope, receive, send)
            except Exception as exc:
                # What a server would log as an exception in the application.
                log.exception("in_process_call_failed", callee=attempt.callee, path=attempt.path)
                if not started.done():
                    started.set_exception(CutShort("the callee failed before answering"))
                elif not ended:
                    await pieces.put(exc)
                return
            finally:
                released.set()
            if not started.done():
                started.set_exception(CutShort("the callee answered nothing"))

        # An empty context: the callee sees none of the caller's contextvars.
        task = asyncio.create_task(run(), context=contextvars.Context())
        try:
            async with asyncio.timeout(attempt.seconds):
                start = await asyncio.shield(started)
        except BaseException:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise
        headers = {
            bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1")
            for name, value in start.get("headers", ())
        }
        return _InProcessReply(int(start["status"]), headers, pieces, task, attempt.seconds)

    async def close(self) -> None:
        """Nothing is pooled in process."""


def _scope(attempt: Attempt, call: InProcessCall) -> dict[str, Any]:
    """The ASGI request a server would build for `attempt`, and who makes it."""
    path, _, query = attempt.path.partition("?")
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in attempt.headers.items()
    ]
    headers.append((b"content-length", str(len(attempt.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": attempt.method,
        "scheme": "https",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": headers,
        "client": None,
        "server": None,
        "state": {},
        IN_PROCESS_CALL: call,
    }
