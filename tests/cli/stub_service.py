"""A stand-in for `tenantry serve` that only answers `/_health`, to test the supervisor alone.

Run as `python stub_service.py tenantry serve <service> --region R --data-dir D --port P`, the
same arguments the real service gets. Environment variables make it misbehave on purpose:
STUB_EXIT=<process> exits with code 3 one second after start, STUB_MUTE=<process> never answers
health checks, STUB_IGNORE_TERM=1 ignores SIGTERM.
"""

from __future__ import annotations

import argparse
import http.server
import os
import signal
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("program")
    parser.add_argument("command")
    parser.add_argument("service")
    parser.add_argument("--region", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config")
    args = parser.parse_args()
    name = args.service if args.region == "global" else f"{args.service}-{args.region}"
    if os.environ.get("STUB_IGNORE_TERM") == "1":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(f"stub {name} pid {os.getpid()} starting on port {args.port}", flush=True)
    if os.environ.get("STUB_EXIT") == name:
        threading.Timer(1.0, _crash, args=(name,)).start()
    if os.environ.get("STUB_MUTE") == name:
        threading.Event().wait()
    tls_dir = Path(args.data_dir) / "tls"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_dir / f"{name}.pem", tls_dir / f"{name}-key.pem")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), _Health)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
