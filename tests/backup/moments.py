"""Restore points a test can name: a whole second after every write it has made."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


def second_passed(settle: float = 1.5) -> datetime:
    """A whole second after every write so far, once it has gone by; `settle` seconds first
    give the continuous copy room to take the last writes."""
    time.sleep(settle)
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < at + timedelta(seconds=1.5):
        time.sleep(0.1)
    return at
