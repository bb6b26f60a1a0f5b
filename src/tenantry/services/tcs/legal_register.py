"""The transparency register: every government or legal request for customer data, where it
stands, and whether the customer was told.

It is operator data, global like the catalog it names sites from, so it lives beside the
catalog on tcs's database and only the operator's routes reach it (no public route, no tenant
context). A request moves received -> under-legal-review -> objected / disclosed / no-data
(`TRANSITIONS`); a disclosure is refused until a customer notice is recorded, or the reason
the request forbids one. Every change records an event for the operator log in the same
transaction, never for the tenant's own log: a request's existence may be confidential toward
the tenant it names.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy import update as sql_update

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.errors import ApiError
from tenantry.services.tcs.catalog import Catalog, iso_time, legal_requests, tenants

TYPES = ("subpoena", "court-order", "warrant", "emergency", "national-security")
"""What kind of legal process a request is."""
NATIONAL_SECURITY = "national-security"
RECEIVED = "received"
UNDER_REVIEW = "under-legal-review"
OBJECTED = "objected"
DISCLOSED = "disclosed"
NO_DATA = "no-data"
STATES = (RECEIVED, UNDER_REVIEW, OBJECTED, DISCLOSED, NO_DATA)
TRANSITIONS: Mapping[str, frozenset[str]] = {
    RECEIVED: frozenset({UNDER_REVIEW, NO_DATA}),
    UNDER_REVIEW: frozenset({OBJECTED, DISCLOSED, NO_DATA}),
    # An objection that fails ends in a disclosure; one that succeeds, in no data.
    OBJECTED: frozenset({DISCLOSED, NO_DATA}),
    DISCLOSED: frozenset(),
    NO_DATA: frozenset(),
}
"""The states each state may move to; disclosed and no-data are final."""
DISCLOSURES = ("content", "non-content")
"""What a disclosure gave: content, or non-content data only (who, when, not what)."""
EARLIEST = date(2000, 1, 1)
MAX_SITES = 20
MAX_ACCOUNTS = 100
MAX_REASON = 500
JURISDICTION = re.compile(r"^[A-Z]{2}$")
ACCOUNT = re.compile(r"^[0-9a-f]{32}$")
REFERENCE = re.compile(r"^[\x20-\x7e]{1,128}$")


def parse_day(value: str, what: str, today: date | None = None) -> date:
    """A calendar day given as YYYY-MM-DD, not before 2000 and not in the future; 422
    `invalid_date` otherwise."""
    try:
        day = date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d\d-\d\d", value) else None
    except ValueError:
        day = None
    if day is None:
        raise ApiError(422, "invalid_date", f"{what} {value!r} is not a date (YYYY-MM-DD)")
    latest = today if today is not None else datetime.now(UTC).date()
    if day < EARLIEST or day > latest:
        raise ApiError(
            422, "invalid_date", f"{what} {value} is not between {EARLIEST} and {latest}"
        )
    return day


def check_new(fields: Mapping[str, Any]) -> None:
    """Refuse (422, with a reason code) a new request whose fields break the register's rules;
    the sites are checked against the catalog by `LegalRegister.add`."""
    if not JURISDICTION.fullmatch(str(fields["jurisdiction"])):
        raise ApiError(
            422, "invalid_jurisdiction", "a jurisdiction is a two-letter country code, or EU"
        )
    if fields["type"] not in TYPES:
        raise ApiError(422, "invalid_type", f"a request's type is one of: {', '.join(TYPES)}")
    sites: Sequence[str] = fields["sites"]
    accounts: Sequence[str] = fields["accounts"]
    if not 1 <= len(sites) <= MAX_SITES or len(set(sites)) != len(sites):
        raise ApiError(422, "invalid_sites", f"name 1 to {MAX_SITES} different sites")
    if len(accounts) > MAX_ACCOUNTS or len(set(accounts)) != len(accounts):
        raise ApiError(422, "invalid_accounts", f"name at most {MAX_ACCOUNTS} different accounts")
    for account in accounts:
        if not ACCOUNT.fullmatch(account):
            raise ApiError(422, "invalid_accounts", f"{account!r} is not an account id")
    reference = fields.get("reference")
    if reference is not None and not REFERENCE.fullmatch(reference):
        raise ApiError(422, "invalid_reference", "a reference is 1 to 128 printable characters")
    parse_day(str(fields["received"]), "received")


def check_change(current: Mapping[str, Any], change: Mapping[str, Any]) -> dict[str, Any]:
    """The columns a change sets on a request as it is now, or the reason it is refused: an
    unknown state (422), a move its state does not allow (409 `invalid_transition`), a
    disclosure without what it gave (422) or without a customer notice or the recorded reason
    for none (409 `customer_notice_required`)."""
    state = change.get("state")
    disclosure = change.get("disclosure")
    sent = change.get("notice_sent")
    withheld = change.get("notice_withheld_reason")
    if state is None and disclosure is None and sent is None and withheld is None:
        raise ApiError(422, "nothing_to_change", "give a state, a notice, or a reason for none")
    values: dict[str, Any] = {}
    if sent is not None and withheld is not None:
        raise ApiError(
            422, "notice_conflict", "record either that the notice was sent or why it was not"
        )
    if sent is not None:
        day = parse_day(str(sent), "notice_sent")
        if day < date.fromisoformat(str(current["received"])):
            raise ApiError(422, "invalid_date", "a notice cannot precede the request")
        values["notice_sent"] = day.isoformat()
    if withheld is not None:
        reason = str(withheld).strip()
        if not reason or len(reason) > MAX_REASON:
            raise ApiError(
                422, "invalid_reason", f"the reason for no notice is 1 to {MAX_REASON} characters"
            )
        values["notice_withheld_reason"] = reason
    if disclosure is not None and disclosure not in DISCLOSURES:
        raise ApiError(422, "invalid_disclosure", f"a disclosure is {' or '.join(DISCLOSURES)}")
    if state is None:
        if disclosure is not None:
            raise ApiError(422, "disclosure_without_state", "a disclosure needs state disclosed")
        return values
    if state not in STATES:
        raise ApiError(422, "invalid_state", f"a request's state is one of: {', '.join(STATES)}")
    was = str(current["state"])
    if state not in TRANSITIONS[was]:
        allowed = ", ".join(sorted(TRANSITIONS[was])) or "none: it is final"
        raise ApiError(
            409,
            "invalid_transition",
            f"request {current['id']} is {was}; it cannot become {state} (allowed: {allowed})",
        )
    if state == DISCLOSED:
        if disclosure is None:
            raise ApiError(
                422, "disclosure_required", f"say what was disclosed: {' or '.join(DISCLOSURES)}"
            )
        noticed = values.get("notice_sent") or current.get("notice_sent")
        reasoned = values.get("notice_withheld_reason") or current.get("notice_withheld_reason")
        if not noticed and not reasoned:
            raise ApiError(
                409,
                "customer_notice_required",
                "a customer notice is due before a disclosure: record the day it was sent, or "
                "the reason the request forbids it",
            )
        values["disclosure"] = disclosure
    elif disclosure is not None:
        raise ApiError(422, "disclosure_without_state", "a disclosure needs state disclosed")
    values["state"] = state
    return values


def accounts_digest(accounts: Sequence[str]) -> str:
    """The SHA-256 of a request's account ids (sorted, comma-separated), as its event holds."""
    return hashlib.sha256(",".join(sorted(accounts)).encode()).hexdigest()


