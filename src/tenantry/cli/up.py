"""`tenantry up`: run a whole cloud on one machine, in the foreground, until Ctrl-C.

It makes the keys and certificates the services need (once), binds every listening socket (the
edges on the ports they had before), starts every process at once (a call to a process still
starting waits in its socket's backlog), waits for each to answer its health check, and
publishes the edges in `cloud.json`. A process that dies is started again; only one that keeps
dying stops the cloud, with its log's last lines.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

import httpx
import orjson
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from tenantry.cli import health
from tenantry.cli.backup_schedule import DailyDrill
from tenantry.cli.datadir import DataDir, read_json, write_json_atomic
from tenantry.cli.erasure_replay import finish_pending
from tenantry.cli.migrate import (
    DEFAULT_JOBS,
    MigrationFailed,
    create_databases,
    migrate_with_progress,
)
from tenantry.cli.move_removal import ExpiredCopies
from tenantry.cli.plan import (
    KEY_IDENTITIES,
    Layout,
    Listener,
    Place,
    PortUnavailable,
    ProcessSpec,
    bind_listeners,
    cloud_document,
    directory_document,
    listeners_of,
    plan_processes,
    ports_document,
)
from tenantry.cli.processes import (
    DEATH_WINDOW_SECONDS,
    Child,
    CrashLoop,
    Supervisor,
    stop_leftovers,
)
from tenantry.platform import service_keys, tls
from tenantry.platform.topology import Topology, TopologyError, load_topology

HEALTH_DEADLINE_SECONDS = 60.0
POLL_SECONDS = 0.2
"""How often `up` looks at its children while they start."""
IDLE_CHECK_SECONDS = 5.0
"""Once the cloud is up, `up` rests until a child exits or a signal comes; and at most this."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class UpFailed(Exception):
    """A reason `up` cannot go on; the message is shown to the user as is."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


class AlreadyRunning(Exception):
    """Another process holds the lock; the message names its pid as it recorded it."""


class StopRequest:
    """Records a stop signal for the loops to notice between steps.

    The handler only sets a field: stopping from inside a signal handler could interrupt a
    half-started child and leave it behind.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        self.signum = signum

    @property
    def requested(self) -> bool:
        """True once any stop signal has arrived."""
        return self.signum is not None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Route the stop signals here for the duration of the block."""
        previous = {signum: signal.signal(signum, self) for signum in STOP_SIGNALS}
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextlib.contextmanager
def signal_wakeups() -> Iterator[Callable[[float], None]]:
    """For the block, a `rest(seconds)` that returns early when any signal arrives (a child
    exiting, or a stop signal), so a resting `up` spends no CPU and still answers at once."""
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    writer.setblocking(False)
    previous_child = signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    previous_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)

    def rest(seconds: float) -> None:
        ready, _, _ = select.select([reader], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError):
                while reader.recv(512):
                    pass

    try:
        yield rest
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGCHLD, previous_child)
        reader.close()
        writer.close()


def run_up(data_dir: Path, config: Path | None, layout: Layout = Layout.REGIONS) -> int:
    """Run the cloud of `data_dir` until a stop signal (exit 0) or a failure (exit 1 or 2)."""
    dirs = DataDir.at(data_dir)
    dirs.create()
    try:
        topology = load_topology(config)
    except TopologyError as exc:
        err.print(f"[red]tenantry up:[/] {exc}")
        return 2
    stop = StopRequest()
    try:
        with exclusive_lock(dirs.lock_file), stop.installed():
            return _run_locked(dirs, topology, config, layout, stop)
    except AlreadyRunning as exc:
        err.print(
            f"[red]tenantry up:[/] another `tenantry up` (pid {exc}) is already running on "
            f"{dirs.root}; stop it first"
        )
        return 1
    except UpFailed as exc:
        err.print(f"[red]tenantry up:[/] {escape(exc.message)}", soft_wrap=True)
        if exc.detail:
            err.print(Text(exc.detail), soft_wrap=True)
        return 1
    except (OSError, service_keys.KeyFileError) as exc:
        err.print(f"[red]tenantry up:[/] {exc}", soft_wrap=True)
        return 1


@contextlib.contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` for the block, or raise AlreadyRunning at once."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise AlreadyRunning(holder or "unknown") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _run_locked(
    dirs: DataDir, topology: Topology, config: Path | None, layout: Layout, stop: StopRequest
) -> int:
    leftovers = stop_leftovers(dirs)
    if leftovers:
        out.print(f"Stopped processes an earlier `up` left running: {', '.join(leftovers)}")
    dirs.cloud_file.unlink(missing_ok=True)
    topology_file = _record_topology(dirs, config)
    in_child_process(lambda: _migrate(dirs, topology))
    in_child_process(lambda: _hold_back_restored(dirs, topology))
    sockets = _bind(dirs, topology)
    try:
        # Work `up` starts by itself when it falls due: the daily restore drill, and removing
        # the old copies of moved tenants once their keeping time is over.
        jobs = (DailyDrill(dirs, topology), ExpiredCopies(dirs, topology))
        try:
            return _serve(
                dirs, plan_processes(topology, layout), topology_file, sockets, stop, jobs
            )
        finally:
            for job in jobs:
                job.stop()
    finally:
        for sock in sockets.values():
            sock.close()


def in_child_process(work: Callable[[], None]) -> None:
    """Do `work` in a forked child and wait for it; an UpFailed (or any error) it raises is
    raised here.

    Migrating loads Alembic and every revision, tens of MiB that `up` would otherwise hold
    for as long as the cloud runs; a child gives them back when it exits.
    """
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the outcome through the pipe, then leave at once
        os.close(reader)
        outcome: dict[str, str] = {}
        try:
            work()
        except UpFailed as exc:
            outcome = {"message": exc.message, "detail": exc.detail}
        except BaseException as exc:  # anything else must reach the parent too, as a message
            outcome = {"message": f"database set-up failed: {type(exc).__name__}: {exc}"}
        finally:
            with os.fdopen(writer, "wb") as pipe:
                pipe.write(orjson.dumps(outcome))
            sys.stdout.flush()  # os._exit skips it, and what the child printed must show
            sys.stderr.flush()
            os._exit(1 if outcome else 0)
    os.close(writer)
    with os.fdopen(reader, "rb") as pipe:
        reported = pipe.read()
    _, status = os.waitpid(pid, 0)
    outcome = orjson.loads(reported) if reported else {}
    if outcome:
        raise UpFailed(outcome["message"], outcome.get("detail", ""))
    if status != 0:
        raise UpFailed(f"database set-up failed: its process ended with status {status}")


def _bind(dirs: DataDir, topology: Topology) -> dict[Place, socket.socket]:
    """Bind every listener, the edges on their kept or configured ports, and record those."""
    try:
        recorded = read_json(dirs.ports_file)
    except (OSError, ValueError):
        recorded = {}

    def moved(place: Place, old: int, new: int) -> None:
        out.print(
            f"[yellow]{place.name}'s port {old} is taken by another program; "
            f"it listens on {new} now.[/]"
        )

    try:
        sockets = bind_listeners(topology, recorded, moved)
    except PortUnavailable as exc:
        raise UpFailed(str(exc)) from None
    write_json_atomic(dirs.ports_file, ports_document(listeners_of(sockets)))
    return sockets


def _serve(
    dirs: DataDir,
    processes: list[ProcessSpec],
    topology_file: Path | None,
    sockets: dict[Place, socket.socket],
    stop: StopRequest,
    jobs: Sequence[DailyDrill | ExpiredCopies],
) -> int:
    listeners = listeners_of(sockets)
    ca = _prepare_credentials(dirs, processes)
    write_json_atomic(dirs.directory_file, directory_document(listeners, ca))
    urls = {listener.place: listener.url for listener in listeners}

    supervisor = Supervisor(dirs, sockets, topology_file, on_event=out.print)
    try:
        columns = (TextColumn("Starting services"), BarColumn(), MofNCompleteColumn())
        with (
            health.client(ca) as http,
            Progress(*columns, console=out, transient=True) as progress,
        ):
            bar = progress.add_task("start", total=len(processes))
            # All at once: every listening socket is bound already, so a regional service that
            # calls a global one before it serves waits in that socket's backlog, not in vain.
            if stop.requested:
                return 0
            started = [supervisor.start(spec) for spec in processes]
            if not _wait_healthy(
                http, supervisor, started, urls, stop, lambda: progress.advance(bar)
            ):
                return 0
        write_json_atomic(dirs.cloud_file, cloud_document(listeners, ca))
        _print_ready(dirs, listeners, ca)
        # Sites a region restore rewound are served once their erasure ledgers are replayed.
        finish_pending(dirs.root, out.print)
        with signal_wakeups() as rest:
            while not stop.requested:
                supervisor.check()
                for job in jobs:
                    job.poll()
                rest(supervisor.seconds_to_next_restart() or IDLE_CHECK_SECONDS)
        out.print("Stopping...")
        return 0
    except CrashLoop as exc:
        raise UpFailed(_crash_loop_message(exc.child), exc.child.log_tail()) from None
    finally:
        supervisor.stop_all()
        dirs.cloud_file.unlink(missing_ok=True)


def _record_topology(dirs: DataDir, config: Path | None) -> Path | None:
    """Keep a copy of the topology file `up` was given, for the services and `status` to read.

    A copy, so editing or moving the original while the cloud runs changes nothing.
    """
    if config is None:
        dirs.topology_file.unlink(missing_ok=True)
        return None
    if config.resolve() != dirs.topology_file:
        shutil.copyfile(config, dirs.topology_file)
    return dirs.topology_file


def _hold_back_restored(dirs: DataDir, topology: Topology) -> None:
    """Before anything is served: the sites a region restore rewound wait, restoring, for the
    replay of their erasure ledgers (done once the cloud is ready)."""
    from tenantry.cli.erasure_replay import hold_back_restored

    try:
        held = hold_back_restored(dirs.root, topology)
    except SQLAlchemyError as exc:
        raise UpFailed(
            "cannot hold back the sites a region restore rewound until their erasure ledgers "
            f"are replayed: {type(exc).__name__}: {exc}"
        ) from None
    if held:
        out.print(
            f"{len(held)} sites restored from backups stay restoring until their erasure "
            "ledgers are replayed"
        )


def _migrate(dirs: DataDir, topology: Topology) -> None:
    """Bring every service database to its head revision before any service opens it."""
    try:
        created = create_databases(topology)
        if created:
            out.print(f"Created PostgreSQL databases: {', '.join(created)}")
        outcomes = migrate_with_progress(topology, dirs.root, out, jobs=DEFAULT_JOBS)
    except MigrationFailed as exc:
        raise UpFailed(f"database set-up failed: {exc}") from None
    failed = [o for o in outcomes if o.error is not None]
    if failed:
        raise UpFailed(
            f"migrating {failed[0].target.name} failed: {failed[0].error}; "
            "fix it and run `tenantry migrate` (or `up` again)"
        )


def _prepare_credentials(dirs: DataDir, processes: list[ProcessSpec]) -> Path:
    """Make (first run) or reuse every service key pair, the CA and each process's certificate."""
    for identity in KEY_IDENTITIES:
        service_keys.ensure_service_key(dirs.root, identity)
    ca = tls.ensure_ca(dirs.tls)
    for process in processes:
        tls.ensure_server_cert(dirs.tls, process.name)
    return ca


