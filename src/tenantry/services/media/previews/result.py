"""What a successful preview hands back: the sniffed type and re-rendered PNG pixels only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """Pages are PNG bytes in order (page 1 first); the thumbnail is a small PNG of page 1."""

    media_type: str
    pages: list[bytes]
    thumbnail: bytes

    @property
    def page_count(self) -> int:
        return len(self.pages)
