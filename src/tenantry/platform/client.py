"""Calls from one tenantry service to another: signed, tenant-aware, bounded in time.

Every call carries the tenant context and the request id of the request being served, and has a
timeout; over the network each attempt gets a fresh single-use service token for the callee.
Only idempotent methods are retried, and only when the callee could not have acted (it could not
be reached, or answered 502/503/504 without saying when to come back). One attempt loop serves
both whole answers (`send`) and streamed ones (`stream`); a transport carries each attempt: the
network (`transport.py`), or a direct call when the callee runs in the same process
(`in_process.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from tenantry.platform import claims as claim
from tenantry.platform.context import (
    UserContext,
    current_request_id,
    current_tenant_token,
    require_tenant,
)
from tenantry.platform.directory import GLOBAL, ServiceDirectory
from tenantry.platform.errors import ApiError
from tenantry.platform.in_process import InProcessTransport
from tenantry.platform.tenant_context import HEADER as TENANT_CONTEXT_HEADER
from tenantry.platform.tokens import TokenSigner
from tenantry.platform.transport import (
    CONNECTION_ERRORS,
    Attempt,
    NetworkTransport,
    Reply,
    Transport,
)

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUS = frozenset({502, 503, 504})
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class ServiceResponse:
    """A callee's answer: status, headers and the raw body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)


