"""Running pgBackRest and PostgreSQL's own programs as the operating-system user of a server."""

from __future__ import annotations

import getpass
import os
import pwd
import subprocess
from collections.abc import Sequence
from pathlib import Path


class CommandError(RuntimeError):
    """A pgBackRest or PostgreSQL program failed; `reason` is what it said, in a line or two."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        self.reason = first_error(output) or f"exited with status {returncode}"
        super().__init__(f"{' '.join(self.argv[:4])}...: {self.reason}")


def first_error(output: str) -> str:
    """The first ERROR line pgBackRest printed (without its code), or the last line printed."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return line.split(":", 2)[-1].strip()
    return lines[-1] if lines else ""


def as_user(argv: Sequence[str], os_user: str | None) -> list[str]:
    """`argv` run as `os_user`: directly when it is us, through runuser when we are root.

    PostgreSQL refuses to run as root and pgBackRest must write files the server can read, so
    every command runs as the user who owns the server's data directory.
    """
    if os_user is None or os_user == getpass.getuser():
        return list(argv)
    if os.geteuid() == 0:
        return ["runuser", "-u", os_user, "--", *argv]
    raise PermissionError(
        f"the server's files belong to {os_user!r} but tenantry runs as {getpass.getuser()!r}: "
        f"run the backups as {os_user!r} (or as root)"
    )


def run(
    argv: Sequence[str],
    os_user: str | None,
    *,
    timeout: float | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a program as `os_user`, raising CommandError when it fails and `check` is set."""
    command = as_user(argv, os_user)
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(argv, -1, f"did not finish within {timeout} s") from exc
    if check and done.returncode != 0:
        raise CommandError(argv, done.returncode, done.stderr + "\n" + done.stdout)
    return done


def give_to(path: Path, os_user: str | None, mode: int = 0o750) -> None:
    """Make `path` a directory `os_user` owns (when we are root and it is someone else)."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    if os_user is not None and os.geteuid() == 0 and os_user != getpass.getuser():
        os.chown(path, *_ids(os_user))


def give_file_to(path: Path, os_user: str | None) -> None:
    """Make the file at `path` belong to `os_user` (when we are root and it is someone else)."""
    if os_user is not None and os.geteuid() == 0 and os_user != getpass.getuser():
        os.chown(path, *_ids(os_user))


def _ids(os_user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(os_user)
    return entry.pw_uid, entry.pw_gid
