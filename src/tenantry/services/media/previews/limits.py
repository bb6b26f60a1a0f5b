"""Every bound a preview obeys in one picklable value, so a worker process gets the same limits."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PreviewLimits:
    """Bounds on input, output and the office sandbox; the defaults suit a small server."""

    max_bytes: int = 100 * 1024 * 1024
    max_image_pixels: int = 25_000_000
    max_pages: int = 20
    dpi: int = 110
    max_page_pixels: int = 4_000_000
    thumbnail_side: int = 256
    zip_max_uncompressed: int = 256 * 1024 * 1024
    zip_max_ratio: int = 200
    zip_max_entries: int = 10_000
    conversion_timeout: float = 60.0
    conversion_cpu_seconds: int = 60
    conversion_memory_bytes: int = 2 * 1024 * 1024 * 1024
    conversion_file_bytes: int = 256 * 1024 * 1024
    conversion_open_files: int = 1024
