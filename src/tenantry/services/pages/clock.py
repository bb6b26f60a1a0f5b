"""The time deletions are recorded at, replaceable so trash tests need not wait."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Where the service reads the time of a deletion."""

    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    """The machine's clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        return time.time()
