"""One exception with a machine-readable reason, so a failed preview becomes a `failed` status."""

from __future__ import annotations

from typing import Final

UNSUPPORTED_TYPE: Final = "unsupported_type"
EMPTY_FILE: Final = "empty_file"
TOO_LARGE: Final = "too_large"
IMAGE_TOO_LARGE: Final = "image_too_large"
MALFORMED_IMAGE: Final = "malformed_image"
ZIP_BOMB: Final = "zip_bomb"
MALFORMED_PDF: Final = "malformed_pdf"
ENCRYPTED_PDF: Final = "encrypted_pdf"
POLYGLOT: Final = "polyglot"
CONVERSION_FAILED: Final = "conversion_failed"
CONVERSION_TIMEOUT: Final = "conversion_timeout"
SANDBOX_UNAVAILABLE: Final = "sandbox_unavailable"
WORKER_CRASHED: Final = "worker_crashed"
INVALID_NAME: Final = "invalid_name"

REASONS: Final = frozenset(
    {
        UNSUPPORTED_TYPE,
        EMPTY_FILE,
        TOO_LARGE,
        IMAGE_TOO_LARGE,
        MALFORMED_IMAGE,
        ZIP_BOMB,
        MALFORMED_PDF,
        ENCRYPTED_PDF,
        POLYGLOT,
        CONVERSION_FAILED,
        CONVERSION_TIMEOUT,
        SANDBOX_UNAVAILABLE,
        WORKER_CRASHED,
        INVALID_NAME,
    }
)


class PreviewFailed(Exception):
    """A file got no preview; `reason` is one of REASONS, `detail` is for logs and operators."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown preview failure reason {reason!r}")
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
