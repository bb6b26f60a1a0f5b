"""identity reseals account emails after a data key rotation; logins by email outlive version 1."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tenantry.platform.crypto import key_version

from .harness import FakeCloud
from .test_identity_api import PASSWORD, account_of, add_account, as_user, login, signup


def sealed_emails(tmp_path: Path) -> dict[str, bytes]:
    with sqlite3.connect(tmp_path / "data" / "global" / "identity.sqlite") as connection:
        rows = connection.execute("SELECT account_id, email FROM accounts").fetchall()
    connection.close()
    return dict(rows)


def reseal(client: TestClient, site: str, admin: str, **body: Any) -> Any:
    return client.post("/internal/identity/reseal", headers=as_user(site, admin), json=body)


def reseal_all(client: TestClient, site: str, admin: str, min_version: int) -> list[Any]:
    answers, cursor = [], None
    while True:
        answer = reseal(client, site, admin, cursor=cursor, limit=2, min_version=min_version)
        assert answer.status_code == 200, answer.text
        answers.append(answer.json())
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return answers


def test_emails_are_resealed_in_batches_and_logins_outlive_the_retired_version(
    client: TestClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    signup(client, "acme", "ada@acme.test")
    admin = account_of(client, "acme", "ada@acme.test")
    others = [f"user{n}@acme.test" for n in range(4)]
    for email in others:
        assert add_account(client, "acme", admin, email).status_code == 201
    tenant = cloud.tenants["acme"]
    cloud.rotate(tenant.cloud_id)

    answers = reseal_all(client, "acme", admin, min_version=2)
    assert [a["looked_at"] for a in answers] == [2, 2, 1]
    assert [a["remaining"] for a in answers] == [3, 1, 0]
    assert sum(a["resealed"] for a in answers) == 5
    assert {a["current_version"] for a in answers} == {2}
    assert {key_version(sealed) for sealed in sealed_emails(tmp_path).values()} == {2}
    # Run again (a resumed rotation): nothing is left to do.
    assert sum(a["resealed"] for a in reseal_all(client, "acme", admin, 2)) == 0

    # kms retires version 1; a fresh process holds nothing and may not get version 1 back.
    cloud.minimum[tenant.cloud_id] = 2
    client.app.state.data_keys.forget(tenant.cloud_id)  # type: ignore[attr-defined]
    for email in ["ada@acme.test", *others]:
        assert login(client, "acme", email).status_code == 200, email
    assert add_account(client, "acme", admin, "ADA@acme.test").status_code == 409
    listed = client.get("/rest/identity/accounts", headers=as_user("acme", admin)).json()
    assert sorted(a["email"] for a in listed["accounts"]) == sorted(["ada@acme.test", *others])


def test_an_email_left_under_a_retired_version_fails_closed(
    client: TestClient, cloud: FakeCloud
) -> None:
    signup(client, "acme", "ada@acme.test")
    admin = account_of(client, "acme", "ada@acme.test")
    tenant = cloud.tenants["acme"]
    cloud.rotate(tenant.cloud_id)
    cloud.minimum[tenant.cloud_id] = 2  # retired without resealing first: an operator's error
    client.app.state.data_keys.forget(tenant.cloud_id)  # type: ignore[attr-defined]
    assert login(client, "acme", "ada@acme.test").status_code == 200  # the index still works
    shown = client.get("/rest/identity/me", headers=as_user("acme", admin))
    assert shown.status_code == 500
    assert shown.json()["error"] == "data_key_retired"


def test_reseal_needs_a_tenant_and_a_cursor_it_handed_out(
    client: TestClient, cloud: FakeCloud
) -> None:
    anonymous = client.post("/internal/identity/reseal", json={})
    assert anonymous.status_code == 400
    assert anonymous.json()["error"] == "tenant_required"
    signup(client, "acme", "ada@acme.test")
    admin = account_of(client, "acme", "ada@acme.test")
    for body in ({"limit": 0}, {"cursor": "x" * 81}, {"surprise": 1}, {"min_version": -1}):
        refused = reseal(client, "acme", admin, **body)
        assert refused.status_code == 422, body


def test_display_names_are_sealed_shown_and_resealed_with_the_email(
    client: TestClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    made = client.post(
        "/signup",
        json={
            "site": "named",
            "email": "grace@named.test",
            "password": PASSWORD,
            "region": "eu",
            "display_name": "  Grace Hopper ",
        },
    )
    assert made.status_code == 201, made.text
    admin = account_of(client, "named", "grace@named.test")
    me = client.get("/rest/identity/me", headers=as_user("named", admin)).json()
    assert me["display_name"] == "Grace Hopper"
    for hostile in ("a\nb", "\u202eevil", "\x1b[2Jwiped", "c1\x9bcsi", "nul\x00"):
        bad = client.post(
            "/rest/identity/accounts",
            headers=as_user("named", admin),
            json={"email": "x@named.test", "password": "long enough pw", "display_name": hostile},
        )
        assert bad.status_code == 422, (hostile, bad.text)
        assert "must not contain" in bad.json()["message"]
    with sqlite3.connect(tmp_path / "data" / "global" / "identity.sqlite") as connection:
        (name,) = connection.execute(
            "SELECT display_name FROM accounts WHERE account_id = ?", (admin,)
        ).fetchone()
    connection.close()
    assert b"Grace" not in name and key_version(name) == 1

    cloud.rotate(cloud.tenants["named"].cloud_id)
    assert sum(a["resealed"] for a in reseal_all(client, "named", admin, 2)) == 1
    with sqlite3.connect(tmp_path / "data" / "global" / "identity.sqlite") as connection:
        (name,) = connection.execute(
            "SELECT display_name FROM accounts WHERE account_id = ?", (admin,)
        ).fetchone()
    connection.close()
    assert key_version(name) == 2
    me = client.get("/rest/identity/me", headers=as_user("named", admin)).json()
    assert me["display_name"] == "Grace Hopper"
