"""identity revokes tokens and tells the edges: logout, deactivation, password changes, removal.

What an edge asks of an account (`GET /internal/identity/accounts/{id}`) says its role, whether
it is active, its token generation and its revoked tokens; every change to any of them is a row
of the account feed, committed with the change, that a long-polling edge hears of at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient
from structlog.testing import capture_logs

from settable_clock import SettableClock
from tenantry.platform import claims as claim
from tenantry.platform.context import TenantContext, tenant_scope
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage import Databases
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.account_changes import AccountChanges
from tenantry.services.identity.store import MAX_REVOKED_TOKENS

from .harness import FakeCloud, build_app
from .test_identity_api import PASSWORD, account_of, add_account, as_user, login, signup


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def app_client(
    tmp_path: Path, databases: Databases, cloud: FakeCloud, clock: SettableClock
) -> Iterator[TestClient]:
    signer = TokenSigner(ensure_service_key(tmp_path, "identity"))
    with TestClient(
        build_app(databases, cloud, signer, clock=clock), raise_server_exceptions=False
    ) as test_client:
        yield test_client


def changes_of(client: TestClient) -> AccountChanges:
    feed: AccountChanges = client.app.state.changes  # type: ignore[attr-defined]
    return feed


def feed_after(client: TestClient, seq: int) -> list[dict[str, Any]]:
    return changes_of(client).changes_after(seq)[1]


def latest(client: TestClient) -> int:
    return changes_of(client).changes_after(0)[0]


def state(client: TestClient, site: str, account: str) -> Any:
    return client.get(f"/internal/identity/accounts/{account}", headers=as_user(site, account))


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


@pytest.fixture
def acme(app_client: TestClient, cloud: FakeCloud) -> tuple[str, str, str]:
    """Site acme with its admin and a member; (cloud id, admin id, member id)."""
    signup(app_client, "acme", "admin@acme.test")
    admin = account_of(app_client, "acme", "admin@acme.test")
    made = add_account(app_client, "acme", admin, "member@acme.test")
    assert made.status_code == 201, made.text
    return cloud.tenants["acme"].cloud_id, admin, str(made.json()["account_id"])


def test_a_token_names_its_accounts_generation_and_no_role(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    cloud_id, _, member = acme
    token = login(app_client, "acme", "member@acme.test").json()["token"]
    claims = claims_of(token)
    assert (claims[claim.TENANT], claims[claim.USER], claims[claim.TOKEN_GENERATION]) == (
        cloud_id,
        member,
        0,
    )
    assert claim.ROLE not in claims
    assert state(app_client, "acme", member).json() == {
        "account_id": member,
        "role": "member",
        "active": True,
        "token_generation": 0,
        "revoked_tokens": [],
    }


def test_logout_revokes_that_token_only_until_it_would_have_expired(
    app_client: TestClient, acme: tuple[str, str, str], clock: SettableClock
) -> None:
    cloud_id, _, member = acme
    seq = latest(app_client)
    headers = {**as_user("acme", member, "member"), "x-test-jti": "token-one"}
    assert app_client.post("/logout", headers=headers).status_code == 204
    assert app_client.post("/logout", headers=headers).status_code == 204  # again: no harm
    assert state(app_client, "acme", member).json()["revoked_tokens"] == ["token-one"]
    assert [(c["cloud_id"], c["account_id"]) for c in feed_after(app_client, seq)] == [
        (cloud_id, member),
        (cloud_id, member),
    ]
    clock.now += 15 * 60 + 1  # the token is dead by now: nothing to remember
    assert state(app_client, "acme", member).json()["revoked_tokens"] == []
    nameless = app_client.post("/logout", headers=as_user("acme", member, "member"))
    assert nameless.status_code == 400 and nameless.json()["error"] == "token_id_missing"


def test_many_logouts_revoke_every_token_instead_of_growing_the_list(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    _, _, member = acme
    for n in range(MAX_REVOKED_TOKENS + 1):
        headers = {**as_user("acme", member, "member"), "x-test-jti": f"token-{n}"}
        assert app_client.post("/logout", headers=headers).status_code == 204
    found = state(app_client, "acme", member).json()
    assert found["revoked_tokens"] == []
    assert found["token_generation"] == 1


def test_deactivation_revokes_every_token_and_stops_logins(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    cloud_id, admin, member = acme
    seq = latest(app_client)
    off = app_client.patch(
        f"/rest/identity/accounts/{member}", headers=as_user("acme", admin), json={"active": False}
    )
    assert off.status_code == 200 and off.json()["active"] is False, off.text
    found = state(app_client, "acme", member).json()
    assert (found["active"], found["token_generation"]) == (False, 1)
    assert [c["account_id"] for c in feed_after(app_client, seq)] == [member]
    refused = login(app_client, "acme", "member@acme.test")
    assert refused.status_code == 403 and refused.json()["error"] == "account_deactivated"
    wrong = login(app_client, "acme", "member@acme.test", "not the password")
    assert wrong.status_code == 401  # the account's standing is told only to its password

    on = app_client.patch(
        f"/rest/identity/accounts/{member}", headers=as_user("acme", admin), json={"active": True}
    )
    assert on.status_code == 200 and on.json()["active"] is True
    token = login(app_client, "acme", "member@acme.test").json()["token"]
    assert claims_of(token)[claim.TOKEN_GENERATION] == 1
    assert len(feed_after(app_client, seq)) == 2
    assert cloud_id


def test_the_last_active_admin_cannot_be_deactivated(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    _, admin, member = acme
    refused = app_client.patch(
        f"/rest/identity/accounts/{admin}", headers=as_user("acme", admin), json={"active": False}
    )
    assert refused.status_code == 409 and refused.json()["error"] == "last_admin"
    # A second admin who is deactivated does not count as one.
    as_admin = as_user("acme", admin)
    app_client.patch(f"/rest/identity/accounts/{member}", headers=as_admin, json={"role": "admin"})
    app_client.patch(f"/rest/identity/accounts/{member}", headers=as_admin, json={"active": False})
    demote = app_client.patch(
        f"/rest/identity/accounts/{admin}", headers=as_admin, json={"role": "viewer"}
    )
    assert demote.status_code == 409 and demote.json()["error"] == "last_admin"


@pytest.mark.parametrize("body", [{}, {"active": None}, {"role": None}, {"active": "no"}])
def test_a_patch_must_change_something_real(
    app_client: TestClient, acme: tuple[str, str, str], body: dict[str, Any]
) -> None:
    _, admin, member = acme
    bad = app_client.patch(
        f"/rest/identity/accounts/{member}", headers=as_user("acme", admin), json=body
    )
    assert bad.status_code == 422, bad.text


def test_a_password_change_revokes_every_token_and_answers_a_new_one(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    _, _, member = acme
    me = as_user("acme", member, "member")
    path = "/rest/identity/me/password"
    seq = latest(app_client)
    with capture_logs() as logs:
        wrong = app_client.post(
            path, headers=me, json={"current_password": "nope", "new_password": "a new secret"}
        )
    assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
    assert [e["reason"] for e in logs if e["event"] == "security_event"] == [
        "wrong_current_password"
    ]
    assert state(app_client, "acme", member).json()["token_generation"] == 0

    changed = app_client.post(
        path, headers=me, json={"current_password": PASSWORD, "new_password": "a new secret"}
    )
    assert changed.status_code == 200, changed.text
    assert claims_of(changed.json()["token"])[claim.TOKEN_GENERATION] == 1
    assert state(app_client, "acme", member).json()["token_generation"] == 1
    assert [c["account_id"] for c in feed_after(app_client, seq)] == [member]
    assert login(app_client, "acme", "member@acme.test").status_code == 401
    assert login(app_client, "acme", "member@acme.test", "a new secret").status_code == 200
    short = app_client.post(
        path, headers=me, json={"current_password": "a new secret", "new_password": "short"}
    )
    assert short.status_code == 422


def test_removal_and_role_changes_reach_the_feed_and_the_state(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    cloud_id, admin, member = acme
    seq = latest(app_client)
    as_admin = as_user("acme", admin)
    app_client.patch(f"/rest/identity/accounts/{member}", headers=as_admin, json={"role": "viewer"})
    assert state(app_client, "acme", member).json()["role"] == "viewer"
    same = app_client.patch(
        f"/rest/identity/accounts/{member}", headers=as_admin, json={"role": "viewer"}
    )
    assert same.status_code == 200
    assert (
        app_client.delete(f"/rest/identity/accounts/{member}", headers=as_admin).status_code == 204
    )
    gone = state(app_client, "acme", member)
    assert gone.status_code == 404 and gone.json()["error"] == "account_not_found"
    # One change each for the role and the removal; setting the same role again is none.
    assert [(c["cloud_id"], c["account_id"]) for c in feed_after(app_client, seq)] == [
        (cloud_id, member),
        (cloud_id, member),
    ]


def test_a_failed_login_is_a_security_event_naming_site_and_account(
    app_client: TestClient, acme: tuple[str, str, str]
) -> None:
    cloud_id, _, member = acme
    with capture_logs() as logs:
        assert login(app_client, "acme", "member@acme.test", "wrong one").status_code == 401
        assert login(app_client, "acme", "ghost@acme.test").status_code == 401
    events = [e for e in logs if e["event"] == "security_event"]
    assert [(e["reason"], e["site"], e["account"], e["tenant_id"]) for e in events] == [
        ("invalid_credentials", "acme", member, cloud_id),
        ("invalid_credentials", "acme", None, cloud_id),
    ]
    assert all("wrong one" not in str(e) and "member@acme.test" not in str(e) for e in logs)


async def test_a_long_poll_is_answered_as_soon_as_a_change_commits(
    databases: Databases,
) -> None:
    changes = AccountChanges(databases)
    tenant = TenantContext("tenant-a", "acme", "eu", "eu-1", "active")
    start = changes.changes_after(0)[0]
    waiting = asyncio.create_task(changes.poll(start, 30))
    await asyncio.sleep(0.05)
    assert not waiting.done()  # nothing changed yet: the poll holds

    with tenant_scope(tenant), databases.global_session() as session:
        changes.record(session, "a" * 32)
    changes.notify()
    answer = await asyncio.wait_for(waiting, 5)
    assert [(c["cloud_id"], c["account_id"]) for c in answer["changes"]] == [("tenant-a", "a" * 32)]
    assert answer["seq"] == start + 1
    assert (await changes.poll(-1, 0))["changes"] == []  # where a new follower starts
