"""Ending a child process the one way: ask it to stop, give it time to finish, then make it."""

from __future__ import annotations

import subprocess

GRACE_SECONDS = 10.0


def end(process: subprocess.Popen[bytes] | None, grace_seconds: float = GRACE_SECONDS) -> None:
    """SIGTERM `process` if it still runs, and SIGKILL it if it has not exited after the grace
    (what it was writing gets the grace to land)."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
