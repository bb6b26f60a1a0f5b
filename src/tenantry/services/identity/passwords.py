"""Password hashing with argon2id, and a constant-cost check for accounts that do not exist."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

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
