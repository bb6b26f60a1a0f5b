"""Refuse zip bombs before LibreOffice inflates them: declared sizes first, then the real bytes.

The declared sizes in a zip's directory can lie, so after they pass, every entry is inflated in
bounded chunks and counted; nothing is kept. An archive is a bomb when it would inflate beyond a
fixed total or beyond a fixed ratio of its own size, or holds too many entries.
"""

from __future__ import annotations

import io
import zipfile

from .errors import CONVERSION_FAILED, ZIP_BOMB, PreviewFailed
from .limits import PreviewLimits

_CHUNK = 1024 * 1024


def check_zip(data: bytes, limits: PreviewLimits) -> None:
    """Raise PreviewFailed(`zip_bomb`) when the archive would inflate beyond the limits."""
    ceiling = min(limits.zip_max_uncompressed, max(len(data), 1) * limits.zip_max_ratio)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > limits.zip_max_entries:
                raise PreviewFailed(ZIP_BOMB, f"{len(entries)} entries")
            declared = sum(entry.file_size for entry in entries)
            if declared > ceiling:
                raise PreviewFailed(ZIP_BOMB, f"declares {declared} bytes uncompressed")
            inflated = 0
            for entry in entries:
                with archive.open(entry) as stream:
                    while chunk := stream.read(_CHUNK):
                        inflated += len(chunk)
                        if inflated > ceiling:
                            raise PreviewFailed(ZIP_BOMB, "inflates beyond the limit")
    except PreviewFailed:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        # Corrupt or encrypted entries: LibreOffice would refuse them too; say so plainly.
        raise PreviewFailed(CONVERSION_FAILED, f"unreadable archive: {exc}") from exc
