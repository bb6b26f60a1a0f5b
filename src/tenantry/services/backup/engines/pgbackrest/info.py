"""Reading what pgBackRest reports: `info --output=json`, `repo-ls --output=json`, `verify`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

UNREACHABLE = 99
"""The repository status pgBackRest gives when it cannot read a repository at all."""


@dataclass(frozen=True, slots=True)
class BackupRecord:
    """One backup in one repository."""

    label: str
    kind: str
    """full, diff or incr."""
    repo_key: int
    started: datetime
    stopped: datetime


@dataclass(frozen=True, slots=True)
class RepositoryInfo:
    """One repository as `info` sees it for a stanza."""

    key: int
    status_code: int
    message: str
    archive_id: str | None
    newest_wal: str | None

    @property
    def reachable(self) -> bool:
        return self.status_code != UNREACHABLE


@dataclass(frozen=True, slots=True)
class StanzaInfo:
    """Everything `info` says of one stanza."""

    name: str
    repositories: dict[int, RepositoryInfo]
    backups: tuple[BackupRecord, ...]


def parse_info(text: str) -> dict[str, StanzaInfo]:
    """`pgbackrest info --output=json`, by stanza."""
    stanzas: dict[str, StanzaInfo] = {}
    for raw in json.loads(text):
        archives: dict[int, dict[str, Any]] = {}
        for archive in raw.get("archive", ()):
            key = archive["database"]["repo-key"]
            # Later entries are later PostgreSQL versions of the stanza: keep the newest.
            archives[key] = archive
        repositories = {}
        for repo in raw.get("repo", ()):
            key = repo["key"]
            archive = archives.get(key, {})
            repositories[key] = RepositoryInfo(
                key=key,
                status_code=int(repo["status"]["code"]),
                message=str(repo["status"]["message"]),
                archive_id=archive.get("id"),
                newest_wal=archive.get("max"),
            )
        backups = tuple(
            BackupRecord(
                label=backup["label"],
                kind=backup["type"],
                repo_key=backup["database"]["repo-key"],
                started=_time(backup["timestamp"]["start"]),
                stopped=_time(backup["timestamp"]["stop"]),
            )
            for backup in raw.get("backup", ())
            if not backup.get("error", False)
        )
        stanzas[raw["name"]] = StanzaInfo(raw["name"], repositories, backups)
    return stanzas


def newest_wal_arrival(text: str) -> datetime | None:
    """When the newest WAL segment of a `repo-ls --output=json` listing reached the repository."""
    entries: dict[str, dict[str, Any]] = json.loads(text)
    times = [
        entry["time"]
        for name, entry in entries.items()
        if entry.get("type") == "file" and len(name) > 24 and is_segment(name[:24])
    ]
    return _time(max(times)) if times else None


def is_segment(name: str) -> bool:
    """True for a WAL segment's name (24 hexadecimal digits)."""
    return len(name) == 24 and all(c in "0123456789ABCDEF" for c in name)


def segment_position(name: str) -> tuple[int, int]:
    """(timeline, position) of a WAL segment, so segments of a timeline compare in order."""
    return int(name[:8], 16), int(name[8:16], 16) * 0x100000000 + int(name[16:24], 16)


def holds(newest: str, wanted: tuple[int, int]) -> bool:
    """Whether a repository whose newest segment is `newest` holds the segment at `wanted`."""
    timeline, position = segment_position(newest)
    return timeline > wanted[0] or (timeline == wanted[0] and position >= wanted[1])


def before(segment: str) -> tuple[int, int]:
    """The position of the segment before `segment`, on its timeline."""
    timeline, position = segment_position(segment)
    return timeline, position - 1


def verify_problems(text: str) -> list[str]:
    """What `pgbackrest verify --output=text` found wrong (it exits 0 even then): the detail of
    every stanza whose status is not ok."""
    problems: list[str] = []
    stanza: str | None = None
    failing = False
    detail: list[str] = []

    def close() -> None:
        if stanza is not None and failing:
            problems.append(f"{stanza}: " + "; ".join(detail or ["status: error"]))

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("stanza:"):
            close()
            stanza, failing, detail = stripped.split(":", 1)[1].strip(), False, []
        elif stripped.startswith("status:"):
            failing = stripped.split(":", 1)[1].strip() != "ok"
        elif stripped and stanza is not None:
            detail.append(stripped)
    close()
    return problems


def _time(epoch: int | float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)
