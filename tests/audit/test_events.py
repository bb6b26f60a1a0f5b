"""The rule every audit event obeys: it names things, it never holds secrets or key bytes."""

from __future__ import annotations

import pytest

from tenantry.platform.audit.actions import ACTIONS, KEYS, actions_of
from tenantry.platform.audit.events import (
    Actor,
    AuditEvent,
    AuditEventError,
    canonical,
    current_actor,
    entry,
)
from tenantry.platform.context import UserContext, current_caller, current_user

SERVICE = Actor("service", "kms")


@pytest.mark.parametrize(
    "detail",
    [
        {"key": b"\x00" * 32},
        {"versions": [1, bytearray(b"k")]},
        {"nested": {"wrapped": memoryview(b"k")}},
        {"password": "hunter2"},
        {"new_token": "abc"},
        {"outer": {"client_secret": "x"}},
        {"private_key": "-----BEGIN"},
        {"ratio": 0.5},
        {"blob": "x" * 5000},
    ],
)
def test_secrets_bytes_and_oversized_details_are_refused(detail: dict[str, object]) -> None:
    with pytest.raises(AuditEventError):
        AuditEvent("data_key_created", "data_keys", SERVICE, detail=detail)


@pytest.mark.parametrize("action", ["", "Login", "login failed", "x" * 65, "1login"])
def test_actions_are_lower_snake_case(action: str) -> None:
    with pytest.raises(AuditEventError):
        AuditEvent(action, "t", SERVICE)


def test_only_actions_named_in_the_catalog_are_recorded() -> None:
    with pytest.raises(AuditEventError, match=r"actions\.py"):
        AuditEvent("tenant_teleported", "t", SERVICE)
    for action, kind in ACTIONS.items():
        assert action in actions_of(kind)
        AuditEvent(action, "t", SERVICE)
    assert "byok_key_revoked" in actions_of(KEYS) and "login" not in actions_of(KEYS)


def test_actors_are_accounts_services_or_the_operator() -> None:
    with pytest.raises(AuditEventError):
        Actor("robot", "r2")  # type: ignore[arg-type]
    with pytest.raises(AuditEventError):
        Actor("account", "")


def test_an_entry_has_one_canonical_text() -> None:
    event = AuditEvent("login", "acct-1", Actor("account", "acct-1"), detail={"b": 1, "a": "é"})
    text = canonical(entry("tenant-1", event.wire()))
    assert text.startswith('{"action":"login","actor":{"id":"acct-1","type":"account"}')
    assert '"detail":{"a":"\\u00e9","b":1}' in text
    assert '"tenant":"tenant-1"' in text


def test_the_actor_is_the_user_else_the_operator_else_the_calling_service() -> None:
    assert current_actor("kms") == Actor("service", "kms")
    caller = current_caller.set("identity")
    try:
        assert current_actor("kms") == Actor("service", "identity")
        operator = current_caller.set("operator")
        try:
            assert current_actor("kms") == Actor("operator", "operator")
            user = current_user.set(UserContext("acct-9", "admin"))
            try:
                assert current_actor("kms") == Actor("account", "acct-9")
            finally:
                current_user.reset(user)
        finally:
            current_caller.reset(operator)
    finally:
        current_caller.reset(caller)
