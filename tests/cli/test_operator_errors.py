"""Operator commands given a wrong place or a bad file say what is wrong and exit non-zero."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tenantry.cli import main as cli


def tenantry(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenantry", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )


@pytest.mark.parametrize(
    "command",
    [
        ["tenant", "suspend", "some-site"],
        ["tenant", "resume", "some-site"],
        ["tenant", "purge", "some-site", "--yes"],
        ["keys", "rotate-data-key", "some-site"],
    ],
)
def test_a_command_against_no_cloud_says_so(tmp_path: Path, command: list[str]) -> None:
    done = tenantry(*command, "--data-dir", str(tmp_path / "nothing-here"))
    assert done.returncode == 2
    assert "no running cloud in" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_a_policy_file_that_is_not_a_policy_is_refused(tmp_path: Path) -> None:
    policy = tmp_path / "policy.txt"
    policy.write_text("this is not an allowlist\n")
    done = tenantry("policy", "check", "--policy", str(policy))
    assert done.returncode == 2
    assert "cannot read the policy" in done.stderr and "line 1" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    policy.write_bytes(b"\xff\xfe not text")
    done = tenantry("policy", "check", "--policy", str(policy))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_an_unforeseen_failure_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken() -> None:
        raise RuntimeError("the disk vanished")

    monkeypatch.setattr(cli, "app", broken)
    monkeypatch.setattr(sys, "argv", ["tenantry", "status"])
    monkeypatch.delenv("TENANTRY_DEBUG", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 1
    stderr = capsys.readouterr().err
    assert "RuntimeError: the disk vanished" in stderr and "TENANTRY_DEBUG=1" in stderr

    monkeypatch.setenv("TENANTRY_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main()
    monkeypatch.delenv("TENANTRY_DEBUG")
    monkeypatch.setattr(sys, "argv", ["tenantry", "serve", "issues"])
    with pytest.raises(RuntimeError):  # a service's log keeps the traceback
        cli.main()
