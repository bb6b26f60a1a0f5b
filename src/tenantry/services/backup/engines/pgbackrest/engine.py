"""The pgBackRest `BackupEngine`: one configuration and one stanza per PostgreSQL server of a
region, every server's WAL shipped to every repository, restores into scratch servers."""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import URL

from tenantry.platform.topology import Topology
from tenantry.services.backup.engines.engine import (
    Database,
    DatabaseState,
    Progress,
    RepositoryState,
)
from tenantry.services.backup.engines.pgbackrest import config
from tenantry.services.backup.engines.pgbackrest.command import (
    CommandError,
    give_to,
    run,
)
from tenantry.services.backup.engines.pgbackrest.config import ServerFacts
from tenantry.services.backup.engines.pgbackrest.info import (
    BackupRecord,
    RepositoryInfo,
    StanzaInfo,
    before,
    holds,
    newest_wal_arrival,
    parse_info,
    segment_position,
    verify_problems,
)
from tenantry.services.backup.engines.pgbackrest.scratch import ScratchError, ScratchServer
from tenantry.services.backup.engines.pgbackrest.server_state import (
    missing_settings,
    server_state,
    unreachable,
)
from tenantry.services.backup.engines.pgbackrest.servers import (
    Stanza,
    connect,
    discover,
    load_facts,
    save_facts,
    stanzas_of,
)
from tenantry.services.backup.engines.pgbackrest.settings import (
    PgBackRestSettings,
    PosixRepository,
    Repository,
)

BACKUP_KINDS = ("full", "diff", "incr")
_SYSTEM_DATABASES = ("postgres", "template0", "template1")
_RESTORE_TIMEOUT = 3600.0


class BackupError(RuntimeError):
    """A backup did not reach one or more repositories; the message says which and why."""


class RestoreError(RuntimeError):
    """A restore could not be made; the message says why, plainly."""


class NotConfiguredError(BackupError, RestoreError):
    """pgBackRest was never configured for a server (`prepare` writes its stanza): nothing can be
    backed up or restored there yet."""


