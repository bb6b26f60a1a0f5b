"""Slow down password guessing: failed logins are counted per account and per client address.

Each failure (identity answered 401) is counted against the account it named (site and email)
and against the address it came from, in moving windows of growing length
(`[edge.limits] login_failures_per_account`, `login_failures_per_client_ip`). Once any window
is full, the edge refuses logins for that account or from that address with 429
`login_throttled` and a `Retry-After` saying when the oldest failure leaves the window, before
anything reaches identity, so a correct password does not get through either. Keep failing
after the short window frees and the longer ones fill: the wait grows from a minute to an hour.

The counts live where the rate limits do (memory, or Redis so every edge shares them). Emails
are kept there only as a hash.
"""

from __future__ import annotations

import hashlib
import math
import time

import orjson
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from tenantry.platform.errors import ApiError
from tenantry.platform.topology import EdgeLimits
from tenantry.services.edge.rate_limits import counting

REASON = "login_throttled"


def account_key(body: bytes) -> str | None:
    """The account a login body names, as a hash of its site and email; None if it names none.

    Spelled as identity reads it (the email trimmed and lower-cased), so case and spaces do not
    make a new account to guess at.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    site, email = document.get("site"), document.get("email")
    if not isinstance(site, str) or not isinstance(email, str):
        return None
    named = f"{site}\x00{email.strip().lower()}".encode()
    return hashlib.sha256(named).hexdigest()


class LoginThrottle:
    """The failed-login counts of accounts and addresses, and the refusal once one is full."""

    def __init__(self, limits: EdgeLimits, storage: Storage) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_account: list[RateLimitItem] = parse_many(limits.login_failures_per_account)
        self._per_address: list[RateLimitItem] = parse_many(limits.login_failures_per_client_ip)

    def _counts(self, account: str | None, address: str) -> list[tuple[RateLimitItem, str, str]]:
        counts = [(item, "login-ip", address) for item in self._per_address]
        if account is not None:
            counts += [(item, "login-account", account) for item in self._per_account]
        return counts

    async def check(self, account: str | None, address: str) -> None:
        """Refuse with 429 `login_throttled` while the account or the address has to wait."""
        wait = 0
        with counting():
            for item, kind, key in self._counts(account, address):
                if not await self._limiter.test(item, kind, key):
                    stats = await self._limiter.get_window_stats(item, kind, key)
                    wait = max(wait, math.ceil(stats.reset_time - time.time()), 1)
        if wait:
            raise ApiError(
                429,
                REASON,
                "too many failed logins; wait before trying again",
                headers={"Retry-After": str(wait)},
            )

    async def failed(self, account: str | None, address: str) -> None:
        """Count one failed login against the account and the address."""
        with counting():
            for item, kind, key in self._counts(account, address):
                await self._limiter.hit(item, kind, key)
