"""Operator work `up` starts by itself when it falls due (the daily drill, removing old copies
of moved sites): one `tenantry` command at a time, in the background, its output in a log."""

from __future__ import annotations

import os
import subprocess
import sys

from tenantry.cli.datadir import DataDir
from tenantry.platform.child_process import end


class ScheduledCommand:
    """One `tenantry` command `up`'s supervisor loop starts when due; at most one runs."""

    def __init__(self, dirs: DataDir, log_name: str) -> None:
        self._dirs = dirs
        self._log_file = dirs.logs / log_name
        self._process: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        """Whether the last command started is still running (forgotten once it has ended)."""
        if self._process is not None and self._process.poll() is None:
            return True
        self._process = None
        return False

    def start(self, *args: str) -> None:
        """Start `tenantry ARGS --data-dir ROOT`, its output appended to the log (mode 0600)."""
        descriptor = os.open(self._log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "ab") as sink:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tenantry", *args, "--data-dir", str(self._dirs.root)],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )

    def stop(self) -> None:
        """Stop a command still running (when `up` stops); it is done again when next due."""
        end(self._process)