class PgBackRestEngine:
    """pgBackRest protecting the PostgreSQL servers that hold one region's databases."""

    tool = "pgbackrest"

    def __init__(
        self, settings: PgBackRestSettings, passphrase: str | None, stanzas: Sequence[Stanza]
    ) -> None:
        """`passphrase` may be None for an engine that only reads what the written configuration
        already holds (status, restores); writing the configuration needs it."""
        if not settings.repositories:
            raise ValueError("pgBackRest needs at least one repository")
        self.settings = settings
        self._passphrase = passphrase
        self.stanzas = tuple(stanzas)
        self._facts_path = settings.home / "servers.json"

    # Setting up -------------------------------------------------------------------------------

    def server_settings(self, stanza: str) -> dict[str, str]:
        """The PostgreSQL settings the server of `stanza` needs (for whoever runs it)."""
        return config.server_settings(self.settings, stanza)

    def write_configuration(self) -> dict[str, list[str]]:
        """Write pgbackrest.conf and make its directories; returns what stands in the way, by
        stanza (a server that does not answer and was never seen cannot be configured)."""
        if self._passphrase is None:
            raise NotConfiguredError("the repositories' passphrase is not known here")
        problems: dict[str, list[str]] = {stanza.name: [] for stanza in self.stanzas}
        known = load_facts(self._facts_path)
        for stanza in self.stanzas:
            try:
                known[stanza.name] = discover(stanza)
            except (psycopg.Error, LookupError) as exc:
                if stanza.name not in known:
                    problems[stanza.name].append(unreachable(stanza, exc))
        known = {name: facts for name, facts in known.items() if name in problems}
        save_facts(self._facts_path, known)
        os_user = self._os_user(known)
        give_to(self.settings.home, os_user)
        for path in (self.settings.spool_path, self.settings.lock_path, self.settings.log_path):
            give_to(path, os_user)
        for repository in self.settings.repositories:
            if isinstance(repository, PosixRepository):
                give_to(repository.path, os_user)
        text = config.render(self.settings, self._passphrase, known)
        config.write(self.settings.config_path, text, os_user)
        return problems

    def apply_server_settings(self) -> list[str]:
        """Set the server settings (ALTER SYSTEM) on servers tenantry runs itself; returns the
        stanzas whose server must restart for them to take effect (archive_mode does)."""
        restart = []
        for stanza in self.stanzas:
            wanted = self.server_settings(stanza.name)
            with connect(stanza.conninfo) as connection:
                # Settings read at start only take effect on a restart, not on a reload.
                rows = connection.execute(
                    "SELECT name, setting FROM pg_settings "
                    "WHERE context = 'postmaster' AND name = ANY(%s)",
                    (list(wanted),),
                ).fetchall()
                for name, value in wanted.items():
                    connection.execute(
                        sql.SQL("ALTER SYSTEM SET {} = {}").format(
                            sql.Identifier(name), sql.Literal(value)
                        )
                    )
                connection.execute("SELECT pg_reload_conf()")
            if any(str(setting) != wanted[str(name)] for name, setting in rows):
                restart.append(stanza.name)
        return restart

    def prepare(self) -> dict[str, list[str]]:
        """Write the configuration, create every stanza in every repository and check that WAL
        reaches them (`pgbackrest check`); returns what is missing, by stanza."""
        problems = self.write_configuration()
        for stanza in self.stanzas:
            if problems[stanza.name]:
                continue
            missing = missing_settings(self.settings, stanza)
            problems[stanza.name] += missing
            try:
                self._pgbackrest(stanza, "stanza-create", timeout=300)
            except CommandError as exc:
                problems[stanza.name].append(f"stanza-create failed: {exc.reason}")
                continue
            if missing:
                continue
            try:
                self._pgbackrest(stanza, "check", timeout=300)
            except CommandError as exc:
                problems[stanza.name].append(f"pgbackrest check failed: {exc.reason}")
        return problems

    # Protecting -------------------------------------------------------------------------------

    def back_up_now(self, progress: Progress) -> None:
        self.back_up("full", progress)

    def back_up(self, kind: str, progress: Progress) -> None:
        """A backup of every server into every repository: `full` daily, `incr` between.

        A repository that fails does not stop the others; BackupError names every failure.
        """
        if kind not in BACKUP_KINDS:
            raise ValueError(f"backup kind must be one of {BACKUP_KINDS}, not {kind!r}")
        steps = [
            (stanza, index, repository)
            for stanza in self.stanzas
            for index, repository in enumerate(self.settings.repositories, start=1)
        ]
        failures = []
        progress(f"{kind} backup", 0, len(steps))
        for done, (stanza, index, repository) in enumerate(steps, start=1):
            try:
                self._pgbackrest(
                    stanza, "backup", f"--type={kind}", f"--repo={index}", timeout=None
                )
            except CommandError as exc:
                failures.append(f"{stanza.name} into {repository.name}: {exc.reason}")
            progress(f"{kind} backup of {stanza.name} into {repository.name}", done, len(steps))
        if failures:
            raise BackupError("; ".join(failures))

    def verify(self) -> list[str]:
        """What is wrong in the repositories (`pgbackrest verify` checks every file's checksum;
        it exits 0 even when it finds damage, so its report is read). Empty when all is well."""
        problems = []
        for stanza in self.stanzas:
            for index, repository in enumerate(self.settings.repositories, start=1):
                try:
                    done = self._pgbackrest(
                        stanza, "verify", f"--repo={index}", "--output=text", timeout=None
                    )
                except CommandError as exc:
                    problems.append(f"{repository.name}: {stanza.name}: {exc.reason}")
                    continue
                problems += [f"{repository.name}: {p}" for p in verify_problems(done.stdout)]
        return problems

    def server_users(self) -> set[str]:
        """The operating-system users who own the servers' files (as last discovered)."""
        return {facts.os_user for facts in load_facts(self._facts_path).values()}

    def backups(self) -> list[BackupRecord]:
        """Every backup every repository holds, of every configured server."""
        known = load_facts(self._facts_path)
        found: list[BackupRecord] = []
        for stanza in self.stanzas:
            if stanza.name in known:
                info = self._info(stanza)
                found += info.backups if info else ()
        return found

    def states(self) -> Sequence[DatabaseState]:
        states = []
        for stanza in self.stanzas:
            states += self._stanza_states(stanza)
        return states

    # Restoring --------------------------------------------------------------------------------

    @contextmanager
    def restore_copy(self, database: Database, at: datetime | None, scratch: Path) -> Iterator[URL]:
        stanza, name = self._locate(database)
        facts = self._known_facts(stanza)
        target = _target_options(at)
        self._ship_wal(stanza)
        scratch.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="pgbr-", dir=scratch))
        try:
            server = ScratchServer(root, self.settings.postgres_bin, facts.os_user, facts.user)
        except ScratchError as exc:
            root.rmdir()
            raise RestoreError(str(exc)) from exc
        try:
            try:
                server.make_directories()
            except ScratchError as exc:
                raise RestoreError(str(exc)) from exc
            restore_command = (
                f"{self.settings.pgbackrest_bin} --config={self.settings.config_path} "
                f"--stanza={stanza.name} --pg1-path={server.data} --no-archive-async "
                'archive-get %f "%p"'
            )
            options = [
                f"--pg1-path={server.data}",
                "--archive-mode=off",
                f"--recovery-option=restore_command={restore_command}",
                *target,
            ]
            if name not in _SYSTEM_DATABASES:
                options.append(f"--db-include={name}")
            try:
                self._pgbackrest(stanza, "restore", *options, timeout=_RESTORE_TIMEOUT)
                server.configure()
                server.start(timeout=_RESTORE_TIMEOUT)
            except CommandError as exc:
                raise RestoreError(_restore_failure(database, at, exc.reason)) from exc
            except ScratchError as exc:
                raise RestoreError(_restore_failure(database, at, str(exc))) from exc
            self._keep_only(server, name)
            yield server.url(name)
        finally:
            server.stop_and_remove()

    def restore_in_place(self, at: datetime | None, progress: Progress) -> None:
        """Restore every server of the region over its own data directory (`--delta`), with the
        servers stopped; each recovers to `at` (or the latest WAL) when it next starts."""
        target = _target_options(at)
        progress("restore", 0, len(self.stanzas))
        for done, stanza in enumerate(self.stanzas, start=1):
            facts = self._known_facts(stanza)
            status = run(
                [
                    str(self.settings.postgres_bin / "pg_ctl"),
                    "-D",
                    str(facts.data_directory),
                    "status",
                ],
                facts.os_user,
                check=False,
            )
            if status.returncode == 0:
                raise RestoreError(
                    f"the server of {stanza.name} ({facts.data_directory}) is running: stop it "
                    "before restoring over it"
                )
            try:
                self._pgbackrest(stanza, "restore", "--delta", *target, timeout=_RESTORE_TIMEOUT)
            except CommandError as exc:
                raise RestoreError(f"{stanza.name}: {exc.reason}") from exc
            progress(f"restored {stanza.name}", done, len(self.stanzas))

    # Internals --------------------------------------------------------------------------------

    def _pgbackrest(
        self, stanza: Stanza, command: str, *options: str, timeout: float | None = 600
    ) -> subprocess.CompletedProcess[str]:
        facts = self._known_facts(stanza)
        argv = [
            self.settings.pgbackrest_bin,
            f"--config={self.settings.config_path}",
            f"--stanza={stanza.name}",
            command,
            *options,
        ]
        return run(argv, facts.os_user, timeout=timeout)

    def _known_facts(self, stanza: Stanza) -> ServerFacts:
        facts = load_facts(self._facts_path).get(stanza.name)
        if facts is None:
            raise NotConfiguredError(
                f"pgBackRest has never been configured for {stanza.name}: no configuration at "
                f"{self.settings.config_path}"
            )
        return facts

    def _os_user(self, known: dict[str, ServerFacts]) -> str | None:
        owners = sorted({facts.os_user for facts in known.values()})
        if len(owners) > 1:
            raise ValueError(
                f"the servers' files belong to different users ({', '.join(owners)}): give each "
                "its own backup home"
            )
        return owners[0] if owners else None

    def _locate(self, database: Database) -> tuple[Stanza, str]:
        for stanza in self.stanzas:
            for shard, name in stanza.databases:
                if shard == database.shard:
                    return stanza, name
        raise RestoreError(f"{database.shard} is not a database pgBackRest protects here")

    def _ship_wal(self, stanza: Stanza) -> None:
        """Commit a transaction and close the current WAL segment, then wait (a little) for a
        repository to hold it: recovery to a second stops at the first commit after it, and the
        latest copy should hold the latest write."""
        try:
            with connect(stanza.conninfo) as connection:
                with connection.transaction():
                    connection.execute("SELECT txid_current()")
                row = connection.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
        except psycopg.Error:
            return  # A stopped server: restore what the repositories hold.
        assert row is not None
        wanted = segment_position(str(row[0]))
        deadline = time.monotonic() + self.settings.archive_timeout + self.settings.io_timeout
        while time.monotonic() < deadline:
            info = self._info(stanza)
            for repository in info.repositories.values() if info else ():
                if repository.newest_wal and holds(repository.newest_wal, wanted):
                    return
            time.sleep(0.5)

    def _info(self, stanza: Stanza) -> StanzaInfo | None:
        done = self._pgbackrest(stanza, "info", "--output=json", timeout=120)
        return parse_info(done.stdout).get(stanza.name)

    def _keep_only(self, server: ScratchServer, name: str) -> None:
        """Drop every database but `name` (a `--db-include` restore leaves them unusable) and
        check that `name` opens."""
        with psycopg.connect(server.conninfo("postgres"), autocommit=True) as connection:
            others = [
                str(row[0])
                for row in connection.execute(
                    "SELECT datname FROM pg_database WHERE datname <> ALL(%s)",
                    ([name, *_SYSTEM_DATABASES],),
                )
            ]
            for other in others:
                connection.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(other)))
        try:
            with psycopg.connect(server.conninfo(name), autocommit=True) as connection:
                connection.execute("SELECT count(*) FROM pg_class").fetchone()
        except psycopg.Error as exc:
            raise RestoreError(f"the restored copy of {name} does not open: {exc}") from exc

    def _stanza_states(self, stanza: Stanza) -> list[DatabaseState]:
        problems: list[str] = []
        now = datetime.now(UTC)
        current_wal = server_state(self.settings, stanza, problems)
        info: StanzaInfo | None = None
        if not self.settings.config_path.exists():
            problems.append(
                f"no pgBackRest configuration at {self.settings.config_path} yet: the server's "
                "WAL goes nowhere"
            )
        elif stanza.name not in load_facts(self._facts_path):
            problems.append(f"the configuration has no stanza {stanza.name} yet")
        else:
            try:
                info = self._info(stanza)
            except CommandError as exc:
                problems.append(f"pgbackrest info failed: {exc.reason}")
        repositories = []
        locations = config.repository_locations(self.settings.repositories)
        for index, repository in enumerate(self.settings.repositories, start=1):
            seen = info.repositories.get(index) if info else None
            state = self._repository_state(
                stanza, repository, locations[index - 1], seen, now, current_wal, problems
            )
            repositories.append(state)
        backups = info.backups if info else ()
        fulls = [backup.stopped for backup in backups if backup.kind == "full"]
        if info is not None and not fulls:
            problems.append("no full backup yet: nothing can be restored")
        known = [r.behind_seconds for r in repositories if r.behind_seconds is not None]
        return [
            DatabaseState(
                database=Database(shard=shard, service=None),
                tool=self.tool,
                last_full_backup=max(fulls) if fulls else None,
                behind_seconds=max(known) if known else None,
                oldest_restorable=min(b.stopped for b in backups) if backups else None,
                repositories=tuple(repositories),
                problems=tuple(problems),
            )
            for shard, _ in stanza.databases
        ]

    def _repository_state(
        self,
        stanza: Stanza,
        repository: Repository,
        location: str,
        seen: RepositoryInfo | None,
        now: datetime,
        current_wal: str | None,
        problems: list[str],
    ) -> RepositoryState:
        if seen is None:
            return RepositoryState(repository.name, location, False, None)
        if not seen.reachable:
            problems.append(
                f"repository {repository.name} ({location}) is unreachable: {seen.message}"
            )
            return RepositoryState(repository.name, location, False, None)
        behind = None
        if seen.newest_wal and seen.archive_id:
            directory = f"archive/{stanza.name}/{seen.archive_id}/{seen.newest_wal[:16]}"
            try:
                listing = self._pgbackrest(
                    stanza, "repo-ls", f"--repo={seen.key}", "--output=json", directory
                )
            except CommandError as exc:
                problems.append(
                    f"repository {repository.name} ({location}) is unreachable: {exc.reason}"
                )
                return RepositoryState(repository.name, location, False, None)
            arrival = newest_wal_arrival(listing.stdout)
            if arrival is not None:
                behind = max(0.0, (now - arrival).total_seconds())
                if current_wal is not None and holds(seen.newest_wal, before(current_wal)):
                    # It holds every finished segment: at most the one being written is missing.
                    behind = min(behind, float(self.settings.archive_timeout))
        if behind is None:
            problems.append(f"repository {repository.name} ({location}) holds no WAL yet")
        elif behind > 2 * self.settings.archive_timeout + self.settings.io_timeout:
            problems.append(
                f"repository {repository.name} ({location}) is {behind:.0f} s behind: its newest "
                f"WAL is {seen.newest_wal}"
            )
        return RepositoryState(repository.name, location, True, behind)


