"""Ask a process whether it is up, trusting only the cloud's own CA.

`up` uses it to wait for processes to start and `status` to report them; both talk TLS to
127.0.0.1 only and ignore proxy settings, so a probe never leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tenantry.platform.tls import client_ssl_context

PROBE_TIMEOUT_SECONDS = 2.0


def client(ca: Path, timeout: float = PROBE_TIMEOUT_SECONDS) -> httpx.Client:
    """An HTTP client for talking to the cloud's processes directly, trusting only its CA."""
    return httpx.Client(verify=client_ssl_context(ca), timeout=timeout, trust_env=False)


def is_healthy(http: httpx.Client, url: str) -> bool:
    """True when `url` answers `GET /_health` with 200 over verified TLS."""
    try:
        return http.get(f"{url}/_health").status_code == httpx.codes.OK
    except httpx.HTTPError:
        return False
