"""What starting the command line costs: CPU and peak memory of whole `tenantry` processes.

Each command runs `--runs` times after a warm-up, alternating with the floor (`python -c
"import typer, rich.console"`: the libraries every command needs), and the script prints each
one's median CPU (user + sys, from the kernel's accounting of the finished child) and peak
resident memory, and the ratio to the floor measured in the same run.
Run: `.venv/bin/python bench/cli_start.py [--runs 9]`. It starts no cloud: the commands are
ones that answer without one (`--help`, and `tenant suspend` outside any data directory).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile

FLOOR = [sys.executable, "-c", "import typer, rich.console"]
COMMANDS = {
    "tenantry --help": [sys.executable, "-m", "tenantry", "--help"],
    "tenantry tenant suspend (no cloud)": [
        sys.executable,
        "-m",
        "tenantry",
        "tenant",
        "suspend",
        "x",
    ],
}


def run_once(command: list[str], cwd: str) -> tuple[float, float]:
    """CPU seconds and peak MiB of one run of `command`, from the kernel's accounting of
    finished children (the peak is the largest child so far, so the floor runs second)."""
    env = {k: v for k, v in os.environ.items() if k != "TENANTRY_DATA_DIR"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, env=env, capture_output=True, check=False, timeout=120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, after.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as cwd:
        for name, command in COMMANDS.items():
            run_once(command, cwd)
            run_once(FLOOR, cwd)
            pairs = [(run_once(command, cwd), run_once(FLOOR, cwd)) for _ in range(runs)]
            cpu = statistics.median(a[0] for a, _ in pairs)
            floor = statistics.median(b[0] for _, b in pairs)
            ratio = statistics.median(a[0] / b[0] for a, b in pairs)
            peak = statistics.median(a[1] for a, _ in pairs)
            print(
                f"{name}: {cpu * 1000:.0f} ms CPU, {peak:.0f} MiB peak; "
                f"floor {floor * 1000:.0f} ms; ratio {ratio:.2f}x"
            )


if __name__ == "__main__":
    main()