def pgbackrest_engine(
    topology: Topology,
    region: str | None,
    passphrase: str,
    home: Path,
    *,
    repositories: Sequence[Repository] | None = None,
    extra_repositories: Sequence[Repository] = (),
    retention_days: int = 30,
    archive_timeout: int = 60,
) -> PgBackRestEngine:
    """The engine protecting `region`'s PostgreSQL servers (the global database's when None).

    `home` holds the configuration, spool, locks and logs. By default the repositories are two
    directories under `home/repositories`, named after the region's zones; `extra_repositories`
    (an S3 repository) come after them, so restores read the zones' copies first.
    """
    if repositories is None:
        zones = list(topology.regions[region].zones) if region is not None else []
        names = [*zones, "zone-a", "zone-b"][:2] if len(zones) < 2 else zones[:2]
        repositories = [PosixRepository(name, home / "repositories" / name) for name in names]
    settings = PgBackRestSettings(
        home=home,
        repositories=(*repositories, *extra_repositories),
        retention_days=retention_days,
        archive_timeout=archive_timeout,
    )
    return PgBackRestEngine(settings, passphrase, stanzas_of(topology, region))


def _target_options(at: datetime | None) -> list[str]:
    if at is None:
        return []
    if at.tzinfo is None:
        raise RestoreError("a restore time must carry its time zone (e.g. 2026-12-04T10:00:00Z)")
    moment = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    return ["--type=time", f"--target={moment}", "--target-action=promote"]


def _restore_failure(database: Database, at: datetime | None, reason: str) -> str:
    when = "its latest state" if at is None else at.astimezone(UTC).isoformat()
    if "unable to find backup set" in reason:
        return f"no backup of {database.shard} is older than {when}: {reason}"
    if "recovery ended before configured recovery target was reached" in reason:
        return f"the repositories hold no WAL of {database.shard} up to {when} yet: {reason}"
    return f"{database.shard} could not be restored to {when}: {reason}"
