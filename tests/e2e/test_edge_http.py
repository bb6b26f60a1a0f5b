"""Whatever bytes reach an edge, its answer is the JSON error shape, and a slow client is let go.

Raw TLS sockets against a real `tenantry up`: a well-behaved HTTP client cannot send a
lower-case method, two Content-Lengths or half a request.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from .cloud import Cloud

pytestmark = pytest.mark.backend_neutral

READ_SECONDS = 30.0
"""How long a test waits for the edge to answer or close: far past the deadlines under test."""
HEAD_SECONDS = 1
BODY_SECONDS = 1
HALF_SENT = 10
DEFAULT_PER_CLIENT = 64
SMALL_TOPOLOGY = f"""
[regions.us]
zones = ["us-a"]
shards = [{{ name = "us-1", zone = "us-a" }}]

[edge.limits]
head_timeout = {HEAD_SECONDS}
body_timeout = {BODY_SECONDS}
"""


@pytest.fixture(scope="module")
def strict_cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    """A one-region cloud whose edge waits only a second on slow clients."""
    root = tmp_path_factory.mktemp("strict")
    config = root / "topology.toml"
    config.write_text(SMALL_TOPOLOGY)
    cloud = Cloud.start(root / "data", config=config)
    try:
        yield cloud
    finally:
        cloud.stop()


@contextlib.contextmanager
def edge_socket(cloud: Cloud, region: str = "us") -> Iterator[ssl.SSLSocket]:
    """A TLS connection to `region`'s edge, verified against the cloud's CA."""
    edge = urlsplit(cloud.edges[region])
    host = edge.hostname or ""
    raw = socket.create_connection((host, edge.port or 443), timeout=READ_SECONDS)
    with cloud.ssl_context().wrap_socket(raw, server_hostname=host) as tls:
        yield tls


def read_until_closed(tls: ssl.SSLSocket) -> bytes:
    """Everything the edge sends until it closes; a timeout here means it never let go."""
    received = b""
    with contextlib.suppress(ssl.SSLEOFError, ConnectionResetError):
        while piece := tls.recv(65536):
            received += piece
    return received


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the first response in `raw`."""
    head, _, rest = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    pairs = (line.split(": ", 1) for line in lines[1:])
    headers = {name.lower(): value for name, value in pairs}
    return int(lines[0].split()[1]), headers, rest[: int(headers.get("content-length", "0"))]


def assert_json_error(raw: bytes, status: int, code: str) -> None:
    """`raw` is one edge answer: `status`, the error shape with `code`, the edge's headers."""
    assert raw, "the edge closed without an answer"
    found, headers, body = parse(raw)
    assert found == status, raw
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in headers
    document = json.loads(body)
    assert set(document) == {"error", "message"}, document
    assert document["error"] == code


MALFORMED = {
    "lower-case method": b"get /rest/issues/projects HTTP/1.1\r\nHost: edge\r\n\r\n",
    "Content-Length with Transfer-Encoding": (
        b"POST /login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}"
    ),
    "two Content-Lengths": (
        b"POST /login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "a newline in a header": (
        b"GET /rest/issues/projects HTTP/1.1\r\nHost: edge\r\nX-Tenantry-Site: a\nb\r\n\r\n"
    ),
}


@pytest.mark.parametrize("request_bytes", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_http_gets_the_json_error_shape(cloud: Cloud, request_bytes: bytes) -> None:
    with edge_socket(cloud) as tls:
        tls.sendall(request_bytes)
        answer = read_until_closed(tls)
    assert_json_error(answer, 400, "malformed_request")


def test_an_upgrade_request_gets_the_json_error_shape(cloud: Cloud) -> None:
    with edge_socket(cloud) as tls:
        tls.sendall(
            b"GET /rest/issues/projects HTTP/1.1\r\nHost: edge\r\nConnection: Upgrade\r\n"
            b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        answer = read_until_closed(tls)
    assert_json_error(answer, 400, "upgrade_not_supported")


def test_half_sent_requests_get_408_and_are_closed(strict_cloud: Cloud) -> None:
    with contextlib.ExitStack() as stack:
        sockets = []
        for _ in range(HALF_SENT):
            tls = stack.enter_context(edge_socket(strict_cloud))
            tls.sendall(b"GET /rest/issues/projects HTTP/1.1\r\nHost: edge\r\nX-Tenantry-")
            sockets.append(tls)
        for tls in sockets:
            assert_json_error(read_until_closed(tls), 408, "request_head_timeout")


def test_a_connection_that_sends_nothing_is_closed(strict_cloud: Cloud) -> None:
    with edge_socket(strict_cloud) as tls:
        assert_json_error(read_until_closed(tls), 408, "request_head_timeout")


def test_a_stalled_body_gets_408_and_is_closed(strict_cloud: Cloud) -> None:
    with edge_socket(strict_cloud) as tls:
        tls.sendall(
            b"POST /login HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"si'
        )
        assert_json_error(read_until_closed(tls), 408, "request_body_timeout")


def test_one_address_holds_only_so_many_connections(cloud: Cloud) -> None:
    """The default cap: connections an earlier test left open count too, so the refusal may
    come sooner, but never later than one past the cap."""
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(edge_socket(cloud)) for _ in range(DEFAULT_PER_CLIENT)]
        with edge_socket(cloud) as refused:
            assert_json_error(read_until_closed(refused), 429, "too_many_connections")
        # The connections already open are served as usual.
        held[0].sendall(b"GET /_health HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n")
        status, _, body = parse(read_until_closed(held[0]))
        assert status == 200
        assert json.loads(body)["service"] == "edge"
