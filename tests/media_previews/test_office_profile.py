"""The fresh LibreOffice profile is what stops macros, even where LibreOffice would run them.

`--convert-to` is not the only way a document gets opened; opening it the ordinary way runs
document-open macros when macro security allows. This opens a document with such a macro both
ways: with a permissive profile the macro runs (so the document is live), with the profile the
converter uses it does not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tenantry.services.media.previews.profile import write_locked_down_profile
from tenantry.services.media.previews.sandbox import SandboxLimits, run_sandboxed

from . import documents

PERMISSIVE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
  <prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


def open_in_libreoffice(document: bytes, profile_url: str, workdir: Path, timeout: float) -> None:
    """Open (not convert) the document headless, for at most `timeout` seconds."""
    source = workdir / "opened.odt"
    source.write_bytes(document)
    (workdir / "home").mkdir()
    soffice = shutil.which("soffice")
    assert soffice is not None
    run_sandboxed(
        [soffice, "--headless", "--norestore", f"-env:UserInstallation={profile_url}", str(source)],
        workdir=workdir,
        env={"PATH": "/usr/bin:/bin", "HOME": str(workdir / "home"), "SAL_USE_VCLPLUGIN": "svp"},
        limits=SandboxLimits(
            timeout=timeout,
            cpu_seconds=120,
            memory_bytes=4 << 30,
            file_bytes=1 << 28,
            open_files=1024,
        ),
    )


def test_a_permissive_profile_runs_the_open_macro(tmp_path: Path) -> None:
    marker = tmp_path / "macro-ran.txt"
    profile = tmp_path / "profile"
    (profile / "user").mkdir(parents=True)
    (profile / "user" / "registrymodifications.xcu").write_text(PERMISSIVE)

    # The macro quits LibreOffice, so the generous limit only matters on a loaded machine, where
    # a first start on a fresh profile has taken more than eight seconds.
    open_in_libreoffice(
        documents.odt_with_open_macro(marker, then_quit=True), profile.as_uri(), tmp_path, 120
    )

    assert marker.read_text().strip() == "macro ran"


def test_the_converter_profile_never_runs_the_open_macro(tmp_path: Path) -> None:
    marker = tmp_path / "macro-ran.txt"
    profile_url = write_locked_down_profile(tmp_path / "profile")

    # Nothing quits LibreOffice here, so it runs until the limit.
    open_in_libreoffice(
        documents.odt_with_open_macro(marker, then_quit=True), profile_url, tmp_path, 15
    )

    assert not marker.exists()
    assert (tmp_path / "profile" / "user" / "basic").is_dir()  # LibreOffice ran on that profile
