"""identity keeps emails sealed at rest, and still signs people in by email."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import jwt
from fastapi.testclient import TestClient

from tenantry.platform import claims as claim
from tenantry.platform.crypto import key_version

from .harness import FakeCloud

PASSWORD = "correct horse battery"


def signup(client: TestClient, site: str, email: str, region: str = "eu") -> dict[str, Any]:
    made = client.post(
        "/signup", json={"site": site, "email": email, "password": PASSWORD, "region": region}
    )
    assert made.status_code == 201, made.text
    return dict(made.json())


def login(client: TestClient, site: str, email: str, password: str = PASSWORD) -> Any:
    return client.post("/login", json={"site": site, "email": email, "password": password})


def as_user(site: str, account_id: str, role: str = "admin") -> dict[str, str]:
    return {"x-test-site": site, "x-test-user": account_id, "x-test-role": role}


def account_of(client: TestClient, site: str, email: str) -> str:
    token = login(client, site, email).json()["token"]
    return str(jwt.decode(token, options={"verify_signature": False})[claim.USER])


def add_account(client: TestClient, site: str, admin: str, email: str) -> Any:
    return client.post(
        "/rest/identity/accounts",
        headers=as_user(site, admin),
        json={"email": email, "password": PASSWORD},
    )


def stored(tmp_path: Path, sql: str = "", **params: str) -> bytes:
    """Run `sql` on identity's database file as someone with raw access; then its bytes."""
    path = tmp_path / "data" / "global" / "identity.sqlite"
    if sql:
        with sqlite3.connect(path) as connection:
            connection.execute(sql, params)
        connection.close()
    files = sorted(path.parent.glob("identity.sqlite*"))
    assert files, "no database files to scan"
    return b"".join(f.read_bytes() for f in files)


def test_signup_forwards_the_tenant_context_to_the_tenants_region(
    client: TestClient, cloud: FakeCloud
) -> None:
    made = signup(client, "acme", "admin@acme.test", region="us")
    tenant = cloud.tenants["acme"]
    assert made == {"site": "acme", "cloud_id": tenant.cloud_id, "region": "us"}
    assert cloud.kms_calls, "the email was sealed with a key from kms"
    assert {(region, context) for region, _, context in cloud.kms_calls} == {
        ("us", cloud.context_of(tenant))
    }
    assert cloud.deleted == []


def test_login_finds_the_email_whatever_its_case_and_spacing(client: TestClient) -> None:
    signup(client, "acme", "Admin@Acme.test")
    for spelling in ("admin@acme.test", "  ADMIN@ACME.TEST ", "Admin@Acme.test"):
        answer = login(client, "acme", spelling)
        assert answer.status_code == 200, (spelling, answer.text)
    account_id = account_of(client, "acme", "admin@acme.test")
    me = client.get("/rest/identity/me", headers=as_user("acme", account_id))
    assert me.json() == {
        "account_id": account_id,
        "email": "admin@acme.test",
        "display_name": None,
        "role": "admin",
    }


def test_a_wrong_password_or_unknown_email_is_refused(client: TestClient) -> None:
    signup(client, "acme", "admin@acme.test")
    for email, password in (("admin@acme.test", "wrong password"), ("who@acme.test", PASSWORD)):
        refused = login(client, "acme", email, password)
        assert refused.status_code == 401
        assert refused.json()["error"] == "invalid_credentials"


def test_one_account_per_email_per_site(client: TestClient) -> None:
    signup(client, "acme", "admin@acme.test")
    admin = account_of(client, "acme", "admin@acme.test")
    assert add_account(client, "acme", admin, "dev@acme.test").status_code == 201
    again = add_account(client, "acme", admin, " DEV@acme.TEST")
    assert again.status_code == 409
    assert again.json()["error"] == "account_exists"
    # Another site may have the same email.
    signup(client, "other", "dev@acme.test")
    assert login(client, "other", "dev@acme.test").status_code == 200


