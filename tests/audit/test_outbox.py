"""The outbox services write audit events through: delivered in the order recorded, kept (and
retried, later) while the audit service cannot take them, deleted once it has."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase

from settable_clock import SettableClock
from tenantry.platform.audit.events import Actor, AuditEvent
from tenantry.platform.audit.outbox import (
    ELSEWHERE_RECHECK_SECONDS,
    AuditOutbox,
    AuditOutboxColumns,
    backoff,
)
from tenantry.platform.background import Idle
from tenantry.platform.client import ServiceResponse
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.errors import ApiError
from tenantry.platform.storage.tenant_session import tenant_session


class _Base(DeclarativeBase):
    pass


class _Row(AuditOutboxColumns, _Base):
    __tablename__ = "audit_outbox"


class _Audit:
    """Stands in for the client: the audit service refuses while `down`, records otherwise."""

    def __init__(self) -> None:
        self.down = False
        self.received: list[tuple[str, list[str]]] = []

    async def call(self, callee: str, method: str, route: str, **kwargs: Any) -> ServiceResponse:
        assert (callee, method, route) == ("audit", "POST", "/internal/audit/events")
        if self.down:
            return ServiceResponse(503, {}, b"{}")
        actions = [event["action"] for event in kwargs["json"]["events"]]
        self.received.append((str(kwargs["tenant_id"]), actions))
        return ServiceResponse(201, {}, b"{}")


async def _context(cloud_id: str) -> tuple[TenantContext, str]:
    return TenantContext(cloud_id, "site", "eu", "eu-1", "active"), "signed"


def _event(action: str) -> AuditEvent:
    return AuditEvent(action, "target", Actor("service", "test"))


async def test_events_wait_out_a_failure_together_and_arrive_in_order(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite'}")
    _Base.metadata.create_all(engine)
    clock = SettableClock(1000.0)
    audit = _Audit()
    outbox = AuditOutbox(_Row, lambda _: engine, ["eu-1"], audit, _context, clock=clock)  # type: ignore[arg-type]
    with engine.begin() as connection:
        for action in ("login", "login_failed"):
            outbox.record_on(connection, "tenant-a", _event(action))
        outbox.record_on(connection, "tenant-b", _event("account_created"))

    audit.down = True
    assert await outbox.deliver_due() == Idle(backoff(1))  # rests until the retry is due
    assert outbox.pending() == 3
    with engine.begin() as connection:
        # Due now, but behind the rest.
        outbox.record_on(connection, "tenant-a", _event("token_revoked"))
    audit.down = False
    # Every tenant waits out its pause whole.
    assert await outbox.deliver_due() == Idle(backoff(1))
    assert audit.received == []

    clock.now += 60
    assert await outbox.deliver_due() == 4
    assert audit.received == [
        ("tenant-a", ["login", "login_failed", "token_revoked"]),
        ("tenant-b", ["account_created"]),
    ]
    assert outbox.pending() == 0
    assert await outbox.deliver_due() == Idle()  # nothing left: rests until woken


def test_an_event_travels_as_its_wire_form() -> None:
    event = _event("login")
    assert json.loads(json.dumps(event.wire()))["id"] == event.event_id


def test_an_event_recorded_in_a_tenant_session_commits_or_rolls_back_with_it(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite'}")
    _Base.metadata.create_all(engine)
    outbox = AuditOutbox(_Row, lambda _: engine, ["eu-1"], _Audit(), _context)  # type: ignore[arg-type]
    tenant = TenantContext("tenant-a", "site", "eu", "eu-1", "active")
    with tenant_scope(tenant):
        with pytest.raises(RuntimeError), tenant_session(engine) as session:
            outbox.record(session, _event("account_deleted"))
            raise RuntimeError("the change failed after its event was recorded")
        assert outbox.pending() == 0
        with tenant_session(engine) as session:
            outbox.record(session, _event("account_restored"))
    assert outbox.pending() == 1


async def test_an_outbox_of_one_region_leaves_other_regions_tenants_events_alone(
    tmp_path: Path,
) -> None:
    """Several regions' processes drain one shared database, each its own tenants' events."""
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite'}")
    _Base.metadata.create_all(engine)

    async def homes(cloud_id: str) -> tuple[TenantContext, str]:
        region = cloud_id.split("-")[0]
        return TenantContext(cloud_id, "site", region, f"{region}-1", "active"), "signed"

    audits = {region: _Audit() for region in ("eu", "us")}
    outboxes = {
        region: AuditOutbox(_Row, lambda _: engine, ["global"], audit, homes, region=region)  # type: ignore[arg-type]
        for region, audit in audits.items()
    }
    with engine.begin() as connection:
        outboxes["eu"].record_on(connection, "us-tenant", _event("login"))
        outboxes["eu"].record_on(connection, "eu-tenant", _event("login_failed"))
    assert await outboxes["eu"].deliver_due() == 1
    assert audits["eu"].received == [("eu-tenant", ["login_failed"])]
    assert outboxes["eu"].pending() == 1  # neither delivered nor put off: us delivers it
    assert await outboxes["us"].deliver_due() == 1
    assert audits["us"].received == [("us-tenant", ["login"])]
    assert outboxes["us"].pending() == 0


async def test_events_recorded_before_a_tenant_moves_into_the_region_are_delivered_there(
    tmp_path: Path,
) -> None:
    """A move between regions records events in the new region before tcs names it the
    tenant's home: the outbox there looks at them again, and delivers them after the switch."""
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite'}")
    _Base.metadata.create_all(engine)
    home = {"mover": "eu"}

    async def homes(cloud_id: str) -> tuple[TenantContext, str]:
        region = home[cloud_id]
        return TenantContext(cloud_id, "site", region, f"{region}-1", "active"), "signed"

    audit = _Audit()
    clock = SettableClock(1000.0)
    outbox = AuditOutbox(_Row, lambda _: engine, ["us-1"], audit, homes, region="us", clock=clock)  # type: ignore[arg-type]
    with engine.begin() as connection:
        outbox.record_on(connection, "mover", _event("data_keys_moved"))
    assert await outbox.deliver_due() == Idle(ELSEWHERE_RECHECK_SECONDS)
    assert audit.received == []
    home["mover"] = "us"  # the switch
    clock.now += ELSEWHERE_RECHECK_SECONDS
    assert await outbox.deliver_due() == 1
    assert audit.received == [("mover", ["data_keys_moved"])]


