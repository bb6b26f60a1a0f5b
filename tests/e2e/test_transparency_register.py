"""The transparency register on a running cloud, through `tenantry legal`: made-up requests of
one year give the expected report (JSON and Markdown); invalid changes are refused with a
message, never a traceback; every change is an event of the operator log, which verifies, and
none is in a tenant's own log; no tenant reaches the register or the operator log by the edge."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from backends import BACKEND
from tenantry.cli.audit_verify import OperatorLog
from tenantry.cli.backup import recorded_topology
from tenantry.cli.main import app
from tenantry.platform.audit.operator_log import OPERATOR_LOG_ID, operator_log_region
from tenantry.services.registry import public_routes

from .api import eventually, signup
from .cloud import Cloud

YEAR = 2021
EXPECTED = {
    "year": YEAR,
    "requests": {
        "rows": [
            {"jurisdiction": "AU", "requests": 1, "accounts": 1, "content": 0,
             "non_content": 0, "no_data": 0, "objected": 0, "pending": 1},
            {"jurisdiction": "EU", "requests": 2, "accounts": 2, "content": 1,
             "non_content": 0, "no_data": 0, "objected": 1, "pending": 0},
            {"jurisdiction": "US", "requests": 2, "accounts": 2, "content": 0,
             "non_content": 1, "no_data": 1, "objected": 0, "pending": 0},
        ],
        "total": {"jurisdiction": "Total", "requests": 5, "accounts": 5, "content": 1,
                  "non_content": 1, "no_data": 1, "objected": 1, "pending": 1},
    },
    "national_security": {
        "band": 250,
        "rows": [
            {"jurisdiction": "AU", "requests": "0-249", "accounts": "0-249"},
            {"jurisdiction": "EU", "requests": "0-249", "accounts": "0-249"},
            {"jurisdiction": "US", "requests": "0-249", "accounts": "0-249"},
        ],
        "total": {"jurisdiction": "Total", "requests": "0-249", "accounts": "0-249"},
    },
}  # fmt: skip
EXPECTED_MARKDOWN = f"""# Transparency report {YEAR}

Government and legal requests for customer data received in {YEAR}, by jurisdiction.

| Jurisdiction | Requests | Accounts named | Content disclosed | Non-content only | No data disclosed | Objected to | Pending |
|:---|---:|---:|---:|---:|---:|---:|---:|
| AU | 1 | 1 | 0 | 0 | 0 | 0 | 1 |
| EU | 2 | 2 | 1 | 0 | 0 | 1 | 0 |
| US | 2 | 2 | 0 | 1 | 1 | 0 | 0 |
| **Total** | **5** | **5** | **1** | **1** | **1** | **1** | **1** |

## National security requests

Reported in bands of 250.

