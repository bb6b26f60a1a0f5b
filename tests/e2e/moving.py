"""What the move tests share: a writer that keeps writing to a moving site, what it wrote,
and killing a move at a phase of its journal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from tenantry.cli.backup import recorded_topology
from tenantry.cli.move_databases import open_database, opened
from tenantry.cli.tenant_rows import bookkeeping_tables, owner_column, tenant_tables
from tenantry.services.registry import SPECS

from .api import Site
from .cloud import Cloud

TENANTRY = [sys.executable, "-m", "tenantry"]
NOTES = b"notes of the incident, no preview is made for text\n" * 20


@dataclass
class Written:
    """What a writer had answered, so the data can be checked against it afterwards."""

    summaries: dict[str, str] = field(default_factory=dict)
    comments: dict[str, list[str]] = field(default_factory=dict)
    refused: int = 0
    failures: list[str] = field(default_factory=list)


def write_until_answered(
    site: Site, method: str, path: str, body: dict[str, Any], written: Written
) -> Any:
    """Send one write until it is answered; a 503 `tenant_moving` changed nothing, so it is
    sent again."""
    while True:
        answer = site.request(method, path, json=body)
        if answer.status_code == 503 and answer.json()["error"] == "tenant_moving":
            written.refused += 1
            continue
        if answer.status_code >= 300:
            written.failures.append(f"{method} {path}: {answer.status_code} {answer.text}")
            return None
        return answer.json()


def keep_writing(site: Site, stop: threading.Event, written: Written) -> None:
    """Create, edit and comment on issues until `stop`, recording what was answered."""
    step = 0
    while not stop.is_set() or step < 6:
        step += 1
        made = write_until_answered(
            site,
            "POST",
            "/rest/issues/issues",
            {"project": "OPS", "summary": f"w{step}", "description": "d"},
            written,
        )
        if made is None:
            return
        written.summaries[made["key"]] = f"w{step}"
        written.comments.setdefault(made["key"], [])
        keys = sorted(written.summaries)
        if step % 2 == 0:
            edited = keys[step % len(keys)]
            summary = f"edited at step {step}"
            if write_until_answered(
                site, "PATCH", f"/rest/issues/issues/{edited}", {"summary": summary}, written
            ):
                written.summaries[edited] = summary
        commented = keys[(step * 7) % len(keys)]
        if write_until_answered(
            site, "POST", f"/rest/issues/issues/{commented}/comments", {"body": f"c{step}"}, written
        ):
            written.comments[commented].append(f"c{step}")


def stored(site: Site) -> Written:
    """The site's issues and comments as its API reads them now."""
    found = Written()
    for issue in all_pages(site, "/rest/issues/issues", "issues"):
        found.summaries[issue["key"]] = issue["summary"]
        comments = all_pages(site, f"/rest/issues/issues/{issue['key']}/comments", "comments")
        found.comments[issue["key"]] = [c["body"] for c in comments]
    return found


def all_pages(site: Site, path: str, items: str) -> list[Any]:
    found: list[Any] = []
    params = {"limit": "100"}
    while True:
        page = site.request("GET", path, params=params)
        assert page.status_code == 200, page.text
        found += page.json()[items]
        if page.json()["next_cursor"] is None:
            return found
        params["cursor"] = page.json()["next_cursor"]


def same(found: Written, written: Written) -> None:
    """The site holds exactly what was written: no write lost or doubled."""
    assert found.summaries == written.summaries
    assert {k: Counter(v) for k, v in found.comments.items()} == {
        k: Counter(v) for k, v in written.comments.items()
    }


def kill_when(cloud: Cloud, site: Site, process: subprocess.Popen[str], phase: str) -> bool:
    """Kill the move once its journal says `phase` (True), or let it end first (False)."""
    journal = cloud.data_dir / "moves" / "active" / f"{site.cloud_id}.json"
    while process.poll() is None:
        try:
            if json.loads(journal.read_text())["phase"] == phase:
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.005)
    return False


def rows_on(cloud: Cloud, shard: str, cloud_id: str) -> dict[str, int]:
    """How many rows the tenant has in each service database of `shard`, read directly."""
    topology = recorded_topology(cloud.data_dir)
    counts: dict[str, int] = {}
    for spec in SPECS:
        if spec.schema is None or not spec.shard_databases:
            continue
        tables = [*tenant_tables(spec.schema), *bookkeeping_tables(spec.schema)]
        if not tables:
            continue
        database = open_database(cloud.data_dir, topology, spec.name, shard, tables, [])
        with opened([database]), database.snapshot.begin() as connection:
            counts[spec.name] = sum(
                int(
                    connection.execute(
                        select(func.count()).where(owner_column(table) == cloud_id)
                    ).scalar_one()
                )
                for table in tables
            )
    return counts
