"""Run the real `tenantry up` supervisor with stub services, so its own behaviour is tested fast.

Usage: `python up_with_stub.py DATA_DIR [TOPOLOGY]`. STUB_HEALTH_DEADLINE (seconds) shortens
the health deadline; STUB_LAYOUT picks the layout (`fleet`, the default here, or `regions`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from tenantry.cli import processes, up
from tenantry.cli.datadir import DataDir
from tenantry.cli.plan import Layout, ProcessSpec

STUB = Path(__file__).with_name("stub_service.py")
real_serve_command = processes.serve_command


def stub_command(
    spec: ProcessSpec, data_dir: DataDir, topology: Path | None, fds: Mapping[str, int]
) -> list[str]:
    """The stub's command line: the real process's arguments after the stub script."""
    return [sys.executable, str(STUB), *real_serve_command(spec, data_dir, topology, fds)[2:]]


def main() -> int:
    processes.serve_command = stub_command
    if "STUB_HEALTH_DEADLINE" in os.environ:
        up.HEALTH_DEADLINE_SECONDS = float(os.environ["STUB_HEALTH_DEADLINE"])
    config = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    layout = Layout(os.environ.get("STUB_LAYOUT", Layout.FLEET))
    return up.run_up(Path(sys.argv[1]), config, layout)


if __name__ == "__main__":
    sys.exit(main())
