"""A loopback port for a test to listen on, or to find nothing listening on."""

from __future__ import annotations

import socket


def unused_port() -> int:
    """A 127.0.0.1 port that nothing listened on a moment ago (the OS handed it out and took it
    back): a server a test starts may take it, and a client that tries it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
