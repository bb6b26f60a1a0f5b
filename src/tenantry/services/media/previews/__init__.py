"""Safe previews of untrusted files: re-rendered PNG pixels, never the original bytes.

`render_previews` does one file synchronously (sniff, then re-encode an image, rasterise a PDF, or
convert an Office file in a sandbox and rasterise it); `PreviewWorkers` runs it in a pool of worker
processes for the service's event loop. Failures are `PreviewFailed` with a reason code.
`sniff.sniff` names a file's type from its bytes, for uploads too.
"""

from .errors import REASONS, PreviewFailed
from .limits import PreviewLimits
from .names import check_file_name
from .pipeline import render_previews
from .result import PreviewResult
from .workers import PreviewWorkers

__all__ = [
    "REASONS",
    "PreviewFailed",
    "PreviewLimits",
    "PreviewResult",
    "PreviewWorkers",
    "check_file_name",
    "render_previews",
]
