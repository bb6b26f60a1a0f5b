"""Replay caches: a token id is accepted once, across every process of a service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tenantry.platform import replay_sqlite
from tenantry.platform.replay import ReplayCache, ReplayStoreUnavailable
from tenantry.platform.replay_redis import RedisReplayCache
from tenantry.platform.replay_sqlite import SqliteReplayCache

REDIS_URL = "redis://127.0.0.1:6379/0"

# Runs in a separate interpreter: claims each key once and prints which claims succeeded.
_CLAIMER = """
import asyncio, json, sys, time
from pathlib import Path
kind, target, prefix, start_at, *keys = sys.argv[1:]
if kind == "sqlite":
    from tenantry.platform.replay_sqlite import SqliteReplayCache
    cache = SqliteReplayCache(Path(target))
else:
    from tenantry.platform.replay_redis import RedisReplayCache
    cache = RedisReplayCache(target, prefix=prefix)
while time.time() < float(start_at):
    time.sleep(0.001)
expires = time.time() + 120


async def claim():
    return [key for key in keys if await cache.first_use(key, expires)]


print(json.dumps(asyncio.run(claim())))
"""


def _claim_in_processes(
    kind: str, target: str, prefix: str, keys: list[str], processes: int
) -> list[list[str]]:
    start_at = time.time() + 1.5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, kind, target, prefix, str(start_at), *keys],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        results.append(json.loads(out))
    return results


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"test:replay:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(kind, target, prefix) describing one shared cache, for this process and children."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "replay.db"), ""
    else:
        prefix = request.getfixturevalue("redis_prefix")
        yield "redis", REDIS_URL, prefix


def _open(kind: str, target: str, prefix: str) -> ReplayCache:
    if kind == "sqlite":
        return SqliteReplayCache(Path(target))
    return RedisReplayCache(target, prefix=prefix)


async def test_first_use_then_refused(backend: tuple[str, str, str]) -> None:
    cache = _open(*backend)
    expires = time.time() + 60
    assert await cache.first_use("edge/abc", expires)
    assert not await cache.first_use("edge/abc", expires)
    assert not await cache.first_use("edge/abc", expires + 60)
    assert await cache.first_use("edge/abd", expires)
    assert await cache.first_use("tcs/abc", expires)


async def test_a_second_process_cannot_reuse_a_key(backend: tuple[str, str, str]) -> None:
    cache = _open(*backend)
    assert await cache.first_use("edge/used-here", time.time() + 60)
    kind, target, prefix = backend
    [claimed] = _claim_in_processes(
        kind, target, prefix, ["edge/used-here", "edge/fresh"], processes=1
    )
    assert claimed == ["edge/fresh"]
    # And what the child claimed is refused here.
    assert not await cache.first_use("edge/fresh", time.time() + 60)


def test_racing_processes_claim_each_key_exactly_once(backend: tuple[str, str, str]) -> None:
    keys = [f"edge/race-{i}" for i in range(150)]
    results = _claim_in_processes(*backend, keys, processes=4)
    winners = [key for claimed in results for key in claimed]
    assert sorted(winners) == sorted(keys)


async def test_an_expired_key_can_be_used_again(backend: tuple[str, str, str]) -> None:
    cache = _open(*backend)
    assert await cache.first_use("edge/short", time.time() + 1)
    assert not await cache.first_use("edge/short", time.time() + 60)
    await asyncio.sleep(2.1)
    assert await cache.first_use("edge/short", time.time() + 60)
    assert not await cache.first_use("edge/short", time.time() + 60)


async def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "replay" / "replay.db"
    await SqliteReplayCache(path).first_use("edge/x", time.time() + 60)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_purges_expired_rows_now_and_then_not_every_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay_sqlite, "PURGE_EVERY_CALLS", 3)
    cache = SqliteReplayCache(tmp_path / "replay.db")
    past, future = time.time() - 1, time.time() + 60
    assert await cache.first_use("edge/live", future)  # the first call also purges
    await cache.first_use("edge/old-1", past)
    await cache.first_use("edge/old-2", past)
    assert cache.purge() == 2  # nothing was purged on those two calls
    for i in range(3):
        await cache.first_use(f"edge/old-x{i}", past)
    assert cache.purge() == 0  # the third call reached the threshold and purged
    assert not await cache.first_use("edge/live", future)


async def test_redis_keys_expire_with_the_token(redis_prefix: str) -> None:
    cache = RedisReplayCache(REDIS_URL, prefix=redis_prefix)
    expires = time.time() + 30
    assert await cache.first_use("edge/ttl", expires)
    client = redis.Redis.from_url(REDIS_URL)
    ttl = client.ttl(redis_prefix + "edge/ttl")
    client.close()
    assert 25 <= ttl <= 31


async def test_an_unreachable_redis_is_reported_not_raised_raw() -> None:
    closed_port = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    cache = RedisReplayCache(closed_port, socket_timeout=0.5)
    with pytest.raises(ReplayStoreUnavailable):
        await cache.first_use("edge/any", time.time() + 60)


async def test_a_locked_sqlite_file_is_reported_not_raised_raw(tmp_path: Path) -> None:
    path = tmp_path / "replay.db"
    cache = SqliteReplayCache(path, busy_timeout_ms=50)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the file
    try:
        with pytest.raises(ReplayStoreUnavailable):
            await cache.first_use("edge/any", time.time() + 60)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert await cache.first_use("edge/any", time.time() + 60)


class HoldingProxy:
    """A loopback TCP proxy to the real Redis that holds Redis's replies until released."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.release = threading.Event()
        self._sockets: list[socket.socket] = [self._server]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._server.accept()
                upstream = socket.create_connection(("127.0.0.1", 6379))
                self._sockets += [client, upstream]
                threading.Thread(target=self._pump, args=(client, upstream, False)).start()
                threading.Thread(target=self._pump, args=(upstream, client, True)).start()

    def _pump(self, source: socket.socket, target: socket.socket, held: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if held:
                    self.release.wait()
                target.sendall(data)

    def close(self) -> None:
        self.release.set()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


async def test_waiting_on_redis_leaves_the_event_loop_free(redis_prefix: str) -> None:
    """A fleet's Redis may be a network away: while one request waits on it, others run."""
    proxy = HoldingProxy()
    try:
        cache = RedisReplayCache(
            f"redis://127.0.0.1:{proxy.port}/0", prefix=redis_prefix, socket_timeout=5.0
        )
        pending = asyncio.create_task(cache.first_use("edge/held", time.time() + 60))
        served = 0
        for _ in range(20):  # the loop keeps turning while the reply is held
            await asyncio.sleep(0.01)
            served += 1
        assert served == 20 and not pending.done()
        proxy.release.set()
        assert await asyncio.wait_for(pending, timeout=5)
        assert not await cache.first_use("edge/held", time.time() + 60)
        await cache.close()
    finally:
        proxy.close()
