"""Convert an Office file to PDF with LibreOffice headless, inside the sandbox, macros off.

Every conversion gets a fresh directory: the input under a fixed name (the upload's name is never
used), an output directory, and a new LibreOffice profile whose settings forbid macros (highest
macro security, macro execution disabled) and never update external links, so a document can
neither run code nor fetch anything; the sandbox's empty network namespace backs the latter up.
Zipped formats are checked for zip bombs before LibreOffice sees them.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .errors import (
    CONVERSION_FAILED,
    CONVERSION_TIMEOUT,
    SANDBOX_UNAVAILABLE,
    UNSUPPORTED_TYPE,
    PreviewFailed,
)
from .limits import PreviewLimits
from .profile import write_locked_down_profile
from .sandbox import SandboxLimits, SandboxUnavailable, run_sandboxed
from .sniff import OFFICE_EXTENSIONS, ZIPPED_OFFICE_TYPES
from .zipguard import check_zip

_SOFFICE_NAMES = ("soffice", "libreoffice")
_SEARCH_PATH = "/usr/local/bin:/usr/bin:/bin:/opt/libreoffice/program"


def convert_to_pdf(data: bytes, media_type: str, limits: PreviewLimits) -> bytes:
    """PDF bytes of an Office document, or PreviewFailed with the reason."""
    extension = OFFICE_EXTENSIONS.get(media_type)
    if extension is None:
        raise PreviewFailed(UNSUPPORTED_TYPE, f"{media_type} is not an Office type")
    if media_type in ZIPPED_OFFICE_TYPES:
        check_zip(data, limits)
    soffice = _soffice()
    with tempfile.TemporaryDirectory(prefix="tenantry-preview-", ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        profile = write_locked_down_profile(root / "profile")
        for name in ("home", "tmp", "out"):
            (root / name).mkdir()
        source = root / f"document.{extension}"
        source.write_bytes(data)
        argv = [
            soffice,
            "--headless",
            "--invisible",
            "--nologo",
            "--nodefault",
            "--norestore",
            "--nolockcheck",
            f"-env:UserInstallation={profile}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(root / "out"),
            str(source),
        ]
        env = {
            "PATH": _SEARCH_PATH,
            "HOME": str(root / "home"),
            "TMPDIR": str(root / "tmp"),
            "LANG": "C.UTF-8",
            "SAL_USE_VCLPLUGIN": "svp",
        }
        try:
            outcome = run_sandboxed(argv, workdir=root, env=env, limits=_sandbox_limits(limits))
        except SandboxUnavailable as exc:
            raise PreviewFailed(SANDBOX_UNAVAILABLE, str(exc)) from exc
        if outcome.timed_out:
            raise PreviewFailed(
                CONVERSION_TIMEOUT, f"no result within {limits.conversion_timeout:g} s"
            )
        pdf = root / "out" / "document.pdf"
        if outcome.returncode != 0 or not pdf.is_file() or pdf.stat().st_size == 0:
            raise PreviewFailed(
                CONVERSION_FAILED,
                f"LibreOffice exit {outcome.returncode}: {outcome.output.strip()[-500:]}",
            )
        return pdf.read_bytes()


def _soffice() -> str:
    for name in _SOFFICE_NAMES:
        found = shutil.which(name, path=_SEARCH_PATH)
        if found is not None:
            return found
    raise PreviewFailed(CONVERSION_FAILED, "LibreOffice (soffice) is not installed")


def _sandbox_limits(limits: PreviewLimits) -> SandboxLimits:
    return SandboxLimits(
        timeout=limits.conversion_timeout,
        cpu_seconds=limits.conversion_cpu_seconds,
        memory_bytes=limits.conversion_memory_bytes,
        file_bytes=limits.conversion_file_bytes,
        open_files=limits.conversion_open_files,
    )