def test_accounts_are_listed_by_email(client: TestClient) -> None:
    signup(client, "acme", "mia@acme.test")
    admin = account_of(client, "acme", "mia@acme.test")
    for email in ("zoe@acme.test", "al@acme.test", "ned@acme.test"):
        assert add_account(client, "acme", admin, email).status_code == 201
    listed = client.get("/rest/identity/accounts", headers=as_user("acme", admin))
    assert listed.status_code == 200
    emails = [account["email"] for account in listed.json()["accounts"]]
    assert emails == ["al@acme.test", "mia@acme.test", "ned@acme.test", "zoe@acme.test"]


def test_no_email_reaches_the_database_in_plaintext(
    client: TestClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    emails = ["jane.doe@acme.test", "john.roe@acme.test"]
    signup(client, "acme", emails[0])
    signup(client, "other", emails[0])
    admin = account_of(client, "acme", emails[0])
    assert add_account(client, "acme", admin, emails[1]).status_code == 201
    raw = stored(tmp_path)
    assert cloud.tenants["acme"].cloud_id.encode() in raw, "the scan sees the rows"
    for email in emails:
        for spelling in (email, email.split("@")[0], email.upper()):
            assert spelling.encode() not in raw, spelling
            assert spelling.encode().hex().encode() not in raw, spelling
    # The same email at two sites has two unrelated indexes.
    with sqlite3.connect(tmp_path / "data" / "global" / "identity.sqlite") as connection:
        indexes = connection.execute("SELECT email_index FROM accounts").fetchall()
    connection.close()
    assert len({index for (index,) in indexes}) == 3


def test_an_email_moved_to_another_account_is_refused(client: TestClient, tmp_path: Path) -> None:
    signup(client, "acme", "admin@acme.test")
    admin = account_of(client, "acme", "admin@acme.test")
    victim = add_account(client, "acme", admin, "victim@acme.test").json()["account_id"]
    stored(
        tmp_path,
        "UPDATE accounts SET email = (SELECT email FROM accounts WHERE account_id = :source)"
        " WHERE account_id = :target",
        source=admin,
        target=victim,
    )
    for path, who in (("/rest/identity/accounts", admin), ("/rest/identity/me", victim)):
        refused = client.get(path, headers=as_user("acme", who))
        assert refused.status_code == 500, path
        assert refused.json()["error"] == "ciphertext_rejected"
        assert "admin@acme.test" not in refused.text
    # The account the ciphertext came from still reads.
    assert client.get("/rest/identity/me", headers=as_user("acme", admin)).status_code == 200


def test_a_failed_signup_gives_the_tenant_back(client: TestClient, cloud: FakeCloud) -> None:
    cloud.kms_down = True
    failed = client.post(
        "/signup",
        json={"site": "acme", "email": "a@acme.test", "password": PASSWORD, "region": "eu"},
    )
    assert failed.status_code == 503
    assert failed.json()["error"] == "kms_unavailable"
    assert len(cloud.deleted) == 1
    assert "acme" not in cloud.tenants
    cloud.kms_down = False
    signup(client, "acme", "a@acme.test")
    assert login(client, "acme", "a@acme.test").status_code == 200


def test_logins_survive_a_data_key_rotation(
    client: TestClient, cloud: FakeCloud, tmp_path: Path
) -> None:
    signup(client, "acme", "old@acme.test")
    admin = account_of(client, "acme", "old@acme.test")
    tenant = cloud.tenants["acme"]
    cloud.rotate(tenant.cloud_id)
    client.app.state.data_keys.forget(tenant.cloud_id)  # type: ignore[attr-defined]
    made = add_account(client, "acme", admin, "new@acme.test")
    assert made.status_code == 201
    for email in ("old@acme.test", "new@acme.test"):
        assert login(client, "acme", email).status_code == 200, email
    assert add_account(client, "acme", admin, "OLD@acme.test").status_code == 409
    with sqlite3.connect(tmp_path / "data" / "global" / "identity.sqlite") as connection:
        sealed = dict(connection.execute("SELECT account_id, email FROM accounts").fetchall())
    connection.close()
    assert key_version(sealed[admin]) == 1
    assert key_version(sealed[made.json()["account_id"]]) == 2
    listed = client.get("/rest/identity/accounts", headers=as_user("acme", admin)).json()
    assert [a["email"] for a in listed["accounts"]] == ["new@acme.test", "old@acme.test"]
