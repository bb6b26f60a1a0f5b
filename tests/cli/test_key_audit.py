"""`tenantry keys audit` reads every region's kms log and shows the key events oldest first,
merged across regions by the instant they happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

EVENTS = {
    "eu": [
        ("2026-03-01T10:00:00.500000Z", "root_key_created"),
        ("2026-03-01T10:00:02Z", "data_key_created"),
        ("2026-03-01T10:00:04.250000Z", "root_key_rotated"),
    ],
    "us": [
        ("2026-03-01T10:00:01.000001Z", "root_key_created"),
        ("2026-03-01T10:00:02.000001Z", "owner_set"),
        ("2026-03-01T10:00:03Z", "data_key_rotated"),
    ],
}
ORDER = [
    ("eu", "root_key_created"),
    ("us", "root_key_created"),
    ("eu", "data_key_created"),
    ("us", "owner_set"),
    ("us", "data_key_rotated"),
    ("eu", "root_key_rotated"),
]


def data_dir_with_logs(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    (root / "run").mkdir(parents=True)
    (root / "logs").mkdir()
    for region, events in EVENTS.items():
        lines = [json.dumps({"event": "request", "timestamp": events[0][0]})]
        for stamp, action in events:
            entry = {"event": "audit", "action": action, "timestamp": stamp, "region": region}
            lines.append(json.dumps(entry))
        (root / "logs" / f"kms-{region}.log").write_text("\n".join(lines) + "\n")
    return root


def audit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tenantry", "keys", "audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_events_of_every_region_come_oldest_first(tmp_path: Path) -> None:
    root = data_dir_with_logs(tmp_path)
    done = audit("--json", "--data-dir", str(root))
    assert done.returncode == 0, done.stderr
    shown = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["region"], e["action"]) for e in shown] == ORDER

    table = audit("--data-dir", str(root))
    assert table.returncode == 0, table.stderr
    rows = [line for line in table.stdout.splitlines() if "_key_" in line or "owner_set" in line]
    assert [(row.split()[3], row.split()[5]) for row in rows] == ORDER


def test_one_region_shows_its_own_events(tmp_path: Path) -> None:
    root = data_dir_with_logs(tmp_path)
    done = audit("--json", "--region", "us", "--data-dir", str(root))
    assert [json.loads(line)["action"] for line in done.stdout.splitlines()] == [
        action for _, action in EVENTS["us"]
    ]
