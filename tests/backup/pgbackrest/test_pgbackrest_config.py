"""The pgBackRest configuration tenantry writes, and how it reads pgBackRest's reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tenantry.platform.topology import load_topology
from tenantry.services.backup.engines.pgbackrest import S3Repository, pgbackrest_engine
from tenantry.services.backup.engines.pgbackrest.config import (
    ServerFacts,
    missing_settings,
    render,
)
from tenantry.services.backup.engines.pgbackrest.info import parse_info, verify_problems

S3 = S3Repository(
    name="s3",
    bucket="backups",
    endpoint="127.0.0.1",
    region="us-east-1",
    key="access",
    key_secret="secret",
    port=9443,
    ca_file=Path("/etc/ca.pem"),
)
FACTS = ServerFacts(Path("/srv/pg"), "/run/postgresql", 5433, "postgres", "postgres")


def _topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.toml"
    path.write_text(
        '[global]\ndsn = "postgresql://postgres@db-global/g"\n'
        '[regions.us]\nzones = ["us-a", "us-b"]\nshards = ['
        '{ name = "us-1", zone = "us-a", dsn = "postgresql://postgres@db-us:5433/one" }, '
        '{ name = "us-2", zone = "us-b", dsn = "postgresql+psycopg://postgres@db-us:5433/two" },'
        ' { name = "us-3", zone = "us-b", dsn = "postgresql://postgres@db-us-3/three" }]\n'
    )
    return path


def test_shards_on_one_server_share_a_stanza(tmp_path: Path) -> None:
    topology = load_topology(_topology(tmp_path))
    engine = pgbackrest_engine(topology, "us", "pass", tmp_path / "home")
    assert [(s.name, s.databases) for s in engine.stanzas] == [
        ("pg-db-us-5433", (("us-1", "one"), ("us-2", "two"))),
        ("pg-db-us-3-5432", (("us-3", "three"),)),
    ]
    assert [r.name for r in engine.settings.repositories] == ["us-a", "us-b"]
    [global_stanza] = pgbackrest_engine(topology, None, "pass", tmp_path / "g").stanzas
    assert global_stanza.databases == (("global", "g"),)


def test_every_repository_is_encrypted_and_kept_by_time(tmp_path: Path) -> None:
    topology = load_topology(_topology(tmp_path))
    engine = pgbackrest_engine(
        topology, "us", "the passphrase", tmp_path / "home", extra_repositories=[S3]
    )
    lines = render(engine.settings, "the passphrase", {"pg-db-us-5433": FACTS}).splitlines()
    for key in ("repo1", "repo2", "repo3"):
        assert f"{key}-cipher-type=aes-256-cbc" in lines
        assert f"{key}-cipher-pass=the passphrase" in lines
        assert f"{key}-retention-full-type=time" in lines
        assert f"{key}-retention-full=30" in lines
    # The zones' directories come first; S3 last, so restores read it last.
    assert f"repo1-path={tmp_path / 'home' / 'repositories' / 'us-a'}" in lines
    assert "repo3-type=s3" in lines and "repo3-s3-uri-style=path" in lines
    assert "repo3-storage-ca-file=/etc/ca.pem" in lines and "repo3-storage-port=9443" in lines
    for option in ("archive-async=y", "archive-push-queue-max=4GiB", "io-timeout=5"):
        assert option in lines
    assert lines[lines.index("[pg-db-us-5433]") + 1 :] == [
        "pg1-path=/srv/pg",
        "pg1-port=5433",
        "pg1-socket-path=/run/postgresql",
        "pg1-user=postgres",
    ]


@pytest.mark.parametrize("passphrase", ["", "two\nlines", " padded "])
def test_a_passphrase_that_cannot_be_written_is_refused(tmp_path: Path, passphrase: str) -> None:
    engine = pgbackrest_engine(load_topology(_topology(tmp_path)), "us", "x", tmp_path / "home")
    with pytest.raises(ValueError, match="passphrase"):
        render(engine.settings, passphrase, {})


def test_the_server_settings_it_needs_are_named(tmp_path: Path) -> None:
    engine = pgbackrest_engine(load_topology(_topology(tmp_path)), "us", "x", tmp_path / "home")
    wanted = engine.server_settings("pg-db-us-5433")
    assert wanted["archive_timeout"] == "60s" and wanted["archive_mode"] == "on"
    assert wanted["archive_command"] == (
        f"pgbackrest --config={tmp_path / 'home' / 'pgbackrest.conf'} --stanza=pg-db-us-5433 "
        "archive-push %p"
    )
    live = {**wanted, "archive_timeout": "60"}
    assert missing_settings(engine.settings, "pg-db-us-5433", live) == []
    live = {**live, "archive_timeout": "300", "wal_level": "minimal"}
    problems = missing_settings(engine.settings, "pg-db-us-5433", live)
    assert [p.split(" ")[0] for p in problems] == ["wal_level", "archive_timeout"]


def test_verify_output_is_read_not_its_exit_status() -> None:
    report = (
        "stanza: pg-a\nstatus: ok\n"
        "stanza: pg-b\nstatus: error\n"
        "  backup: 20261204-010614F, status: invalid, total files checked: 961, "
        "total valid files: 960\n    checksum invalid: 1\n"
    )
    assert verify_problems(report) == [
        "pg-b: backup: 20261204-010614F, status: invalid, total files checked: 961, "
        "total valid files: 960; checksum invalid: 1"
    ]
    assert verify_problems("") == []


def test_info_keeps_only_finished_backups() -> None:
    report = (
        '[{"name": "pg-a", "archive": [{"database": {"id": 1, "repo-key": 1}, "id": "15-1", '
        '"max": "000000010000000000000005", "min": "000000010000000000000001"}], '
        '"backup": ['
        '{"label": "F1", "type": "full", "error": false, "database": {"id": 1, "repo-key": 1}, '
        '"timestamp": {"start": 100, "stop": 160}}, '
        '{"label": "F2", "type": "full", "error": true, "database": {"id": 1, "repo-key": 1}, '
        '"timestamp": {"start": 200, "stop": 260}}], '
        '"repo": [{"key": 1, "status": {"code": 0, "message": "ok"}}, '
        '{"key": 2, "status": {"code": 99, "message": "[PathOpenError] denied"}}]}]'
    )
    info = parse_info(report)["pg-a"]
    assert [b.label for b in info.backups] == ["F1"]
    assert info.repositories[1].newest_wal == "000000010000000000000005"
    assert info.repositories[1].reachable and not info.repositories[2].reachable
    assert info.repositories[2].newest_wal is None
