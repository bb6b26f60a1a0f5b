"""Running tools/verify_audit.py as a customer would: its own interpreter, isolated (`-I`), with
a clean environment, so nothing of tenantry can be imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from e2e.api import Site
from e2e.cloud import Cloud

VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_audit.py"


def verify_standalone(cloud: Cloud, site: Site, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run tools/verify_audit.py as a customer would: a clean environment, no tenantry."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"}
    return subprocess.run(
        [
            sys.executable,
            "-I",
            str(VERIFIER),
            "--edge",
            cloud.edges["us"],
            "--site",
            site.name,
            "--token",
            site.token,
            "--ca",
            cloud.ca,
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=VERIFIER.parent,
        timeout=120,
        check=False,
    )
