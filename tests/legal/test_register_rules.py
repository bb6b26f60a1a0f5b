"""The transparency register without a cloud: which state changes are allowed, the
customer-notice rule before a disclosure, how the report groups and bands its counts, and that
each change and its operator-log event commit together or not at all."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from tenantry.cli.legal_report import as_html, band, build_report, jurisdiction_group
from tenantry.platform.audit.operator_log import OPERATOR_LOG_ID
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import load_topology
from tenantry.services.tcs.catalog import AuditOutboxRow, Catalog, metadata
from tenantry.services.tcs.legal_register import (
    MAX_ACCOUNTS,
    MAX_SITES,
    STATES,
    TRANSITIONS,
    LegalRegister,
    accounts_digest,
    check_change,
    check_new,
)


def _request(state: str, **more: Any) -> dict[str, Any]:
    return {"id": 7, "state": state, "received": "2021-03-01", **more}


def _refused(current: dict[str, Any], change: dict[str, Any]) -> str:
    with pytest.raises(ApiError) as refused:
        check_change(current, change)
    return refused.value.code


def test_every_state_change_not_in_the_table_is_refused_and_a_disclosure_needs_a_notice() -> None:
    for was in STATES:
        for to in STATES:
            current = _request(was, notice_sent="2021-03-02")
            change = {"state": to, **({"disclosure": "content"} if to == "disclosed" else {})}
            if to in TRANSITIONS[was]:
                assert check_change(current, change)["state"] == to
            else:
                assert _refused(current, change) == "invalid_transition", (was, to)
    review = _request("under-legal-review")
    assert _refused(review, {"state": "disclosed", "disclosure": "content"}) == (
        "customer_notice_required"
    )
    assert _refused(review, {"state": "disclosed"}) == "disclosure_required"
    assert _refused(review, {"state": "disclosed", "disclosure": "all"}) == "invalid_disclosure"
    assert _refused(review, {"state": "objected", "disclosure": "content"}) == (
        "disclosure_without_state"
    )
    assert _refused(review, {"state": "closed"}) == "invalid_state"
    assert _refused(review, {}) == "nothing_to_change"
    assert _refused(review, {"notice_sent": "2021-02-28"}) == "invalid_date"
    assert _refused(review, {"notice_sent": "2021-02-30"}) == "invalid_date"
    assert _refused(review, {"notice_sent": "2999-01-01"}) == "invalid_date"
    assert _refused(review, {"notice_sent": "2021-03-02", "notice_withheld_reason": "x"}) == (
        "notice_conflict"
    )
    assert _refused(review, {"notice_withheld_reason": "   "}) == "invalid_reason"
    # A notice and the disclosure in one change, or a recorded reason for none, are enough.
    both = {"state": "disclosed", "disclosure": "non-content", "notice_sent": "2021-03-05"}
    assert check_change(review, both)["disclosure"] == "non-content"
    gagged = _request("under-legal-review", notice_withheld_reason="the order forbids it")
    assert check_change(gagged, {"state": "disclosed", "disclosure": "content"})["state"] == (
        "disclosed"
    )

    good = {
        "jurisdiction": "US",
        "type": "subpoena",
        "sites": ["acme"],
        "accounts": ["a" * 32],
        "received": "2021-01-02",
    }
    check_new(good)
    for field, value, code in (
        ("jurisdiction", "USA", "invalid_jurisdiction"),
        ("type", "letter", "invalid_type"),
        ("sites", [], "invalid_sites"),
        ("sites", ["a", "a"], "invalid_sites"),
        ("accounts", ["not-an-id"], "invalid_accounts"),
        ("received", "02/01/2021", "invalid_date"),
        ("received", "1999-12-31", "invalid_date"),
        ("reference", "\n", "invalid_reference"),
    ):
        with pytest.raises(ApiError) as refused:
            check_new({**good, field: value})
        assert refused.value.code == code, field


def test_the_report_groups_the_eu_and_bands_national_security_counts() -> None:
    assert [band(0), band(249), band(250), band(1000)] == [
        "0-249",
        "0-249",
        "250-499",
        "1000-1249",
    ]
    assert [jurisdiction_group(code) for code in ("DE", "EU", "US", "GB")] == [
        "EU",
        "EU",
        "US",
        "GB",
    ]
    secret = {
        "jurisdiction": "GB",
        "type": "national-security",
        "accounts": ["a" * 32] * 300,
        "received": "2021-05-05",
        "state": "received",
        "disclosure": None,
    }
    report = build_report(2021, [secret])
    # A group only national-security requests would show is in the total alone.
    assert report["requests"]["rows"] == []
    assert report["national_security"]["rows"] == []
    assert report["national_security"]["total"] == {
        "jurisdiction": "Total",
        "requests": "0-249",
        "accounts": "250-499",
    }
    page = as_html(build_report(2021, [{**secret, "jurisdiction": "<b>", "type": "warrant"}]))
    assert "<td>&lt;b&gt;</td>" in page and "<b>" not in page.replace("<body>", "")


def _register(tmp_path: Path) -> tuple[LegalRegister, AuditOutbox, Any]:
    """A register on a SQLite catalog of its own, its outbox holding what it records."""
    engine = create_engine(f"sqlite:///{tmp_path / 'tcs.sqlite'}")
    metadata.create_all(engine)

    async def nowhere(_events: list[dict[str, Any]]) -> None:
        raise AssertionError("not delivered in this test")

    async def no_tenant(cloud_id: str) -> Any:
        raise AssertionError(cloud_id)

    outbox = AuditOutbox(
        AuditOutboxRow, lambda _: engine, ["global"], None, no_tenant, operator_log=nowhere
    )  # type: ignore[arg-type]
    catalog = Catalog(engine, load_topology(None), outbox)
    return LegalRegister(catalog), outbox, engine


def _outbox_events(engine: Any) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as connection:
        rows = connection.execute(select(AuditOutboxRow.cloud_id, AuditOutboxRow.event)).all()
    return [(row.cloud_id, json.loads(row.event)) for row in rows]


def test_each_change_and_its_operator_event_commit_together(tmp_path: Path) -> None:
    register, outbox, engine = _register(tmp_path)
    sites = [f"legal-site-{number:02d}" for number in range(MAX_SITES)]
    for site in sites:
        register._catalog.create(site, "us")
    accounts = [uuid.uuid4().hex for _ in range(MAX_ACCOUNTS)]
    fields = {
        "jurisdiction": "US",
        "type": "warrant",
        "sites": sites,
        "accounts": accounts,
        "received": "2021-01-02",
    }
    # The largest request the register takes still makes an event the log takes.
    made = register.add(fields)
    assert made["accounts"] == accounts
    register.update(made["id"], {"state": "under-legal-review"})
    operator = [event for log, event in _outbox_events(engine) if log == OPERATOR_LOG_ID]
    assert [event["action"] for event in operator] == [
        "legal_request_recorded",
        "legal_request_updated",
    ]
    assert operator[0]["detail"]["accounts"] == MAX_ACCOUNTS
    assert operator[0]["detail"]["accounts_digest"] == accounts_digest(accounts)
    assert operator[1]["detail"] == {
        "request": made["id"],
        "from": "received",
        "state": "under-legal-review",
    }
    # No event of the register is meant for a tenant's own log.
    assert not [
        event for log, event in _outbox_events(engine) if event["action"].startswith("legal_")
        and log != OPERATOR_LOG_ID
    ]  # fmt: skip

    # An event that cannot be recorded takes its change with it, and a refused change
    # records nothing.
    def broken(_connection: Any, _event: Any) -> None:
        raise RuntimeError("the outbox is full")

    outbox.record_operator_event = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        register.add({**fields, "sites": sites[:1]})
    with pytest.raises(RuntimeError):
        register.update(made["id"], {"state": "objected"})
    assert [request["id"] for request in register.listed()] == [made["id"]]
    assert register.get(made["id"])["state"] == "under-legal-review"
    with pytest.raises(ApiError) as refused:
        register.update(made["id"], {"state": "received"})
    assert refused.value.code == "invalid_transition"
    with pytest.raises(ApiError) as unknown:
        register.add({**fields, "sites": ["not-in-the-catalog"]})
    assert unknown.value.code == "unknown_site"
    after = [event for log, event in _outbox_events(engine) if log == OPERATOR_LOG_ID]
    assert after == operator
