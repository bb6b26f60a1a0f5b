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
        ["legal", "request", "update", "1", "--state", "under-legal-review"],
        ["legal", "report", "--year", "2026"],
    ],
)
def test_a_command_against_no_cloud_says_so(tmp_path: Path, command: list[str]) -> None:
    stopped = tmp_path / "stopped"
    (stopped / "run").mkdir(parents=True)
    done = tenantry(*command, "--data-dir", str(stopped))
    assert done.returncode == 2
    assert "no running cloud in" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


COMMANDS = [
    ["status"],
    ["tenant", "suspend", "some-site"],
    ["tenant", "resume", "some-site"],
    ["tenant", "purge", "some-site", "--yes"],
    ["tenant", "list"],
    ["tenant", "info", "some-site"],
    ["keys", "list"],
    ["keys", "audit"],
    ["keys", "rotate", "--region", "eu"],
    ["keys", "rotate-data-key", "some-site"],
    ["keys", "owner", "a" * 32, "--region", "eu", "--site", "some-site"],
    ["keys", "byok", "some-site", "--off"],
    ["privacy", "export", "some-site", "a" * 32],
    ["privacy", "erase", "some-site", "a" * 32, "--content", "erase"],
    ["privacy", "replay", "some-site"],
]


def without_data_dir_variable() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "TENANTRY_DATA_DIR"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_says_clearly_when_there_is_no_data_directory(
    tmp_path: Path, command: list[str]
) -> None:
    """Outside any cloud's directory, every command names where it looked and how to point it
    elsewhere, creates nothing, and exits 2."""
    elsewhere = tmp_path / "not-a-cloud"
    elsewhere.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "tenantry", *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=elsewhere,
        env=without_data_dir_variable(),
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join((done.stdout + done.stderr).split())
    assert "no tenantry data directory" in message
    assert str(elsewhere / "tenantry-data") in message
    assert "--data-dir" in message and "TENANTRY_DATA_DIR" in message
    assert "Errno" not in message and "Traceback" not in message
    assert list(elsewhere.iterdir()) == []


def test_the_data_directory_comes_from_the_flag_then_the_variable_then_the_default(
    tmp_path: Path,
) -> None:
    from tenantry.cli.datadir import NoDataDirectory, find_data_dir

    flag, variable = tmp_path / "flag", tmp_path / "variable"
    for made in (flag, variable):
        (made / "run").mkdir(parents=True)
    env = {"TENANTRY_DATA_DIR": str(variable)}
    assert find_data_dir(flag, env=env) == flag
    assert find_data_dir(None, env=env) == variable
    assert find_data_dir(None, env={}, must_exist=False) == Path("tenantry-data").resolve()
    with pytest.raises(NoDataDirectory, match="TENANTRY_DATA_DIR"):
        find_data_dir(tmp_path / "absent", env=env)
    not_a_cloud = tmp_path / "plain"
    not_a_cloud.mkdir()
    with pytest.raises(NoDataDirectory, match="is not a tenantry data directory"):
        find_data_dir(None, env={"TENANTRY_DATA_DIR": str(not_a_cloud)})
    # The variable reaches every command the same way.
    done = tenantry("keys", "audit", TENANTRY_DATA_DIR=str(variable))
    assert done.returncode == 2 and f"no kms log in {variable}" in done.stderr


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
