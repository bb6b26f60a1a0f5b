"""A stand-in for `tenantry serve` that only answers `/_health`, to test the supervisor alone.

Run as `python stub_service.py tenantry serve --process NAME --region R --data-dir D
--listen SERVICE=FD ...`, the same arguments the real process gets: it answers on the sockets
`up` handed it. Environment variables make it misbehave on purpose: STUB_EXIT=<process> exits
with code 3 one second after start, STUB_MUTE=<process> never answers health checks,
STUB_IGNORE_TERM=1 ignores SIGTERM.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
import socket
import ssl
import sys
import threading
from pathlib import Path


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/_health" else 404
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        print(format % args, flush=True)


def _crash(name: str) -> None:
    print(f"stub {name} crashing", flush=True)
    os._exit(3)


def _serve_on(fd: int, context: ssl.SSLContext) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health, bind_and_activate=False)
    server.socket = context.wrap_socket(socket.socket(fileno=fd), server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("command")
    parser.add_argument("--process", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--listen", action="append", required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    name = args.process
    if os.environ.get("STUB_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"stub {name} pid {os.getpid()} starting on {' '.join(args.listen)}", flush=True)
    if os.environ.get("STUB_EXIT") == name:
        threading.Timer(1.0, _crash, args=(name,)).start()
    if os.environ.get("STUB_MUTE") == name:
        threading.Event().wait()
    tls_dir = Path(args.data_dir) / "tls"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_dir / f"{name}.pem", tls_dir / f"{name}-key.pem")
    for listen in args.listen:
        _serve_on(int(listen.partition("=")[2]), context)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
