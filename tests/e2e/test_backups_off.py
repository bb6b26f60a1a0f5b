"""A cloud whose topology turns backups off runs no backup agent, and every backup command says
so plainly instead of pretending its data is protected (the fleet cloud of the tests runs so)."""

from __future__ import annotations

import pytest

from .api import signup
from .cloud import Cloud, tenantry

pytestmark = pytest.mark.e2e


def test_no_backup_agent_runs_and_the_backup_commands_refuse(fleet_cloud: Cloud) -> None:
    assert not fleet_cloud.topology().backup.enabled
    assert "backup" not in fleet_cloud.directory()["services"]
    assert not any(name.startswith("backup") for name in fleet_cloud.pids())
    site = signup(fleet_cloud, region="eu", prefix="nobackup")
    data_dir = str(fleet_cloud.data_dir)

    for command in (
        ["backup", "status"],
        ["backup", "now", "--region", "eu"],
        ["tenant", "restore", site.name, "--at", "2026-01-01T00:00:00Z", "--yes"],
    ):
        result = tenantry(*command, "--data-dir", data_dir)
        assert result.returncode != 0, (command, result.stdout)
        said = " ".join((result.stdout + result.stderr).split())
        assert "backups are turned off" in said, (command, said)
        assert "Traceback" not in said, said
