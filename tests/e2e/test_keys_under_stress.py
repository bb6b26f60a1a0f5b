"""Keys under stress: rotations amid live traffic, and a key service that stops answering.

Both are data promises. Every request made while keys rotate succeeds, and every write reads
back after. A frozen kms costs availability only once the keys services hold run out, and then
as a clear 503, never as a timeout or a wrong answer; when kms answers again, so does the site.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest

from .api import Site, signup
from .cloud import FLEET, Cloud, tenantry

LOAD_SECONDS = 10.0
WRITERS = 4
KEY_MAX_AGE_SECONDS = 6
# Loopback is one client address: lift its limit out of the way of the load (still checked).
OPEN_LIMITS = """
[edge.limits]
per_tenant = "3000/second;100000/minute"
per_client_ip = "3000/second;100000/minute"
"""


@pytest.fixture(scope="module")
def stressed_cloud(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch_module: pytest.MonkeyPatch,
    storage_backend: str,
) -> Iterator[Cloud]:
    """A cloud whose services hold data keys for 6 s, with the client-address limit raised."""
    root = tmp_path_factory.mktemp("stress")
    default = resources.files("tenantry.platform").joinpath("default_topology.toml").read_text()
    config = root / "topology.toml"
    config.write_text(default.split("[edge.limits]")[0] + OPEN_LIMITS)
    monkeypatch_module.setenv("TENANTRY_DATA_KEY_MAX_AGE", str(KEY_MAX_AGE_SECONDS))
    # The fleet layout: its kms processes can be frozen alone.
    cloud = Cloud.start(root / "data", config=config, layout=FLEET)
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _write_and_read(
    site: Site, number: int, stop: threading.Event, made: dict[str, str], failures: list[str]
) -> None:
    """Create issues and read each back (and list), until told to stop; record every failure."""
    count = 0
    while not stop.is_set():
        summary = f"writer {number} issue {count}"
        count += 1
        try:
            created = site.request(
                "POST",
                "/rest/issues/issues",
                json={"project": "LOAD", "summary": summary, "description": ""},
            )
            if created.status_code != 201:
                failures.append(f"create: {created.status_code} {created.text}")
                continue
            key = created.json()["key"]
            made[key] = summary
            read = site.request("GET", f"/rest/issues/issues/{key}")
            if read.status_code != 200 or read.json()["summary"] != summary:
                failures.append(f"read {key}: {read.status_code} {read.text}")
            listed = site.request("GET", "/rest/issues/issues", params={"project": "LOAD"})
            if listed.status_code != 200:
                failures.append(f"list: {listed.status_code} {listed.text}")
        except httpx.HTTPError as exc:
            failures.append(f"transport: {exc!r}")


def test_rotating_keys_under_load_fails_no_request_and_loses_nothing(
    stressed_cloud: Cloud,
) -> None:
    cloud = stressed_cloud
    site = signup(cloud, region="us", prefix="load")
    site.create_project("LOAD", "Load")
    before = site.create_issue("written before the rotations", "old key", project="LOAD")
    data_dir = ("--data-dir", str(cloud.data_dir))

    stop = threading.Event()
    made: dict[str, str] = {before["key"]: before["summary"]}
    failures: list[str] = []
    writers = [
        threading.Thread(
            target=_write_and_read,
            args=(site.via(cloud.http("us")), n, stop, made, failures),
        )
        for n in range(WRITERS)
    ]
    started = time.monotonic()
    for writer in writers:
        writer.start()
    try:
        time.sleep(2.0)
        root = tenantry("keys", "rotate", "--region", "us", *data_dir)
        assert root.returncode == 0, root.stdout + root.stderr
        data_key = tenantry("keys", "rotate-data-key", site.name, *data_dir)
        assert data_key.returncode == 0, data_key.stdout + data_key.stderr
        again = tenantry("keys", "rotate", "--region", "us", *data_dir)
        assert again.returncode == 0, again.stdout + again.stderr
        time.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - started)))
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)

    assert failures == []
    assert len(made) > 20, "the writers ran all along"
    listed = tenantry("keys", "list", *data_dir)
    assert listed.returncode == 0, listed.stderr
    for key, summary in made.items():
        read = site.request("GET", f"/rest/issues/issues/{key}")
        assert read.status_code == 200, read.text
        assert read.json()["summary"] == summary


def _status_and_error(site: Site) -> tuple[int, str | None]:
    response = site.request("GET", "/rest/issues/issues/OPS-1")
    error = response.json().get("error") if response.status_code != 200 else None
    return response.status_code, error


def test_a_frozen_kms_serves_held_keys_until_they_expire_then_answers_a_clear_503(
    stressed_cloud: Cloud,
) -> None:
    cloud = stressed_cloud
    site = signup(cloud, region="eu", prefix="kmsdown")
    other = signup(cloud, region="au", prefix="kmsup")
    for each in (site, other):
        each.create_project()
        each.create_issue("kept under a held key")
    assert _status_and_error(site) == (200, None)  # the eu issues process now holds the key

    kms = cloud.pids()["kms-eu"]
    os.kill(kms, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        assert _status_and_error(site) == (200, None), "a held key serves while kms is frozen"
        seen: list[tuple[int, str | None]] = []
        while time.monotonic() - frozen < KEY_MAX_AGE_SECONDS + 30:
            seen.append(_status_and_error(site))
            if seen[-1][0] != 200:
                break
            time.sleep(0.5)
        assert seen[-1] == (503, "kms_unavailable"), seen[-3:]
        assert set(seen[:-1]) <= {(200, None)}, "only held keys answered before the 503"
        assert _status_and_error(other) == (200, None), "another region's kms is unaffected"
    finally:
        os.kill(kms, signal.SIGCONT)

    deadline = time.monotonic() + 30
    while _status_and_error(site) != (200, None):
        assert time.monotonic() < deadline, "the site is served again once kms answers"
        time.sleep(0.5)
