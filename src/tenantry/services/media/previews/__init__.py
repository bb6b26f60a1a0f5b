"""Safe previews of untrusted files: re-rendered PNG pixels, never the original bytes.

`render_previews` does one file synchronously (sniff, then re-encode an image, rasterise a PDF, or
convert an Office file in a sandbox and rasterise it); `PreviewWorkers` runs it in a pool of worker
processes for the service's event loop. Failures are `PreviewFailed` with a reason code.
`sniff.sniff` names a file's type from its bytes, for uploads too.

The renderers (Pillow, pdfium) are imported with the first preview, in the process that makes
it: a media service that makes none never loads them.
"""

from typing import TYPE_CHECKING, Any

from .errors import REASONS, PreviewFailed
from .limits import PreviewLimits
from .names import check_file_name
from .result import PreviewResult
from .workers import PreviewWorkers

if TYPE_CHECKING:
    from .pipeline import render_previews


def __getattr__(name: str) -> Any:
    if name == "render_previews":
        from .pipeline import render_previews

        return render_previews
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "REASONS",
    "PreviewFailed",
    "PreviewLimits",
    "PreviewResult",
    "PreviewWorkers",
    "check_file_name",
    "render_previews",
]
