"""The `tenantry up` supervisor on its own, with stub services: start, stop, failures, leftovers."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from loopback_ports import unused_port
from tenantry.cli import health, processes
from tenantry.cli.datadir import DataDir, write_json_atomic
from tenantry.cli.plan import Place, ProcessSpec
from tenantry.cli.up import AlreadyRunning, exclusive_lock, run_up
from tenantry.platform import tls
from tenantry.services.registry import SPECS

HERE = Path(__file__).parent


def processes_of(regions: tuple[str, ...]) -> set[str]:
    """The fleet layout's process names: each global service's, each regional one's per region."""
    return {spec.name for spec in SPECS if spec.is_global} | {
        f"{spec.name}-{region}" for spec in SPECS if not spec.is_global for region in regions
    }


PROCESSES = processes_of(("us", "eu", "au"))


WAIT_SECONDS = 90.0
"""How long a wait may take before the test fails: as long as a real cloud may take to start
(tests/e2e/cloud.py), since on a machine loaded by other work starting the stubs is as slow."""


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stub_pids(data_dir: Path) -> dict[str, set[int]]:
    """Every pid each stub printed to its log as it started (one per start)."""
    pids: dict[str, set[int]] = {}
    for log in (data_dir / "logs").glob("*.log"):
        for match in re.finditer(r"stub (\S+) pid (\d+) starting", log.read_text()):
            pids.setdefault(match[1], set()).add(int(match[2]))
    return pids


def all_pids(pids: dict[str, set[int]]) -> set[int]:
    return set().union(*pids.values()) if pids else set()


def published(data_dir: Path) -> str:
    """The text of `cloud.json`, or "" while there is none."""
    try:
        return (data_dir / "cloud.json").read_text()
    except FileNotFoundError:
        return ""


