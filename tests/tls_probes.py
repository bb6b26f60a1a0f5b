"""TLS test helpers: probe what a listener accepts, and run throwaway TLS servers on 127.0.0.1.

Used by the platform TLS tests and by the end-to-end suite to check that every real listener
refuses old protocol versions and non-forward-secret cipher suites.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def handshake(
    host: str, port: int, *, max_version: ssl.TLSVersion | None, ciphers: str | None
) -> bool:
    """Return True if a TLS handshake with `host:port` completes with these client settings.

    The probe itself is as permissive as OpenSSL allows (any protocol version down to the
    minimum supported, security level 0, no certificate check), so a False answer means the
    server refused. `ciphers` only restricts TLS 1.2 and older suites; to probe a TLS 1.2
    suite, pass `max_version=ssl.TLSVersion.TLSv1_2` too, or TLS 1.3 will be negotiated.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    if max_version is not None:
        with warnings.catch_warnings():
            # Probing deprecated versions is the point of this helper.
            warnings.simplefilter("ignore", DeprecationWarning)
            context.maximum_version = max_version
    cipher_string = ciphers or "ALL"
    if "@SECLEVEL" not in cipher_string:
        cipher_string += ":@SECLEVEL=0"
    context.set_ciphers(cipher_string)
    try:
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host),
        ):
            return True
    except (ssl.SSLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def tls_listener(context: ssl.SSLContext) -> Iterator[int]:
    """Accept TLS handshakes on 127.0.0.1 with `context` in a thread; yield the port."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()


@contextlib.contextmanager
def serve_key_directory(root: Path, context: ssl.SSLContext) -> Iterator[tuple[str, list[str]]]:
    """Serve `root/<issuer>/<keyname>.pem` as `https://127.0.0.1:<port>/<issuer>/<keyname>`.

    This is the ASAP key-server layout; yields the base URL and the list of paths requested so
    tests can see which lookups reached the server.
    """
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            parts = self.path.strip("/").split("/")
            path = root.joinpath(*parts[:-1], parts[-1] + ".pem") if len(parts) == 2 else None
            if path is None or not path.is_file():
                self.send_response(404)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            body = path.read_bytes()
            self.send_response(200)
            self.send_header("content-type", "application/x-pem-file")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/", requested
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
