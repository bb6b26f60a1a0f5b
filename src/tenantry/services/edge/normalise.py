"""The first link of the edge's chain: refuse malformed, ambiguous or oversized requests.

Paths that could mean different things to different parsers (dot segments, doubled or encoded
slashes, backslashes, control characters) are refused rather than rewritten, so what the edge
checked is exactly what the service receives. So are two copies of a header the edge reads one
value from: which copy counts would be anyone's guess.
"""

from __future__ import annotations

import re
from collections import Counter

from tenantry.platform.asgi import Receive, Scope
from tenantry.platform.errors import ApiError
from tenantry.platform.tokens import MAX_TOKEN_BYTES

MAX_PATH_BYTES = 2048
MAX_QUERY_BYTES = 4096
MAX_HEADER_BYTES = 16 * 1024
MAX_HEADERS = 100
MAX_BODY_BYTES = 1024 * 1024
MAX_MEDIA_BODY_BYTES = 16 * 1024 * 1024
"""Uploads to media through the edge: one chunk, or a whole file up to this size."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
SITE_PATTERN = r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
"""What a site name in `X-Tenantry-Site` may look like."""
SINGLE_VALUED = frozenset({b"host", b"authorization", b"x-tenantry-site", b"content-type"})
"""Headers a request may carry once at most."""
_SAFE_PATH = re.compile(rb"^(/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+/?$|^/$")
_AMBIGUOUS = re.compile(rb"%2[eEfF]|%5[cC]|%00|(^|/)\.\.?(/|$)")


def check_request(scope: Scope) -> None:
    """Raise an ApiError for a request the edge will not interpret."""
    if scope["method"] not in METHODS:
        raise ApiError(405, "method_not_allowed", f"method {scope['method']} is not supported")
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    if len(raw_path) > MAX_PATH_BYTES:
        raise ApiError(414, "uri_too_long", "the path is too long")
    if len(scope["query_string"]) > MAX_QUERY_BYTES:
        raise ApiError(414, "uri_too_long", "the query string is too long")
    if _AMBIGUOUS.search(raw_path) or not _SAFE_PATH.match(raw_path):
        raise ApiError(400, "bad_path", "the path has characters or segments that are not allowed")
    headers = scope["headers"]
    if len(headers) > MAX_HEADERS or sum(len(k) + len(v) for k, v in headers) > MAX_HEADER_BYTES:
        raise ApiError(431, "headers_too_large", "the request headers are too large")
    repeated = Counter(name for name, _ in headers if name in SINGLE_VALUED)
    for name, count in sorted(repeated.items()):
        if count > 1:
            shown = name.decode().title()
            raise ApiError(
                400, "duplicate_header", f"send the {shown} header once, not {count} times"
            )
    _canonical_bearer(headers)


def _canonical_bearer(headers: list[tuple[bytes, bytes]]) -> None:
    """Spell a bearer credential's scheme `Bearer`, in whatever case it came (RFC 9110 11.1),
    and refuse a user token no issuer would sign before it reaches the token verifier."""
    for index, (name, value) in enumerate(headers):
        if name != b"authorization":
            continue
        scheme, _, token = bytes(value).partition(b" ")
        if scheme.lower() != b"bearer":
            return
        token = token.strip(b" ")
        if not token:
            raise ApiError(
                401, "token_missing", "send your user token: `Authorization: Bearer <token>`"
            )
        if len(token) > MAX_TOKEN_BYTES:
            raise ApiError(
                401,
                "token_malformed",
                f"a user token is at most {MAX_TOKEN_BYTES} bytes and this one is {len(token)}; "
                "send the token /login gave you",
            )
        headers[index] = (name, b"Bearer " + token)
        return


async def read_body(
    scope: Scope, receive: Receive, declared_length: str | None, limit: int = MAX_BODY_BYTES
) -> bytes:
    """Read the whole body, refusing more than `limit` bytes however it is sent."""
    if declared_length is not None:
        if not declared_length.isdigit():
            raise ApiError(400, "bad_content_length", "Content-Length is not a number")
        if int(declared_length) > limit:
            raise ApiError(413, "body_too_large", f"the body is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "client_disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the body is over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