| Jurisdiction | Requests | Accounts named |
|:---|---:|---:|
| AU | 0-249 | 0-249 |
| EU | 0-249 | 0-249 |
| US | 0-249 | 0-249 |
| **Total** | **0-249** | **0-249** |
"""  # noqa: E501


def _operator_sql(cloud: Cloud, shard: str, sql: str, mark: str, index: int) -> None:
    """Edit the operator log's entry `index` on disk, as someone with the disk would: mark its
    target with `mark` (or, with "", take the mark off again)."""
    if BACKEND == "sqlite":
        url = f"sqlite:///{cloud.data_dir / 'shards' / shard / 'audit.sqlite'}"
        table = "audit_events"
    else:
        dsn = recorded_topology(cloud.data_dir).shards[shard].dsn
        assert dsn is not None
        url, table = dsn.replace("postgresql://", "postgresql+psycopg://"), "audit.audit_events"
    was, now = ('"target":"', f'"target":"{mark}') if mark else ('"target":"Z', '"target":"')
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            done = connection.execute(
                text(sql.format(table=table)),
                {"was": was, "now": now, "log": OPERATOR_LOG_ID, "index": index},
            )
            assert done.rowcount == 1
    finally:
        engine.dispose()


class Legal:
    """`tenantry legal ...` against one cloud, in this process."""

    def __init__(self, cloud: Cloud) -> None:
        self.data_dir = str(cloud.data_dir)
        self.runner = CliRunner()

    def run(self, *args: str, code: int = 0) -> str:
        """Run a command; assert its exit code and that it printed no traceback."""
        result = self.runner.invoke(app, [*args, "--data-dir", self.data_dir])
        output = result.output
        assert result.exit_code == code, (args, result.exit_code, output, result.exception)
        assert "Traceback" not in output
        if code == 0:
            assert result.exception is None
        else:
            assert isinstance(result.exception, SystemExit), result.exception
        return output

    def add(self, *args: str) -> dict[str, Any]:
        """Record a request; its JSON."""
        made: dict[str, Any] = json.loads(self.run("legal", "request", "add", *args, "--json"))
        return made

    def update(self, request_id: int, *args: str, code: int = 0) -> str:
        """Change a request."""
        return self.run("legal", "request", "update", str(request_id), *args, "--json", code=code)


def test_register_report_refusals_and_operator_log(cloud: Cloud) -> None:
    legal = Legal(cloud)
    # One site, named by every request; the accounts are made up (the register checks an
    # account id's form, not that it exists: a request may name an account already gone).
    site = signup(cloud, prefix="legal")
    us = eu = site.name
    us_accounts = [uuid.uuid4().hex for _ in range(3)]
    eu_account = uuid.uuid4().hex
    changes: dict[int, list[str]] = {}

    def add(jurisdiction: str, kind: str, site: str, received: str, *accounts: str) -> int:
        named = [arg for account in accounts for arg in ("--account", account)]
        made = legal.add("--jurisdiction", jurisdiction, "--type", kind, "--site", site,
                         "--received", received, *named)  # fmt: skip
        assert made["state"] == "received" and made["sites"] == [site]
        changes[made["id"]] = ["legal_request_recorded"]
        return int(made["id"])

    def update(request_id: int, *args: str) -> dict[str, Any]:
        done: dict[str, Any] = json.loads(legal.update(request_id, *args))
        changes[request_id].append("legal_request_updated")
        return done

    subpoena = add("us", "subpoena", us, f"{YEAR}-02-01", *us_accounts[:2])
    update(subpoena, "--state", "under-legal-review")
    update(subpoena, "--notice-sent", f"{YEAR}-02-10")
    done = update(subpoena, "--state", "disclosed", "--disclosure", "non-content")
    assert (done["disclosure"], done["notice_sent"]) == ("non-content", f"{YEAR}-02-10")
    order = add("DE", "court-order", eu, f"{YEAR}-03-01", eu_account)
    update(order, "--state", "under-legal-review")
    # A disclosure before any notice, or without saying what it gave, is refused.
    refused = legal.update(order, "--state", "disclosed", "--disclosure", "content", code=1)
    assert "customer_notice_required" in refused
    assert "disclosure_required" in legal.update(order, "--state", "disclosed", code=1)
    update(order, "--state", "objected")
    warrant = add("FR", "warrant", eu, f"{YEAR}-04-01", eu_account)
    update(warrant, "--state", "under-legal-review")
    update(warrant, "--notice-withheld", "the warrant orders secrecy for 90 days")
    update(warrant, "--state", "disclosed", "--disclosure", "content")
    emergency = add("US", "emergency", us, f"{YEAR}-05-01")
    update(emergency, "--state", "no-data")
    secret = add("US", "national-security", us, f"{YEAR}-06-01", *us_accounts)
    pending = add("AU", "subpoena", us, f"{YEAR}-12-31", us_accounts[2])
    add("US", "subpoena", us, f"{YEAR + 1}-01-01", us_accounts[0])

    # Impossible moves: skipping review, leaving a final state, into an unknown state.
    assert "invalid_transition" in legal.update(pending, "--state", "disclosed",
                                                "--disclosure", "content", code=1)  # fmt: skip
    assert "invalid_transition" in legal.update(emergency, "--state", "objected", code=1)
    assert "invalid_transition" in legal.update(secret, "--state", "received", code=1)
    legal.update(secret, "--state", "closed", code=2)
    legal.update(secret, code=2)
    assert "legal_request_not_found" in legal.update(999_999, "--state", "no-data", code=1)
    adding = ("legal", "request", "add", "--jurisdiction", "US", "--site", us)
    legal.run(*adding, "--type", "letter", "--received", f"{YEAR}-01-01", code=2)
    legal.run(*adding, "--type", "warrant", "--received", f"{YEAR}-02-30", code=2)
    legal.run(*adding, "--type", "warrant", "--received", "2999-01-01", code=2)
    assert "unknown_site" in legal.run(
        "legal", "request", "add", "--jurisdiction", "US", "--type", "warrant",
        "--site", "no-such-site-anywhere", "--received", f"{YEAR}-01-01", code=1,
    )  # fmt: skip
    assert "invalid_accounts" in legal.run(
        *adding, "--type", "warrant", "--received", f"{YEAR}-01-01", "--account", "x", code=1
    )
    assert "invalid_jurisdiction" in legal.run(
        "legal", "request", "add", "--jurisdiction", "USA", "--type", "warrant",
        "--site", us, "--received", f"{YEAR}-01-01", code=1,
    )  # fmt: skip

    assert json.loads(legal.run("legal", "report", "--year", str(YEAR), "--format", "json")) == (
        EXPECTED
    )
    assert legal.run("legal", "report", "--year", str(YEAR)) == EXPECTED_MARKDOWN
    page = legal.run("legal", "report", "--year", str(YEAR), "--format", "html")
    assert page.startswith("<!DOCTYPE html>") and "<td>0-249</td>" in page
    legal.run("legal", "report", "--year", "1999", code=2)
    legal.run("legal", "report", "--year", str(YEAR), "--format", "pdf", code=2)

    # Every change is in the operator log, in order, and the log verifies as a tenant's does.
    region = operator_log_region(recorded_topology(cloud.data_dir))
    log = OperatorLog(cloud.data_dir, region)

    def logged() -> dict[int, list[str]]:
        events = log.get("/rest/audit/events", after=-1, limit=1000)["events"]
        found: dict[int, list[str]] = {}
        for event in events:
            assert event["tenant"] == OPERATOR_LOG_ID
            if event["action"].startswith("legal_request_"):
                found.setdefault(int(event["detail"]["request"]), []).append(event["action"])
        return {key: value for key, value in found.items() if key in changes}

    eventually("the register's events in the operator log", lambda: logged() == changes)
    verified = legal.run("audit", "verify", "--operator")
    assert "verified" in verified
    assert "name a site" in legal.run("audit", "verify", code=2)
    assert "no region" in legal.run("audit", "verify", "--operator", "--region", "mars", code=2)
    # An entry edited on disk is caught and named (then put back: the cloud is shared).
    topology = recorded_topology(cloud.data_dir)
    first = min(
        int(event["index"])
        for event in log.get("/rest/audit/events", after=-1, limit=1000)["events"]
        if event["action"].startswith("legal_request_")
        and int(event["detail"]["request"]) == subpoena
    )
    edit = (
        "UPDATE {table} SET entry = replace(entry, :was, :now) "
        "WHERE tenant_id = :log AND leaf_index = :index"
    )
    _operator_sql(cloud, topology.regions[region].shards[0].name, edit, "Z", first)
    try:
        assert f"bad index {first}" in legal.run("audit", "verify", "--operator", code=1)
    finally:
        _operator_sql(cloud, topology.regions[region].shards[0].name, edit, "", first)
    legal.run("audit", "verify", "--operator")

    # No tenant sees any of it: not in its own log, not through any edge route.
    own = site.request("GET", "/rest/audit/events", params={"limit": 1000}).json()["events"]
    assert not [event for event in own if event["action"].startswith("legal_")]
    for path in (
        "/internal/tcs/legal/requests",
        f"/internal/tcs/legal/requests/{subpoena}",
        "/internal/audit/operator/events",
        "/internal/audit/operator/checkpoint",
        "/rest/legal/requests",
        "/rest/audit/operator/events",
    ):
        answer = site.request("GET", path)
        assert answer.status_code == 404, (path, answer.status_code, answer.text)
    patched = site.request(
        "PATCH", f"/internal/tcs/legal/requests/{subpoena}", json={"state": "no-data"}
    )
    assert patched.status_code in (404, 405), patched.text
    shown = json.loads(legal.run("legal", "request", "show", str(subpoena), "--json"))
    assert (shown["state"], shown["disclosure"]) == ("disclosed", "non-content")
    assert not [
        route
        for route in public_routes()
        if "legal" in route.pattern or "operator" in route.pattern or route.service == "tcs"
    ]
    # A site named after the operator log's id does not lead to it either.
    stranger = site.http.get(
        "/rest/audit/events",
        headers={"X-Tenantry-Site": OPERATOR_LOG_ID, "Authorization": f"Bearer {site.token}"},
    )
    assert stranger.status_code in (401, 403, 404), stranger.text