@dataclass(frozen=True, slots=True)
class StreamedResponse:
    """A callee's answer whose body is read piece by piece (see `ServiceClient.stream`)."""

    status: int
    headers: Mapping[str, str]
    _reply: Reply
    _piece_bytes: int

    async def pieces(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ApiError 502 `upstream_body_incomplete` if it is cut short."""
        try:
            async for piece in self._reply.pieces(self._piece_bytes):
                yield piece
        except CONNECTION_ERRORS as exc:
            raise ApiError(
                502, "upstream_body_incomplete", "the answer's body was cut short"
            ) from exc


def fill_route(route: str, params: Mapping[str, str]) -> str:
    """Fill `{name}` segments of a route template with URL-quoted values."""
    path = route
    for name, value in params.items():
        path = path.replace("{" + name + "}", quote(value, safe=""))
    if "{" in path:
        raise ValueError(f"route {route!r} has unfilled parameters")
    return path


class ServiceClient:
    """One per process: a pooled client that signs every call it makes over the network."""

    def __init__(
        self,
        signer: TokenSigner,
        directory: ServiceDirectory,
        *,
        timeout: float = 10.0,
        retries: int = 2,
    ) -> None:
        self._timeout = timeout
        self._retries = retries
        self._network = NetworkTransport(signer, directory)
        self._local = (
            None
            if directory.in_process is None
            else InProcessTransport(signer.issuer, directory.in_process)
        )

    async def close(self) -> None:
        """Close pooled connections; call on shutdown."""
        await self._network.close()

    def _transport(self, callee: str, region: str) -> Transport:
        """In process when the callee runs here, else over the network."""
        if self._local is not None and self._local.serves(callee, region):
            return self._local
        return self._network

    async def call(
        self,
        callee: str,
        method: str,
        route: str,
        *,
        params: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        content_type: str = "application/octet-stream",
        region: str = GLOBAL,
        tenant_context: str | None = None,
        tenant_id: str | None = None,
        user: UserContext | None = None,
        attempt_seconds: float | None = None,
    ) -> ServiceResponse:
        """Call `METHOD route` on `callee`; `route` is a literal template the policy check reads.

        The body is `json`, or else the raw `content` sent as `content_type`.
        `attempt_seconds` bounds each attempt, where the caller must answer sooner than the
        client's default allows (its own caller is waiting with a timeout of its own).
        """
        path = fill_route(route, params or {})
        if query:
            path += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
        body, headers = b"", {}
        if json is not None:
            body, headers = orjson.dumps(json), {"content-type": "application/json"}
        elif content is not None:
            body, headers = content, {"content-type": content_type}
        return await self.send(
            callee,
            method,
            path,
            body=body,
            headers=headers,
            region=region,
            tenant_context=tenant_context,
            tenant_id=tenant_id,
            user=user,
            attempt_seconds=attempt_seconds,
        )

    async def send(
        self,
        callee: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        region: str = GLOBAL,
        tenant_context: str | None = None,
        tenant_id: str | None = None,
        user: UserContext | None = None,
        max_response_bytes: int = 8 * 1024 * 1024,
        attempt_seconds: float | None = None,
    ) -> ServiceResponse:
        """Send a prepared request (path with query) to `callee` and read its whole answer.

        A body cut short is tried again like a callee that did not answer.
        """
        seconds = self._timeout if attempt_seconds is None else attempt_seconds
        attempt = _attempt(
            callee,
            region,
            method,
            path,
            body,
            headers,
            tenant_context,
            tenant_id,
            user,
            seconds=seconds,
            whole_seconds=seconds,
        )

        async def read_whole(reply: Reply) -> ServiceResponse:
            received = bytearray()
            async for piece in reply.pieces(64 * 1024):
                received += piece
                if len(received) > max_response_bytes:
                    raise ApiError(502, "upstream_response_too_large", f"{callee} answer too big")
            await reply.close()
            return ServiceResponse(reply.status, reply.headers, bytes(received))

        return await self._attempts(attempt, read_whole)

    @contextlib.asynccontextmanager
    async def stream(
        self,
        callee: str,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        region: str = GLOBAL,
        tenant_context: str | None = None,
        tenant_id: str | None = None,
        user: UserContext | None = None,
        piece_bytes: int = 256 * 1024,
    ) -> AsyncIterator[StreamedResponse]:
        """Send a prepared request like `send`, but hand back the body as it arrives.

        Nothing is buffered: the caller relays `pieces()` on, so an answer of any size costs
        one piece of memory. Retries are as in `send`, and only before any body is read; the
        timeout bounds the wait for the answer and each wait for more bytes, not the whole.
        """
        attempt = _attempt(
            callee,
            region,
            method,
            path,
            body,
            headers,
            tenant_context,
            tenant_id,
            user,
            seconds=self._timeout,
            whole_seconds=None,
        )

        async def keep_open(reply: Reply) -> Reply:
            return reply

        reply = await self._attempts(attempt, keep_open)
        try:
            yield StreamedResponse(reply.status, reply.headers, reply, piece_bytes)
        finally:
            await reply.close()

    async def _attempts(self, attempt: Attempt, finish: Callable[[Reply], Awaitable[_T]]) -> _T:
        """Make `attempt` until one is answered for good, then hand its reply to `finish`.

        A reply that is worth retrying is let go and tried again while attempts are left; so is
        one whose `finish` meets a connection error (it had not been answered whole).
        """
        attempts = 1 + (self._retries if attempt.method in IDEMPOTENT else 0)
        transport = self._transport(attempt.callee, attempt.region)
        for number in range(attempts):
            last = number + 1 == attempts
            try:
                reply = await transport.open(attempt)
                try:
                    if not last and _worth_retrying(reply):
                        await reply.close()
                        await _back_off(number)
                        continue
                    return await finish(reply)
                except BaseException:
                    await reply.close()
                    raise
            except CONNECTION_ERRORS as exc:
                if last:
                    raise _did_not_answer(attempt.callee) from exc
                await _back_off(number)
        raise AssertionError("unreachable")


def _worth_retrying(reply: Reply) -> bool:
    """Whether an answer is a passing failure to try again.

    A 5xx that says when to come back (`retry-after`) is the callee's considered answer (its key
    service is down, its fair share is full): passed on at once, not retried into the caller's
    own timeout.
    """
    return reply.status in RETRYABLE_STATUS and "retry-after" not in reply.headers


async def _back_off(attempt: int) -> None:
    """The pause before the next attempt, a little longer each time."""
    await asyncio.sleep(0.05 * (attempt + 1))


def _did_not_answer(callee: str) -> ApiError:
    return ApiError(503, "upstream_unavailable", f"the {callee} service did not answer")


def _attempt(
    callee: str,
    region: str,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None,
    tenant_context: str | None,
    tenant_id: str | None,
    user: UserContext | None,
    *,
    seconds: float,
    whole_seconds: float | None,
) -> Attempt:
    """What every attempt of one call sends: its headers, the claims it vouches for, its time."""
    claims: dict[str, Any] = {}
    if tenant_id is not None:
        claims[claim.TENANT] = tenant_id
    if user is not None:
        claims[claim.USER] = user.account_id
        claims[claim.ROLE] = user.role
        if user.token_id is not None:
            claims[claim.USER_TOKEN] = user.token_id
    sent = dict(headers or {})
    if tenant_context is not None:
        sent[TENANT_CONTEXT_HEADER] = tenant_context
    request_id = current_request_id.get()
    if request_id is not None:
        sent["x-request-id"] = request_id
    return Attempt(callee, region, method, path, body, sent, claims, seconds, whole_seconds)


def for_current_tenant() -> dict[str, Any]:
    """The `call` arguments that act for the request's tenant: its home region, its signed
    context (passed on as it came) and its id."""
    tenant = require_tenant()
    return {
        "region": tenant.region,
        "tenant_context": current_tenant_token.get(),
        "tenant_id": tenant.cloud_id,
    }
