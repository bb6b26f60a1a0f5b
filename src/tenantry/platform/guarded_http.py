"""uvicorn's HTTP protocol made to answer every failure in the JSON error shape, and never wait
on a slow client for long.

uvicorn refuses a request its parser rejects (a lower-case method, Content-Length beside
Transfer-Encoding, two Content-Lengths, a bare newline in a header) with a plain-text 400 before
any ASGI app runs, and it waits without limit for a request head or body that is never finished.
This protocol answers those refusals as `{"error", "message"}`, closes a connection whose request
head is not complete in time or whose body stops arriving, bounds the size of a head, refuses
protocol upgrades, and caps the connections one client address may hold open at once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from tenantry.platform.corked_http import CorkedHttpToolsProtocol
from tenantry.platform.errors import ApiError

DEFAULT_HEAD_SECONDS = 10.0
DEFAULT_BODY_STALL_SECONDS = 10.0
DEFAULT_MAX_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class HttpGuards:
    """How long a listener waits on a client, and how much it lets one client hold."""

    head_seconds: float = DEFAULT_HEAD_SECONDS
    """From the connection (or a request's first byte) until its head is complete."""
    body_stall_seconds: float = DEFAULT_BODY_STALL_SECONDS
    """Longest wait for the next piece of a request body that is not complete yet."""
    max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES
    connections_per_client: int | None = None
    """Open connections one client address may hold; None for no cap (internal listeners)."""
    answer_headers: tuple[tuple[bytes, bytes], ...] = ()
    """Headers the listener's own answers carry besides the JSON ones (an edge's security set)."""


class _Refused(Exception):
    """Raised from a parser callback to stop parsing; `_refusal` says what to answer."""


class GuardedHttpProtocol(CorkedHttpToolsProtocol):
    """The corked httptools protocol with the guards of its listener (`guarded_protocol`)."""

    guards_by_port: ClassVar[Mapping[int, HttpGuards]] = {}
    """The guards of each listening port; a port not named gets the defaults."""
    open_by_client: ClassVar[Counter[tuple[int, str]]] = Counter()
    """Open connections by listening port and client address."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._refusal: ApiError | None = None
        self._in_body = False
        self._counted: tuple[int, str] | None = None
        self.guards = HttpGuards()

    # Connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sockname = transport.get_extra_info("sockname")
        port = int(sockname[1]) if isinstance(sockname, tuple) else 0
        self.guards = self.guards_by_port.get(port, self.guards)
        super().connection_made(transport)
        self._arm_head_timer()
        cap = self.guards.connections_per_client
        if cap is None or self.client is None:
            return
        self._counted = (port, self.client[0])
        self.open_by_client[self._counted] += 1
        if self.open_by_client[self._counted] > cap:
            self._answer_and_close(
                ApiError(
                    429,
                    "too_many_connections",
                    f"this address already has {cap} connections open; reuse one of them",
                    {"Retry-After": "1"},
                )
            )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._counted is not None:
            self.open_by_client[self._counted] -= 1
            if self.open_by_client[self._counted] <= 0:
                del self.open_by_client[self._counted]
            self._counted = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError:
            # Raised by a callback: our own refusal, or a head uvicorn could not decode.
            self._refuse(
                self._refusal
                or ApiError(400, "malformed_request", "the request head could not be decoded")
            )
        except httptools.HttpParserError as exc:
            self._refuse(
                ApiError(400, "malformed_request", f"the request is not valid HTTP/1.1: {exc}")
            )

    # Parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        if self.parser.should_upgrade():
            # The parser would hand the rest of the stream, body included, to another protocol.
            self._refusal = ApiError(
                400, "upgrade_not_supported", "only HTTP/1.1 is spoken here; send no Upgrade"
            )
            raise _Refused
        super().on_headers_complete()
        self._in_body = True
        self._arm_body_timer()

    def on_body(self, body: bytes) -> None:
        self._arm_body_timer()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._in_body = False
        self._cancel_body_timer()
        super().on_message_complete()

    # Guards

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.guards.max_head_bytes:
            self._refusal = ApiError(
                431,
                "headers_too_large",
                f"the request head is over {self.guards.max_head_bytes} bytes",
            )
            raise _Refused

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.guards.head_seconds, self._head_overdue)

    def _arm_body_timer(self) -> None:
        self._cancel_body_timer()
        self._body_timer = self.loop.call_later(self.guards.body_stall_seconds, self._body_stalled)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        self._cancel_body_timer()

    def _waiting_on_us(self) -> bool:
        """True when the server, not the client, is why nothing arrives: reading is paused
        (a pipelined request waits its turn, or the app has not taken the body so far)."""
        return self.flow is not None and self.flow.read_paused

    def _head_overdue(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._waiting_on_us() or self._response_in_progress():
            self._arm_head_timer()
            return
        self._refuse(
            ApiError(
                408,
                "request_head_timeout",
                f"the request head did not arrive within {self.guards.head_seconds:g} s",
            )
        )

    def _body_stalled(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self._waiting_on_us():
            self._arm_body_timer()
            return
        self._refuse(
            ApiError(
                408,
                "request_body_timeout",
                f"no more of the request body arrived for {self.guards.body_stall_seconds:g} s",
            )
        )

    def _response_in_progress(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _refuse(self, error: ApiError) -> None:
        """End the connection with `error`, unless an answer is already on its way."""
        self._cancel_timers()
        cycle = self.cycle
        if cycle is not None and cycle.response_started and not cycle.response_complete:
            # Writing now would corrupt the response being sent: finish it, then close.
            cycle.keep_alive = False
            self.flow.pause_reading()
            return
        if self._in_body and cycle is not None:
            if cycle.response_complete:
                # This request was answered before its body was done; there is nothing to add.
                self.transport.close()
                return
            # The app is still reading this body: it sees the client go, and sends nothing.
            cycle.disconnected = True
            cycle.message_event.set()
        self._answer_and_close(error)

    def _answer_and_close(self, error: ApiError) -> None:
        self._cancel_timers()
        body = orjson.dumps(error.body())
        head = [
            STATUS_LINE[error.status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n",
        ]
        extra = [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
        for name, value in (*extra, *self.guards.answer_headers):
            head.append(name + b": " + value + b"\r\n")
        self.transport.write(b"".join(head) + b"\r\n" + body)
        self.transport.close()


def guarded_protocol(guards_by_port: Mapping[int, HttpGuards]) -> type[GuardedHttpProtocol]:
    """A protocol class for one server: the guards of each of its listening ports (the
    defaults for a port not named), and its own count of connections."""
    return type(
        "ListenerHttpProtocol",
        (GuardedHttpProtocol,),
        {"guards_by_port": dict(guards_by_port), "open_by_client": Counter()},
    )
