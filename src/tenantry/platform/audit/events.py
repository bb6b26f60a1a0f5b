"""What an audit event is, and the one rule every event obeys: it names, it never holds secrets.

An event says who (the actor: an account, a service or the operator) did what (the action) to
what (the target), when, with a small JSON detail. The audit service adds the tenant from the
request's signed tenant context and stores the entry as its canonical JSON, the exact bytes its
Merkle leaf hashes, so anyone holding the entry can recompute the leaf.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tenantry.platform.audit.actions import ACTIONS
from tenantry.platform.context import current_caller, current_user

ActorKind = Literal["account", "service", "operator"]
ACTOR_KINDS: tuple[str, ...] = ("account", "service", "operator")
MAX_DETAIL_BYTES = 4096
_ACTION = re.compile(r"[a-z][a-z0-9_.]{0,63}")
_SECRET_NAMES = re.compile(r"password|secret|token|private|passphrase|plaintext|key_bytes", re.I)


class AuditEventError(TypeError, ValueError):
    """An event that breaks the rules: bytes or secrets in it, a bad action, too much detail."""


def refuse_secrets(name: str, fields: dict[str, Any]) -> None:
    """Refuse bytes anywhere in `fields`, and fields named like secrets, so no key, password or
    token can slip into a log (the rule kms's key events always had)."""
    for key, value in fields.items():
        if _SECRET_NAMES.search(str(key)):
            raise AuditEventError(f"audit event {name!r}: field {key!r} may hold a secret")
        _refuse_bytes(name, value)


def _refuse_bytes(name: str, value: object) -> None:
    if isinstance(value, bytes | bytearray | memoryview):
        raise AuditEventError(f"audit event {name!r}: bytes may not be logged")
    if isinstance(value, float):
        raise AuditEventError(f"audit event {name!r}: numbers in a detail are integers")
    if isinstance(value, dict):
        refuse_secrets(name, value)
    elif isinstance(value, list | tuple):
        for item in value:
            _refuse_bytes(name, item)


def canonical(entry: dict[str, Any]) -> str:
    """The one JSON text of an entry: keys sorted, no spaces, ASCII only (what leaves hash)."""
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def utc_stamp(moment: datetime | None = None) -> str:
    """An event time as ISO 8601 UTC with microseconds, e.g. 2026-12-04T01:02:03.000004Z."""
    moment = datetime.now(UTC) if moment is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: an account of the site, a service of the cloud, or the cloud's operator."""

    kind: ActorKind
    id: str

    def __post_init__(self) -> None:
        if self.kind not in ACTOR_KINDS or not self.id or len(self.id) > 128:
            raise AuditEventError(f"actor {self.kind!r}/{self.id!r} is not an actor")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event as a service records it (the tenant is the audit service's to add)."""

    action: str
    target: str
    actor: Actor
    detail: dict[str, Any] = field(default_factory=dict)
    time: str = field(default_factory=utc_stamp)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        if not _ACTION.fullmatch(self.action):
            raise AuditEventError(f"action {self.action!r} is not lower_snake_case")
        if self.action not in ACTIONS:
            raise AuditEventError(f"action {self.action!r} is not in platform/audit/actions.py")
        if len(self.target) > 256:
            raise AuditEventError("an event's target is at most 256 characters")
        refuse_secrets(self.action, self.detail)
        if len(canonical(self.detail)) > MAX_DETAIL_BYTES:
            raise AuditEventError(f"audit event {self.action!r}: detail over {MAX_DETAIL_BYTES}")

    def wire(self) -> dict[str, Any]:
        """The event as it travels to the audit service."""
        return {
            "id": self.event_id,
            "actor": {"type": self.actor.kind, "id": self.actor.id},
            "action": self.action,
            "target": self.target,
            "time": self.time,
            "detail": self.detail,
        }


def entry(tenant: str, wire: dict[str, Any]) -> dict[str, Any]:
    """The log entry of an event (as `wire` gives it) in `tenant`'s log."""
    return {**wire, "tenant": tenant}


OPERATOR = "operator"


def current_actor(service: str) -> Actor:
    """Who the running request acts for: its signed-in account, else the operator or the
    service that called, else `service` itself (work it does on its own)."""
    user = current_user.get()
    if user is not None:
        return Actor("account", user.account_id)
    caller = current_caller.get()
    if caller == OPERATOR:
        return Actor("operator", OPERATOR)
    return Actor("service", caller or service)
