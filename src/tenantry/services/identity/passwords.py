"""Password hashing with argon2id, a constant-cost check for accounts that do not exist, and a
fair share of the hashing for each site.

argon2 is the costliest thing a login does, on purpose. Without a bound, a site under a
guessing attack takes every core and thread, and every other site's logins wait behind its
guesses. `PasswordWork` runs at most one hash per core at once and hands each free turn to the
site with the fewest hashes running, as the edge shares its forwarding slots: the guessed-at
site waits on itself, the others are served next.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from starlette.concurrency import run_in_threadpool

from tenantry.platform.fair_share import FairShare, default_slots

HASH_QUEUE_LIMIT = 64
"""Hashes one site may have waiting; more are refused with 503 `tenant_fair_share`."""

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """A hash to check against when an email is unknown, so that costs as much as a known one."""
    return _hasher.hash("tenantry-dummy-password")


def hash_password(password: str) -> str:
    """An argon2id hash of `password` with the library's current parameters."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; always spends one argon2 verification."""
    try:
        return (
            _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    return _hasher.check_needs_rehash(password_hash)


class PasswordWork:
    """Hashing and checking passwords in worker threads, each site within its fair share."""

    def __init__(self, slots: int | None = None, queue_limit: int = HASH_QUEUE_LIMIT) -> None:
        self.share = FairShare(slots or default_slots(), queue_limit)

    async def hash(self, site: str, password: str) -> str:
        """`hash_password` on a worker thread, in `site`'s turn."""
        async with self.share.slot(site):
            return await run_in_threadpool(hash_password, password)

    async def verify(self, site: str, password_hash: str | None, password: str) -> bool:
        """`verify_password` on a worker thread, in `site`'s turn."""
        async with self.share.slot(site):
            return await run_in_threadpool(verify_password, password_hash, password)