def _wait_healthy(
    http: httpx.Client,
    supervisor: Supervisor,
    children: list[Child],
    urls: dict[Place, str],
    stop: StopRequest,
    on_healthy: Callable[[], None],
) -> bool:
    """Wait until every service of every child answers its health check; False if a stop
    signal came first. A child that dies meanwhile is restarted as at any other time.

    `on_healthy` is called once for each child as it first answers. The deadline runs from
    the last child that answered: all start at once and share the machine's cores, so on a
    busy machine the last may take long, but a start that makes no progress still ends.
    """
    pending = list(children)
    deadline = time.monotonic() + HEALTH_DEADLINE_SECONDS
    while pending:
        if stop.requested:
            return False
        supervisor.check()
        waiting = []
        for child in pending:
            if supervisor.running(child) and all(
                health.is_healthy(http, urls[place]) for place in child.spec.places
            ):
                on_healthy()
                deadline = time.monotonic() + HEALTH_DEADLINE_SECONDS
            else:
                waiting.append(child)
        pending = waiting
        if pending and time.monotonic() > deadline:
            names = ", ".join(c.spec.name for c in pending)
            raise UpFailed(
                f"no answer to GET /_health within {HEALTH_DEADLINE_SECONDS:.0f} s (of the start, "
                f"or of the last process that answered) from: {names}; stopping the others. "
                "Last lines of their logs:",
                "\n".join(f"--- {c.log_path}\n{c.log_tail()}" for c in pending),
            )
        if pending:
            time.sleep(POLL_SECONDS)
    return True


def _crash_loop_message(child: Child) -> str:
    return (
        f"{child.spec.name} exited {len(child.deaths)} times within "
        f"{DEATH_WINDOW_SECONDS:.0f} s, the last with {child.exit_description}; "
        f"stopping the cloud. Last lines of {child.log_path}:"
    )


def _print_ready(dirs: DataDir, listeners: list[Listener], ca: Path) -> None:
    table = Table(title=f"tenantry is up ({dirs.root})", title_justify="left")
    table.add_column("edge")
    table.add_column("URL")
    for region, url in cloud_document(listeners, ca)["edges"].items():
        table.add_row(region, url)
    out.print(table)
    out.print(f"CA certificate: {ca}")
    out.print(f"Clients read {dirs.cloud_file}. Press Ctrl-C to stop.")
