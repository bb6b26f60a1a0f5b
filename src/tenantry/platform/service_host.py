"""Several services in one process, each answering on its own listening socket.

In the default layout each region runs one process holding its edge and its regional services,
and one process holds the global services. The host is the one ASGI app that process's server
runs: a request goes to the service whose socket it arrived on, and the lifespan of the process
is each service's lifespan in turn (started in order, stopped in reverse). While a service
handles a request, or runs work it started, its log lines name it, and go to its own log.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from tenantry.platform.asgi import ASGIApp, Message, Receive, Scope, Send, send_error
from tenantry.platform.errors import ApiError

log = structlog.get_logger("tenantry.host")


@dataclass(frozen=True, slots=True)
class Hosted:
    """One service of the process: its name and region, its app, and the port it answers on."""

    service: str
    region: str
    app: ASGIApp
    port: int


def named(service: str, region: str, app: ASGIApp) -> ASGIApp:
    """`app`, with every log line it writes (and its tasks write) naming `service` and `region`."""

    async def call(scope: Scope, receive: Receive, send: Send) -> None:
        with structlog.contextvars.bound_contextvars(service=service, region=region):
            await app(scope, receive, send)

    return call


class _Lifespan:
    """One service's lifespan, driven from outside: started, then later stopped."""

    def __init__(self, hosted: Hosted) -> None:
        self.hosted = hosted
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        try:
            await self.hosted.app(scope, self._inbox.get, self._outbox.put)
        except Exception as exc:
            await self._outbox.put({"type": "lifespan.failed", "message": repr(exc)})

    async def _step(self, event: str) -> None:
        await self._inbox.put({"type": f"lifespan.{event}"})
        answer = await self._outbox.get()
        if answer["type"] != f"lifespan.{event}.complete":
            raise RuntimeError(
                f"{self.hosted.service} failed to {event}: {answer.get('message', answer['type'])}"
            )

    async def startup(self) -> None:
        """Start the service: its startup hooks and background loops run, named as it."""
        with structlog.contextvars.bound_contextvars(
            service=self.hosted.service, region=self.hosted.region
        ):
            self._task = asyncio.create_task(self._run())
        await self._step("startup")

    async def shutdown(self) -> None:
        """Stop the service and wait for its lifespan to end."""
        if self._task is None:
            return
        await self._step("shutdown")
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class ServiceHost:
    """The ASGI app of a process that runs several services."""

    def __init__(self, hosted: Sequence[Hosted]) -> None:
        self._hosted = tuple(hosted)
        self._by_port = {h.port: named(h.service, h.region, h.app) for h in self._hosted}
        if len(self._by_port) != len(self._hosted):
            raise ValueError("each hosted service needs a port of its own")

    def app_of(self, hosted: Hosted) -> ASGIApp:
        """The app as the host runs it (its log lines named), for in-process callers."""
        return self._by_port[hosted.port]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        server = scope.get("server")
        app = self._by_port.get(server[1]) if server else None
        if app is None:
            if scope["type"] == "http":
                await send_error(send, ApiError(404, "no_such_service", "nothing serves here"))
            return
        await app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        started: list[_Lifespan] = []
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    for hosted in self._hosted:
                        lifespan = _Lifespan(hosted)
                        await lifespan.startup()
                        started.append(lifespan)
                except RuntimeError as exc:
                    await _shutdown(started)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await _shutdown(started)
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _shutdown(started: list[_Lifespan]) -> None:
    """Stop the started services, the last started first; one that fails does not keep the
    others from stopping."""
    for lifespan in reversed(started):
        try:
            await lifespan.shutdown()
        except RuntimeError as exc:
            log.error("service_shutdown_failed", service=lifespan.hosted.service, error=str(exc))
    started.clear()
