"""How one attempt of a call reaches its callee: what every transport answers, and the network one.

The client (`client.py`) decides what to send and whether to try again; a transport carries one
attempt and hands back a `Reply` whose body is still to be read. Over the network that is a
signed HTTPS request through aiohttp: on this project's benchmark a one-hop proxy built on it
kept about half the throughput of the bare upstream, while `httpx.AsyncClient` kept about a
twentieth (see bench/RESULTS.md).
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.tokens import TokenSigner

CONNECTION_ERRORS = (
    aiohttp.ClientConnectionError,
    aiohttp.ClientPayloadError,
    ConnectionError,
    TimeoutError,
)
"""What a transport raises when the callee could not be reached, did not answer in time, or cut
its answer short."""


@dataclass(frozen=True, slots=True)
class Attempt:
    """Everything one attempt sends: the request, the claims its caller vouches for, its time."""

    callee: str
    region: str
    method: str
    path: str
    body: bytes
    headers: Mapping[str, str]
    claims: Mapping[str, Any]
    """What the caller asserts beyond who it is (tenant, user, role)."""
    seconds: float
    """How long the attempt may wait for the answer to begin, and then for each piece of it."""
    whole_seconds: float | None
    """How long the whole answer may take, body included; None for a streamed body."""


class Reply(Protocol):
    """A callee's answer to one attempt: status and headers now, the body as it comes."""

    @property
    def status(self) -> int:
        """The HTTP status."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """The answer's headers, names in lowercase."""
        ...

    def pieces(self, size: int) -> AsyncIterator[bytes]:
        """The body in pieces of at most `size` bytes; CONNECTION_ERRORS if it is cut short."""
        ...

    async def close(self) -> None:
        """Let go of the answer (and its connection); the rest of the body is dropped."""
        ...


class Transport(Protocol):
    """Carries attempts to callees."""

    async def open(self, attempt: Attempt) -> Reply:
        """Send one attempt; raise one of CONNECTION_ERRORS if the callee did not answer."""
        ...

    async def close(self) -> None:
        """Let go of whatever the transport holds (pooled connections)."""
        ...


class _NetworkReply:
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status
        self.headers = {name.lower(): value for name, value in response.headers.items()}

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        async for piece in self._response.content.iter_chunked(size):
            yield piece

    async def close(self) -> None:
        self._response.release()


class NetworkTransport:
    """Signed HTTPS to the callee's URL in the service directory, over pooled connections."""

    def __init__(self, signer: TokenSigner, directory: ServiceDirectory) -> None:
        self._signer = signer
        self._directory = directory
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use (a client that only calls in process never
        needs one)."""
        if self._session is None:
            context = ssl.create_default_context(cafile=str(self._directory.ca_file))
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            connector = aiohttp.TCPConnector(ssl=context, limit=256, ttl_dns_cache=None)
            self._session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
        return self._session

    async def open(self, attempt: Attempt) -> Reply:
        """Send one attempt with a service token of its own (single use: one per attempt)."""
        url = self._directory.url(attempt.callee, attempt.region) + attempt.path
        token = self._signer.sign(attempt.callee, dict(attempt.claims))
        timeout = aiohttp.ClientTimeout(
            total=attempt.whole_seconds,
            connect=min(2.0, attempt.seconds),
            sock_read=None if attempt.whole_seconds is not None else attempt.seconds,
        )
        response = await self._http().request(
            attempt.method,
            url,
            data=attempt.body or None,
            headers={**attempt.headers, "authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        return _NetworkReply(response)

    async def close(self) -> None:
        """Close pooled connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