async def test_operator_events_go_to_the_operator_log_only_and_wait_out_its_failures(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'outbox.sqlite'}")
    _Base.metadata.create_all(engine)
    clock = SettableClock(1000.0)
    audit = _Audit()
    delivered: list[list[str]] = []
    down = True

    async def operator_log(events: list[dict[str, Any]]) -> None:
        if down:
            raise ApiError(503, "audit_refused", "down")
        delivered.append([event["action"] for event in events])

    async def no_tenant(cloud_id: str) -> tuple[TenantContext, str]:
        raise AssertionError(f"an operator event looked up tenant {cloud_id}")

    outbox = AuditOutbox(
        _Row, lambda _: engine, ["global"], audit, no_tenant, clock=clock, operator_log=operator_log
    )  # type: ignore[arg-type]
    with engine.begin() as connection:
        outbox.record_operator_event(connection, _event("legal_request_recorded"))
        outbox.record_operator_event(connection, _event("legal_request_updated"))
    assert await outbox.deliver_due() == Idle(backoff(1))
    assert outbox.pending() == 2 and delivered == []
    down = False
    clock.now += backoff(1)
    assert await outbox.deliver_due() == 2
    assert delivered == [["legal_request_recorded", "legal_request_updated"]]
    assert audit.received == [] and outbox.pending() == 0

    plain = AuditOutbox(_Row, lambda _: engine, ["global"], audit, no_tenant)  # type: ignore[arg-type]
    with engine.begin() as connection, pytest.raises(ValueError, match="no operator log"):
        plain.record_operator_event(connection, _event("legal_request_recorded"))
