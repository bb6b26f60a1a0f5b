"""Logins that resist guessing, through a real cloud's edges.

Failed logins are counted per account and per client address; once an account has failed too
often its logins wait (429 `login_throttled` with `Retry-After`), a correct password included,
while other accounts and sites log in as before. identity records every failed login as a
security event naming the site, the account and the client's address.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .api import PASSWORD, add_account, signup, token_for
from .cloud import Cloud

pytestmark = [pytest.mark.e2e, pytest.mark.backend_neutral]
FREE_FAILURES = 5
"""The default `login_failures_per_account` lets five failures a minute through."""


def log_lines(path: Path, event: str, match: dict[str, Any], seconds: float = 5.0) -> Any:
    """The JSON log lines of `path` for `event` with the fields of `match` (waiting for one).

    A line still being written, or one a library printed as plain text, is passed over.
    """
    deadline = time.monotonic() + seconds
    while True:
        found = []
        for text in path.read_text().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if (
                isinstance(line, dict)
                and line.get("event") == event
                and match.items() <= line.items()
            ):
                found.append(line)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_guessing_one_accounts_password_is_throttled_even_for_the_right_one(cloud: Cloud) -> None:
    site = signup(cloud, region="eu", via="eu", prefix="guess")
    neighbour = signup(cloud, region="eu", via="eu", prefix="guess-next")
    account_id, email = add_account(site)
    guess = {"site": site.name, "email": email}
    for n in range(FREE_FAILURES):
        wrong = site.http.post("/login", json={**guess, "password": f"guess number {n}"})
        assert wrong.status_code == 401, wrong.text
    # The same account, another spelling, the right password: it waits all the same.
    right = site.http.post("/login", json={**guess, "email": email.upper(), "password": PASSWORD})
    assert right.status_code == 429, right.text
    assert right.json()["error"] == "login_throttled"
    assert 1 <= int(right.headers["retry-after"]) <= 60

    # Other accounts of the site, and other sites, log in as before.
    _, colleague = add_account(site)
    token_for(site, colleague)
    token_for(neighbour, f"admin@{neighbour.name}.test")

    logs = cloud.data_dir / "logs"
    failed = log_lines(
        logs / "identity.log",
        "security_event",
        {"reason": "invalid_credentials", "site": site.name, "account": account_id},
    )
    assert len(failed) == FREE_FAILURES
    assert {line["client"] for line in failed} == {"127.0.0.1"}
    assert {line["tenant_id"] for line in failed} == {site.cloud_id}
    throttled = log_lines(logs / "edge-eu.log", "security_event", {"reason": "login_throttled"})
    assert throttled and throttled[-1]["client"] == "127.0.0.1"
    requests = log_lines(logs / "identity.log", "request", {"path": "/login", "status": 401})
    assert requests and {line["client"] for line in requests} == {"127.0.0.1"}
    assert "guess number" not in (logs / "identity.log").read_text()  # no password is logged
