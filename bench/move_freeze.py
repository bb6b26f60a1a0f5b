"""The write freeze of `tenantry tenant move` as a client sees it: the longest gap between two
answered writes of the moving site, against the longest gap of the same writer before the move.

A cloud is started (SQLite, in a temporary directory); one site of `eu` is filled with
`--issues` issues, then a writer creates issues as fast as they are answered while the site is
moved to the other shard of `eu`, back and forth, `--rounds` times, and a neighbour on the same
shard writes too. Reported per round: the longest gap between answered writes of the moving
site during the move, the longest gap before any move (the writer alone), the freeze the move
itself measured (from freezing the writes to the switch in tcs), and the neighbour's longest gap.

Run: `.venv/bin/python bench/move_freeze.py [--issues N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from rpo import PASSWORD, start  # the same cloud as the RPO bench starts

TENANTRY = (sys.executable, "-m", "tenantry")


def site_headers(http: httpx.Client, site: str) -> dict[str, str]:
    body = {"site": site, "email": f"admin@{site}.test", "password": PASSWORD, "region": "eu"}
    assert http.post("/signup", json=body).status_code == 201
    login = {"site": site, "email": f"admin@{site}.test", "password": PASSWORD}
    token = http.post("/login", json=login).json()["token"]
    headers = {"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"}
    made = http.post("/rest/issues/projects", json={"key": "OPS", "name": "Ops"}, headers=headers)
    assert made.status_code == 201, made.text
    return headers


def write(
    http: httpx.Client, headers: dict[str, str], answered: list[float], stop: threading.Event
) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        body = {"project": "OPS", "summary": f"w{number}", "description": "x" * 200}
        made = http.post("/rest/issues/issues", json=body, headers=headers)
        if made.status_code == 201:
            answered.append(time.monotonic())


def longest_gap(times: list[float], start: float, end: float) -> float:
    inside = [t for t in times if start <= t <= end]
    return max((b - a for a, b in itertools.pairwise(inside)), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issues", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenantry-move-") as tmp:
        data = Path(tmp) / "data"
        up, edges, tls = start(data)
        try:
            http = httpx.Client(base_url=edges["eu"], verify=tls, timeout=30.0, trust_env=False)
            site = f"mover-{os.getpid()}"
            headers = site_headers(http, site)
            neighbour = site_headers(http, f"neighbour-{os.getpid()}")
            for number in range(args.issues):
                body = {"project": "OPS", "summary": f"fill {number}", "description": "y" * 500}
                http.post("/rest/issues/issues", json=body, headers=headers)
            answered: list[float] = []
            theirs: list[float] = []
            stop = threading.Event()
            clients = [
                httpx.Client(base_url=edges["eu"], verify=tls, timeout=30.0, trust_env=False)
                for _ in range(2)
            ]
            writers = [
                threading.Thread(target=write, args=(clients[0], headers, answered, stop)),
                threading.Thread(target=write, args=(clients[1], neighbour, theirs, stop)),
            ]
            for writer in writers:
                writer.start()
            time.sleep(3.0)
            baseline = longest_gap(answered, 0.0, time.monotonic())
            print(f"issues={args.issues} writer alone, longest gap {baseline:.3f} s")
            info = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tenantry",
                    "tenant",
                    "info",
                    site,
                    "--json",
                    "--data-dir",
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            shard = json.loads(info.stdout)["shard"]
            for round_number in range(1, args.rounds + 1):
                shard = {"eu-1": "eu-2", "eu-2": "eu-1"}[shard]
                began = time.monotonic()
                moved = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "tenantry",
                        "tenant",
                        "move",
                        site,
                        "--shard",
                        shard,
                        "--data-dir",
                        str(data),
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                time.sleep(1.5)  # the edges follow the switch within a second
                ended = time.monotonic()
                assert moved.returncode == 0, moved.stderr
                said = moved.stdout.split("writes paused ")[1].split(" s")[0]
                print(
                    f"round {round_number}: to {shard} in {ended - began - 1.5:.2f} s;"
                    f" longest gap {longest_gap(answered, began, ended):.3f} s;"
                    f" move's own freeze {said} s;"
                    f" neighbour's longest gap {longest_gap(theirs, began, ended):.3f} s"
                )
            stop.set()
            for writer in writers:
                writer.join()
        finally:
            up.terminate()
            up.wait(timeout=60)


if __name__ == "__main__":
    main()
