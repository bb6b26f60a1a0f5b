"""The pgBackRest configuration file of a region, and the server settings that ship WAL to it."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tenantry.services.backup.engines.pgbackrest.command import give_file_to
from tenantry.services.backup.engines.pgbackrest.settings import (
    PgBackRestSettings,
    PosixRepository,
    S3Repository,
)

CIPHER = "aes-256-cbc"


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What pgBackRest must know of one PostgreSQL server, read from the server itself."""

    data_directory: Path
    socket_directory: str
    port: int
    user: str
    """The database superuser pgBackRest connects as."""
    os_user: str
    """The operating-system user who owns the data directory."""


def archive_command(settings: PgBackRestSettings, stanza: str) -> str:
    """The `archive_command` a server of `stanza` needs."""
    return (
        f"{settings.pgbackrest_bin} --config={settings.config_path} --stanza={stanza} "
        "archive-push %p"
    )


def server_settings(settings: PgBackRestSettings, stanza: str) -> dict[str, str]:
    """The PostgreSQL settings that make a server of `stanza` ship its WAL to the repositories."""
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": archive_command(settings, stanza),
        "archive_timeout": f"{settings.archive_timeout}s",
    }


def missing_settings(
    settings: PgBackRestSettings, stanza: str, live: Mapping[str, str]
) -> list[str]:
    """What the server's live settings (`pg_settings`: name -> setting) lack, said plainly."""
    problems = []
    if live.get("wal_level") not in ("replica", "logical"):
        problems.append(f"wal_level is {live.get('wal_level')!r}: set wal_level = replica")
    if live.get("archive_mode") not in ("on", "always"):
        problems.append(
            f"archive_mode is {live.get('archive_mode')!r}: set archive_mode = on "
            "(and restart the server)"
        )
    wanted = archive_command(settings, stanza)
    if live.get("archive_command") != wanted:
        problems.append(
            f"archive_command is {live.get('archive_command')!r}: set archive_command = '{wanted}'"
        )
    timeout = int(live.get("archive_timeout") or 0)
    if timeout <= 0 or timeout > settings.archive_timeout:
        problems.append(
            f"archive_timeout is {timeout} s: set archive_timeout = {settings.archive_timeout}s "
            "so a quiet server still ships its WAL"
        )
    return problems


def render(
    settings: PgBackRestSettings, passphrase: str, servers: Mapping[str, ServerFacts]
) -> str:
    """The text of pgbackrest.conf: every repository (encrypted) and one stanza per server."""
    if not passphrase or "\n" in passphrase or passphrase != passphrase.strip():
        raise ValueError("the repository passphrase must be one line without outer spaces")
    lines = ["[global]"]
    for index, repository in enumerate(settings.repositories, start=1):
        lines += _repository_lines(f"repo{index}", repository, settings, passphrase)
    lines += [
        "archive-async=y",
        f"spool-path={settings.spool_path}",
        f"lock-path={settings.lock_path}",
        f"log-path={settings.log_path}",
        f"archive-push-queue-max={settings.archive_push_queue_max}",
        f"archive-timeout={settings.archive_timeout}",
        f"io-timeout={settings.io_timeout}",
        f"process-max={settings.process_max}",
        "compress-type=lz4",
        "start-fast=y",
        "log-level-console=warn",
        "log-level-file=info",
    ]
    lines += [f"{name}={value}" for name, value in settings.extra_options]
    for stanza, facts in sorted(servers.items()):
        lines += [
            "",
            f"[{stanza}]",
            f"pg1-path={facts.data_directory}",
            f"pg1-port={facts.port}",
            f"pg1-socket-path={facts.socket_directory}",
            f"pg1-user={facts.user}",
        ]
    return "\n".join(lines) + "\n"


def _repository_lines(
    key: str, repository: PosixRepository | S3Repository, settings: PgBackRestSettings, secret: str
) -> list[str]:
    common = [
        f"{key}-cipher-type={CIPHER}",
        f"{key}-cipher-pass={secret}",
        f"{key}-retention-full-type=time",
        f"{key}-retention-full={settings.retention_days}",
        # Small files travel as bundles: a few objects instead of one per relation file.
        f"{key}-bundle=y",
    ]
    if isinstance(repository, PosixRepository):
        return [f"{key}-path={repository.path}", *common]
    lines = [
        f"{key}-type=s3",
        f"{key}-path={repository.path}",
        f"{key}-s3-bucket={repository.bucket}",
        f"{key}-s3-endpoint={repository.endpoint}",
        f"{key}-s3-region={repository.region}",
        f"{key}-s3-key={repository.key}",
        f"{key}-s3-key-secret={repository.key_secret}",
        f"{key}-s3-uri-style={repository.uri_style}",
        f"{key}-storage-port={repository.port}",
    ]
    if repository.ca_file is not None:
        lines.append(f"{key}-storage-ca-file={repository.ca_file}")
    if not repository.verify_tls:
        lines.append(f"{key}-storage-verify-tls=n")
    return lines + common


def write(path: Path, text: str, os_user: str | None) -> None:
    """Write the configuration readable by `os_user` only (it holds the passphrase), replacing
    the old one at once so an archive_command running meanwhile reads one or the other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    give_file_to(temporary, os_user)
    temporary.replace(path)


def repository_locations(repositories: Sequence[PosixRepository | S3Repository]) -> list[str]:
    """Where each repository is, for people."""
    return [
        str(r.path) if isinstance(r, PosixRepository) else f"s3://{r.bucket}{r.path}"
        for r in repositories
    ]
