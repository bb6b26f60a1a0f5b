"""Admins change roles and remove accounts; every such change reaches each region's kms.

The notices go through identity's outbox (`kms_notices`): written with the change, delivered
by `deliver_due`, kept and retried while kms does not answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from settable_clock import SettableClock
from tenantry.platform.background import Idle
from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage import Databases, SqliteBackend
from tenantry.platform.storage.backend import GLOBAL_SHARD
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.account_erasures import AccountErasures
from tenantry.services.identity.kms_notices import MAX_BACKOFF_SECONDS, KmsNotices, backoff
from tenantry.services.identity.models import SCHEMA, AuditOutboxRow

from .harness import REGIONS, FakeCloud, build_app
from .test_identity_api import PASSWORD, account_of, add_account, as_user, signup


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


def notices(client: TestClient) -> KmsNotices:
    outbox: KmsNotices = client.app.state.notices  # type: ignore[attr-defined]
    return outbox


def deliver(client: TestClient) -> int | Idle:
    return asyncio.run(notices(client).deliver_due())


def site_with_member(client: TestClient, site: str) -> tuple[str, str]:
    """A site with its admin and a second account (a user); their ids."""
    signup(client, site, f"admin@{site}.test")
    admin = account_of(client, site, f"admin@{site}.test")
    made = add_account(client, site, admin, f"member@{site}.test")
    assert made.status_code == 201, made.text
    return admin, str(made.json()["account_id"])


def patch_role(client: TestClient, site: str, actor: str, target: str, role: str, **kw: Any) -> Any:
    return client.patch(
        f"/rest/identity/accounts/{target}",
        headers=as_user(site, actor, kw.get("actor_role", "admin")),
        json={"role": role},
    )


def test_a_role_change_is_stored_and_told_to_every_region(
    app_client: TestClient, cloud: FakeCloud
) -> None:
    admin, member = site_with_member(app_client, "acme")
    changed = patch_role(app_client, "acme", admin, member, "admin")
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "account_id": member,
        "email": "member@acme.test",
        "display_name": None,
        "role": "admin",
        "active": True,
        "deleted": False,
    }

    assert len(notices(app_client).pending()) == len(REGIONS)
    assert deliver(app_client) == len(REGIONS)
    assert cloud.owner_notices == [
        (region, {"account": member, "change": "role_changed", "role": "admin"})
        for region in REGIONS
    ]
    assert notices(app_client).pending() == []

    # The new role holds: the member, now an admin, may list accounts.
    listed = app_client.get("/rest/identity/accounts", headers=as_user("acme", member, "admin"))
    roles = {a["account_id"]: a["role"] for a in listed.json()["accounts"]}
    assert roles == {admin: "admin", member: "admin"}


def test_setting_the_same_role_again_tells_nobody(app_client: TestClient) -> None:
    """`user`, the old name of `member`, is still taken: naming it changes nothing here."""
    admin, member = site_with_member(app_client, "acme")
    for role in ("member", "user"):
        same = patch_role(app_client, "acme", admin, member, role)
        assert same.status_code == 200
        assert same.json()["role"] == "member"
    assert notices(app_client).pending() == []


def test_removing_an_account_tells_kms_and_ends_its_login(
    app_client: TestClient, cloud: FakeCloud
) -> None:
    admin, member = site_with_member(app_client, "acme")
    removed = app_client.delete(f"/rest/identity/accounts/{member}", headers=as_user("acme", admin))
    assert removed.status_code == 204
    assert deliver(app_client) == len(REGIONS)
    assert {(n[1]["change"], n[1]["role"]) for n in cloud.owner_notices} == {("removed", None)}
    login = app_client.post(
        "/login", json={"site": "acme", "email": "member@acme.test", "password": PASSWORD}
    )
    # Deleted, it is deactivated until it is erased (or restored).
    assert (login.status_code, login.json()["error"]) == (403, "account_deactivated")
    again = app_client.delete(f"/rest/identity/accounts/{member}", headers=as_user("acme", admin))
    assert again.status_code == 404
    assert again.json()["error"] == "account_not_found"


def test_a_user_cannot_change_roles_or_remove_accounts(app_client: TestClient) -> None:
    admin, member = site_with_member(app_client, "acme")
    as_member = as_user("acme", member, "member")
    for target in (admin, member):
        promote = app_client.patch(
            f"/rest/identity/accounts/{target}", headers=as_member, json={"role": "admin"}
        )
        assert promote.status_code == 403
        assert promote.json()["error"] == "admin_required"
        remove = app_client.delete(f"/rest/identity/accounts/{target}", headers=as_member)
        assert remove.status_code == 403
    assert notices(app_client).pending() == []


def test_an_admin_cannot_touch_another_sites_accounts(app_client: TestClient) -> None:
    _admin, member = site_with_member(app_client, "acme")
    other_admin, _ = site_with_member(app_client, "globex")
    moved = patch_role(app_client, "globex", other_admin, member, "admin")
    assert moved.status_code == 404
    removed = app_client.delete(
        f"/rest/identity/accounts/{member}", headers=as_user("globex", other_admin)
    )
    assert removed.status_code == 404
    assert notices(app_client).pending() == []


def test_the_last_admin_stays(app_client: TestClient) -> None:
    admin, _member = site_with_member(app_client, "acme")
    demote = patch_role(app_client, "acme", admin, admin, "member")
    assert demote.status_code == 409
    assert demote.json()["error"] == "last_admin"
    remove = app_client.delete(f"/rest/identity/accounts/{admin}", headers=as_user("acme", admin))
    assert remove.status_code == 409
    assert notices(app_client).pending() == []


def test_bad_role_changes_are_refused(app_client: TestClient) -> None:
    admin, member = site_with_member(app_client, "acme")
    for body in ({"role": "root"}, {"role": "admin", "extra": 1}, {}):
        bad = app_client.patch(
            f"/rest/identity/accounts/{member}", headers=as_user("acme", admin), json=body
        )
        assert bad.status_code == 422, body
    for bad_id in ("not-an-id", "A" * 32, "0" * 33):
        refused = patch_role(app_client, "acme", admin, bad_id, "admin")
        assert refused.status_code == 422, bad_id


def test_a_notice_made_while_kms_is_down_is_delivered_later(
    app_client: TestClient, cloud: FakeCloud, clock: SettableClock
) -> None:
    admin, member = site_with_member(app_client, "acme")
    cloud.kms_down = True
    assert patch_role(app_client, "acme", admin, member, "admin").status_code == 200

    # Each region's first try fails; the notices stay, each with a later time to try again.
    assert deliver(app_client) == 0
    pending = notices(app_client).pending()
    assert [(n["region"], n["attempts"]) for n in pending] == [(r, 1) for r in REGIONS]
    assert all(n["next_attempt_at"] > clock.now for n in pending)
    # Not due yet: nothing is tried, nothing is lost, and the loop rests until the first is due.
    rest = deliver(app_client)
    assert isinstance(rest, Idle) and rest.due_in is not None
    assert 0 < rest.due_in <= min(n["next_attempt_at"] for n in pending) - clock.now
    assert [n["attempts"] for n in notices(app_client).pending()] == [1] * len(REGIONS)

    cloud.kms_down = False
    clock.now += MAX_BACKOFF_SECONDS
    assert deliver(app_client) == len(REGIONS)
    assert notices(app_client).pending() == []
    assert [n[0] for n in cloud.owner_notices] == list(REGIONS)


def test_the_pause_between_tries_grows_to_a_limit() -> None:
    pauses = [backoff(n) for n in range(1, 12)]
    assert pauses == sorted(pauses)
    assert pauses[0] < pauses[3]
    assert max(pauses) == MAX_BACKOFF_SECONDS


def test_a_failed_change_leaves_no_notice(app_client: TestClient, databases: Databases) -> None:
    """The notice commits with the change, or not at all: a refused change tells kms nothing."""
    admin, member = site_with_member(app_client, "acme")
    assert patch_role(app_client, "acme", admin, admin, "viewer").status_code == 409
    assert patch_role(app_client, "acme", admin, "0" * 32, "admin").status_code == 404
    assert notices(app_client).pending() == []
    assert patch_role(app_client, "acme", admin, member, "admin").status_code == 200
    assert len(notices(app_client).pending()) == len(REGIONS)


def test_the_revisions_build_exactly_the_models(tmp_path: Path) -> None:
    backend = SqliteBackend(tmp_path)
    backend.migrate(SCHEMA, GLOBAL_SHARD)
    engine = create_engine(f"sqlite:///{backend.path('identity', GLOBAL_SHARD)}")
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            assert compare_metadata(context, SCHEMA.metadata) == []
    finally:
        engine.dispose()


def test_a_deleted_account_is_restorable_until_its_grace_ends_then_erased(
    app_client: TestClient, databases: Databases, clock: SettableClock
) -> None:
    """Time is the settable clock: the default grace is `site_grace_days` (14 days)."""
    admin, member = site_with_member(app_client, "acme")
    _, other = site_with_member(app_client, "globex")
    changes = app_client.app.state.changes  # type: ignore[attr-defined]
    audit = app_client.app.state.audit  # type: ignore[attr-defined]
    erasures = AccountErasures(databases, changes, audit, clock=clock)
    as_admin = as_user("acme", admin)
    member_login = {"site": "acme", "email": "member@acme.test", "password": PASSWORD}

    assert app_client.delete(f"/rest/identity/accounts/{member}", headers=as_admin).is_success
    listed = app_client.get("/rest/identity/accounts", headers=as_admin).json()["accounts"]
    assert {a["account_id"]: a["deleted"] for a in listed}[member] is True
    deactivated = app_client.post("/login", json=member_login)
    assert (deactivated.status_code, deactivated.json()["error"]) == (403, "account_deactivated")
    patched = app_client.patch(
        f"/rest/identity/accounts/{member}", headers=as_admin, json={"role": "admin"}
    )
    assert (patched.status_code, patched.json()["error"]) == (409, "account_deleted")
    # Only the site's own admin restores it, and only a deleted account.
    as_member = as_user("acme", member, role="member")
    refused = app_client.post(f"/rest/identity/accounts/{member}/restore", headers=as_member)
    assert refused.status_code == 403
    foreign = as_user("globex", other)
    elsewhere = app_client.post(f"/rest/identity/accounts/{member}/restore", headers=foreign)
    assert (elsewhere.status_code, elsewhere.json()["error"]) == (404, "account_not_found")
    not_deleted = app_client.post(f"/rest/identity/accounts/{admin}/restore", headers=as_admin)
    assert (not_deleted.status_code, not_deleted.json()["error"]) == (409, "account_not_deleted")

    clock.now += 14 * 86_400 - 1
    assert asyncio.run(erasures.erase_due()) == 0
    back = app_client.post(f"/rest/identity/accounts/{member}/restore", headers=as_admin)
    assert back.status_code == 200, back.text
    assert (back.json()["active"], back.json()["deleted"]) == (True, False)
    assert app_client.post("/login", json=member_login).status_code == 200
    clock.now += 30 * 86_400
    assert asyncio.run(erasures.erase_due()) == 0  # restored: never erased

    assert app_client.delete(f"/rest/identity/accounts/{member}", headers=as_admin).is_success
    clock.now += 14 * 86_400
    assert asyncio.run(erasures.erase_due()) == 1
    with databases.engine_for(GLOBAL_SHARD).connect() as connection:
        recorded = [json.loads(e) for e in connection.scalars(select(AuditOutboxRow.event))]
    erased = [e for e in recorded if e["action"] == "account_erased"]
    assert [(e["target"], e["actor"]) for e in erased] == [
        (member, {"type": "service", "id": "identity"})
    ]
    gone = app_client.post(f"/rest/identity/accounts/{member}/restore", headers=as_admin)
    assert (gone.status_code, gone.json()["error"]) == (404, "account_not_found")
    assert app_client.post("/login", json=member_login).status_code == 401  # no such account
    listed = app_client.get("/rest/identity/accounts", headers=as_admin).json()["accounts"]
    assert member not in {a["account_id"] for a in listed}
    assert other in {  # the other site's accounts are untouched
        a["account_id"]
        for a in app_client.get("/rest/identity/accounts", headers=foreign).json()["accounts"]
    }
