"""What a deletion to the trash needs, replaceable so trash tests need not wait."""

from __future__ import annotations

from typing import Protocol


class Trashing(Protocol):
    """Where the service reads the time of a deletion, and tells the purge loop of it
    (`TrashPurges` in the service)."""

    def now(self) -> float:
        """Seconds since the epoch."""

    def prepare(self) -> None:
        """Runs before the trashing transaction begins (notes the tenant for the purge loop)."""