def shown(row: Any) -> dict[str, Any]:
    """A request as the operator's routes answer it."""
    return {
        "id": int(row.request_id),
        "jurisdiction": row.jurisdiction,
        "type": row.request_type,
        "reference": row.reference,
        "sites": json.loads(row.sites),
        "accounts": json.loads(row.accounts_named),
        "received": row.received,
        "state": row.state,
        "disclosure": row.disclosure,
        "notice_sent": row.notice_sent,
        "notice_withheld_reason": row.notice_withheld_reason,
        "created_at": iso_time(float(row.created_at)),
        "updated_at": iso_time(float(row.updated_at)),
    }


class LegalRegister:
    """The register's rows on tcs's database, each change with its operator-log event."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        """The tenant catalog: its engine, and the outbox events are recorded in."""

    def add(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Record a new request (state received); 422 for a site the catalog lacks."""
        check_new(fields)
        now = time.time()
        with self._catalog.engine.begin() as connection:
            known = set(
                connection.execute(
                    select(tenants.c.site).where(tenants.c.site.in_(list(fields["sites"])))
                ).scalars()
            )
            unknown = [site for site in fields["sites"] if site not in known]
            if unknown:
                raise ApiError(422, "unknown_site", f"no site {unknown[0]!r} in the catalog")
            inserted = connection.execute(
                insert(legal_requests).values(
                    jurisdiction=fields["jurisdiction"],
                    request_type=fields["type"],
                    reference=fields.get("reference"),
                    sites=json.dumps(list(fields["sites"])),
                    accounts_named=json.dumps(list(fields["accounts"])),
                    received=fields["received"],
                    state=RECEIVED,
                    created_at=now,
                    updated_at=now,
                )
            ).inserted_primary_key
            assert inserted is not None
            request = self._get(connection, int(inserted[0]))
            self._record(
                connection,
                "legal_request_recorded",
                request,
                {
                    "type": request["type"],
                    "jurisdiction": request["jurisdiction"],
                    "received": request["received"],
                    "sites": request["sites"],
                    # The count and a digest keep an event of a hundred accounts small; the
                    # digest still binds the log to exactly the accounts recorded.
                    "accounts": len(request["accounts"]),
                    "accounts_digest": accounts_digest(request["accounts"]),
                    "state": RECEIVED,
                },
            )
        self._catalog.wake_audit()
        return request

    def update(self, request_id: int, change: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a change to a request (see `check_change`); 404 for an unknown request."""
        with self._catalog.engine.begin() as connection:
            current = self._get(connection, request_id, for_update=True)
            values = check_change(current, change)
            # Only from the state checked: of two changes at once, the second finds it moved
            # on (SQLite takes no row lock) and is refused rather than applied on top.
            changed = connection.execute(
                sql_update(legal_requests)
                .where(
                    legal_requests.c.request_id == request_id,
                    legal_requests.c.state == current["state"],
                )
                .values(**values, updated_at=time.time())
            )
            if changed.rowcount != 1:
                raise ApiError(
                    409, "concurrent_change", f"request {request_id} changed meanwhile: try again"
                )
            request = self._get(connection, request_id)
            detail: dict[str, Any] = {"from": current["state"], **values}
            self._record(connection, "legal_request_updated", request, detail)
        self._catalog.wake_audit()
        return request

    def get(self, request_id: int) -> dict[str, Any]:
        """One request; 404 `legal_request_not_found` if there is none."""
        with self._catalog.engine.connect() as connection:
            return self._get(connection, request_id)

    def listed(self, year: int | None = None) -> list[dict[str, Any]]:
        """Every request, or those received in `year`, oldest first."""
        query = select(legal_requests).order_by(legal_requests.c.request_id)
        if year is not None:
            query = query.where(legal_requests.c.received.like(f"{year:04d}-%"))
        with self._catalog.engine.connect() as connection:
            return [shown(row) for row in connection.execute(query)]

    @staticmethod
    def _get(connection: Connection, request_id: int, for_update: bool = False) -> dict[str, Any]:
        query = select(legal_requests).where(legal_requests.c.request_id == request_id)
        row = connection.execute(query.with_for_update() if for_update else query).first()
        if row is None:
            raise ApiError(404, "legal_request_not_found", f"no legal request {request_id}")
        return shown(row)

    def _record(
        self,
        connection: Connection,
        action: str,
        request: Mapping[str, Any],
        detail: dict[str, Any],
    ) -> None:
        outbox = self._catalog.audit
        if outbox is None:
            return
        event = AuditEvent(
            action=action,
            target=f"legal-request/{request['id']}",
            actor=current_actor("tcs"),
            detail={"request": request["id"], **detail},
        )
        outbox.record_operator_event(connection, event)