@contextlib.contextmanager
def stub_up(data_dir: Path, *config: Path, **env: str) -> Iterator[subprocess.Popen[str]]:
    """Run `up` with stub services; whatever happens, no process of it outlives the test."""
    up = subprocess.Popen(
        [sys.executable, str(HERE / "up_with_stub.py"), str(data_dir), *map(str, config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
    )
    try:
        yield up
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
        if (data_dir / "logs").exists():
            for pid in all_pids(stub_pids(data_dir)):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def test_sigint_stops_every_child_and_unpublishes_the_cloud(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with stub_up(data) as up:
        wait_until(lambda: (data / "cloud.json").exists())
        cloud = json.loads((data / "cloud.json").read_text())
        assert set(cloud) == {"edges", "ca"}
        assert set(cloud["edges"]) == {"us", "eu", "au"}
        pids = json.loads((data / "run" / "pids.json").read_text())
        assert pids["up"] == up.pid
        assert set(pids["children"]) == PROCESSES
        assert all(alive(pid) for pid in pids["children"].values())

        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)

    assert up.returncode == 0, output
    assert not any(alive(pid) for pid in pids["children"].values())
    assert not (data / "cloud.json").exists()
    assert not (data / "run" / "pids.json").exists()


def test_the_default_layout_runs_a_process_per_region_serving_every_listener(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with stub_up(data, STUB_LAYOUT="regions") as up:
        wait_until(lambda: (data / "cloud.json").exists())
        pids = read_pids(data)
        assert set(pids["children"]) == {"global", "region-us", "region-eu", "region-au"}  # type: ignore[arg-type]
        assert pids["services"] == {
            name: ("global" if "-" not in name else f"region-{name.split('-')[1]}")
            for name in PROCESSES
        }
        directory = json.loads((data / "run" / "directory.json").read_text())
        urls = [url for regions in directory["services"].values() for url in regions.values()]
        assert len(urls) == len(PROCESSES)
        with health.client(Path(directory["ca"])) as client:
            assert all(health.is_healthy(client, url) for url in urls)
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)

    assert up.returncode == 0, output
    assert not any(alive(pid) for pid in all_pids(stub_pids(data)))


ONE_REGION = """
[regions.eu]
zones = ["eu-a"]
shards = [{ name = "eu-9", zone = "eu-a" }]
"""


def test_a_topology_file_shapes_the_cloud_and_reaches_services_and_status(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "one-region.toml"
    config.write_text(ONE_REGION)
    with stub_up(data, config) as up:
        wait_until(lambda: (data / "cloud.json").exists())
        config.write_text("not a topology any more")  # the cloud keeps the copy it started with
        assert set(json.loads((data / "cloud.json").read_text())["edges"]) == {"eu"}
        children = json.loads((data / "run" / "pids.json").read_text())["children"]
        assert set(children) == processes_of(("eu",))
        copy = str(data / "run" / "topology.toml")
        for pid in children.values():
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
            assert argv[argv.index("--config") + 1] == copy

        status = subprocess.run(
            [sys.executable, "-m", "tenantry", "status", "--data-dir", str(data)],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=60,
            check=False,
        )
        up.send_signal(signal.SIGINT)
        up.communicate(timeout=30)

    assert status.returncode == 0, status.stdout + status.stderr
    assert "eu-9" in status.stdout
    assert "us-1" not in status.stdout
    # The stubs have no /stats, which status reports instead of failing.
    assert "Tenants: tcs unavailable" in status.stdout


def test_a_crash_looping_child_stops_the_cloud_with_the_tail_of_its_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with stub_up(data, STUB_EXIT="issues-eu") as up:
        output, _ = up.communicate(timeout=120)
        pids = stub_pids(data)

    assert up.returncode == 1, output
    assert "issues-eu exited with code 3; restarting it in 0.5 s" in output
    assert "issues-eu exited with code 3; restarting it in 1 s" in output
    assert "issues-eu exited 5 times within 60 s, the last with code 3; stopping" in output
    assert "stub issues-eu crashing" in output  # the tail of its log
    assert len(pids["issues-eu"]) == 5  # started once, restarted four times
    assert set(pids) == PROCESSES
    assert not any(alive(pid) for pid in all_pids(pids))
    assert not (data / "cloud.json").exists()


def read_pids(data: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads((data / "run" / "pids.json").read_text())
    return document


def recorded_up(data: Path) -> object:
    """The pid of the `up` that last wrote `run/pids.json`, or None while there is none."""
    try:
        return read_pids(data)["up"]
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def status_of(data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenantry", "status", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
        check=False,
    )


def table_rows(text: str) -> dict[str, list[str]]:
    """The cells of each row of the tables `status` prints, by the row's first cell."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("│ ").split("│")]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_a_killed_child_is_restarted_on_its_socket_while_the_rest_keep_serving(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with stub_up(data) as up:
        wait_until(lambda: (data / "cloud.json").exists())
        cloud = json.loads((data / "cloud.json").read_text())
        before = read_pids(data)["children"]
        assert isinstance(before, dict)
        os.kill(before["edge-eu"], signal.SIGKILL)

        def restarted() -> bool:
            pids = read_pids(data)
            return pids["restarts"] == {**dict.fromkeys(PROCESSES, 0), "edge-eu": 1}

        wait_until(restarted)
        after = read_pids(data)["children"]
        assert isinstance(after, dict)
        assert after["edge-eu"] != before["edge-eu"]
        assert {n: p for n, p in after.items() if n != "edge-eu"} == {
            n: p for n, p in before.items() if n != "edge-eu"
        }
        assert json.loads((data / "cloud.json").read_text()) == cloud
        with health.client(Path(cloud["ca"])) as client:
            wait_until(lambda: health.is_healthy(client, cloud["edges"]["eu"]))
        status = status_of(data)
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)

    assert up.returncode == 0, output
    assert "edge-eu exited with signal SIGKILL; restarting it in 0.5 s" in output
    assert "edge-eu restarted (restart 1)" in output
    assert status.returncode == 0, status.stdout + status.stderr
    rows = table_rows(status.stdout)
    assert rows["edge-eu"][2:] == ["up", "edge-eu", "1"], status.stdout
    assert rows["edge-us"][2:] == ["up", "edge-us", "0"], status.stdout


def edges_of_one_run(data: Path, *config: Path) -> dict[str, str]:
    with stub_up(data, *config) as up:
        wait_until(lambda: (data / "cloud.json").exists())
        edges: dict[str, str] = json.loads((data / "cloud.json").read_text())["edges"]
        up.send_signal(signal.SIGINT)
        output, _ = up.communicate(timeout=30)
    assert up.returncode == 0, output
    return edges


def test_edges_keep_their_ports_from_one_up_to_the_next(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = edges_of_one_run(data)
    second = edges_of_one_run(data)

    assert second == first
    recorded = json.loads((data / "run" / "ports.json").read_text())
    assert {f"https://127.0.0.1:{port}" for port in recorded["edge"].values()} == set(
        first.values()
    )


def test_the_topology_sets_edge_ports_and_a_taken_one_is_a_clear_error(tmp_path: Path) -> None:
    eu_port = unused_port()
    config = tmp_path / "ports.toml"
    config.write_text(ONE_REGION + f"\n[edge]\nports = {{ eu = {eu_port} }}\n")

    assert edges_of_one_run(tmp_path / "data", config) == {"eu": f"https://127.0.0.1:{eu_port}"}

    with socket.create_server(("127.0.0.1", eu_port)), stub_up(tmp_path / "other", config) as up:
        output, _ = up.communicate(timeout=60)
    assert up.returncode == 1
    assert f"cannot listen on 127.0.0.1:{eu_port} for edge-eu ([edge] ports" in output
    assert "Traceback" not in output


def test_a_process_that_never_answers_fails_the_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with stub_up(data, STUB_MUTE="tcs", STUB_HEALTH_DEADLINE="5") as up:
        output, _ = up.communicate(timeout=60)
        pids = stub_pids(data)

    assert up.returncode == 1
    late = re.search(
        r"no answer to GET /_health within 5 s \(of the start, or of the last process that "
        r"answered\) from: (.*); stopping",
        output,
    )
    assert late is not None, output
    assert late[1].split(", ") == ["tcs"]  # every other process answered
    assert "stub tcs pid" in output  # the tail of its log
    # Every process starts at once, and every one is stopped with the start that failed.
    assert {"identity", "tcs"} < set(pids)
    assert not any(alive(pid) for pid in all_pids(pids))
    assert not (data / "cloud.json").exists()


def test_restart_after_a_killed_up_stops_its_leftover_children(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with stub_up(data) as first:
        wait_until(lambda: (data / "cloud.json").exists())
        first_cloud = (data / "cloud.json").read_text()
        orphans = json.loads((data / "run" / "pids.json").read_text())["children"]
        first.kill()
        first.wait()
        assert all(alive(pid) for pid in orphans.values())
        ca_before = (data / "tls" / "ca.pem").read_bytes()

        with stub_up(data) as second:
            # Once the second `up` records its pid, cloud.json is its own (it removes the
            # first's before starting anything); the edges kept their ports.
            wait_until(lambda: recorded_up(data) == second.pid and published(data) != "")
            assert published(data) == first_cloud
            assert not any(alive(pid) for pid in orphans.values())
            assert (data / "tls" / "ca.pem").read_bytes() == ca_before
            second.send_signal(signal.SIGINT)
            output, _ = second.communicate(timeout=30)
        assert second.returncode == 0, output
        assert "Stopped processes an earlier `up` left running" in output


def test_leftover_cleanup_never_signals_unrelated_processes(tmp_path: Path) -> None:
    dirs = DataDir.at(tmp_path / "data")
    dirs.create()
    unrelated = subprocess.Popen(["sleep", "60"])
    other_cloud = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "tenantry", "serve", "/elsewhere"]
    )
    try:
        write_json_atomic(
            dirs.pids_file,
            {"up": 1, "children": {"edge-us": unrelated.pid, "tcs": other_cloud.pid}},
        )
        assert processes.stop_leftovers(dirs, grace=0.5) == []
        assert unrelated.poll() is None
        assert other_cloud.poll() is None
    finally:
        for process in (unrelated, other_cloud):
            process.kill()
            process.wait()


def test_stop_kills_a_child_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dirs = DataDir.at(tmp_path / "data")
    dirs.create()
    monkeypatch.setenv("STUB_IGNORE_TERM", "1")
    monkeypatch.setenv("STUB_MUTE", "edge-us")

    def stub_command(
        spec: ProcessSpec, data_dir: DataDir, _topology: Path | None, fds: Mapping[str, int]
    ) -> list[str]:
        args = ["--process", spec.name, "--region", spec.region, "--data-dir", str(data_dir.root)]
        listen = [f"--listen={service}={fd}" for service, fd in fds.items()]
        return [sys.executable, str(HERE / "stub_service.py"), "tenantry", "serve", *args, *listen]

    monkeypatch.setattr(processes, "serve_command", stub_command)
    place = Place("edge", "us")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        supervisor = processes.Supervisor(dirs, {place: listener})
        child = supervisor.start(ProcessSpec("edge-us", "us", ("edge",)))
    wait_until(lambda: "starting" in child.log_tail())

    started = time.monotonic()
    supervisor.stop_all(grace=0.5)

    assert child.popen.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert not dirs.pids_file.exists()


def test_a_second_up_on_a_locked_directory_is_refused_before_touching_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dirs = DataDir.at(tmp_path / "data")
    dirs.create()
    with exclusive_lock(dirs.lock_file):
        with pytest.raises(AlreadyRunning), exclusive_lock(dirs.lock_file):
            pass
        assert run_up(dirs.root, None) == 1
    assert "already running" in capsys.readouterr().err
    assert not dirs.directory_file.exists()
    assert not (dirs.root / "keys").exists()
    # Once released, the lock can be taken again.
    with exclusive_lock(dirs.lock_file):
        pass


def test_an_unreadable_topology_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_up(tmp_path / "data", tmp_path / "missing.toml") == 2
    assert "cannot read topology" in capsys.readouterr().err


def test_the_data_directory_is_made_private(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir(mode=0o755)
    root.chmod(0o755)
    DataDir.at(root).create()
    for path in (root, root / "run", root / "logs"):
        assert path.stat().st_mode & 0o777 == 0o700


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_health_checks_trust_only_the_cloud_ca(tmp_path: Path) -> None:
    ours = tls.ensure_ca(tmp_path / "ours")
    theirs = tls.ensure_ca(tmp_path / "theirs")
    cert, key = tls.ensure_server_cert(tmp_path / "theirs", "impostor")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    server.socket = tls.server_ssl_context(cert, key).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    try:
        with health.client(ours) as client:
            assert not health.is_healthy(client, url)
        with health.client(theirs) as client:
            assert health.is_healthy(client, url)
    finally:
        server.shutdown()
        server.server_close()
