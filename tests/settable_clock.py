"""A clock a test moves by hand, so expiry, back-off and reuse windows need no sleeping."""

from __future__ import annotations


class SettableClock:
    """Returns `now` when called; the test sets or advances `now` itself."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
