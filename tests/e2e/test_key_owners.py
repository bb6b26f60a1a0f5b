"""Root key owners in a running cloud: set with the CLI, and a rotation when the owner changes.

An owner is an admin account of some site. When an admin of that site changes the owner's role
or removes the account (through the edge), identity tells every region's kms, and the region
whose root key the account owns rotates it by itself: a new version with no owner, every data
key rewrapped, the reason in the audit log (`tenantry keys audit`).
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from typer.testing import CliRunner

from e2e.api import Site, signup
from e2e.cloud import Cloud, tenantry
from e2e.service_calls import call_as, data_key
from tenantry.cli.keys import keys_app

pytestmark = pytest.mark.e2e

T = TypeVar("T")
WAIT_SECONDS = 90.0
PASSWORD = "correct horse battery staple"


def keys_cli(cloud: Cloud, *args: str) -> Any:
    result = CliRunner().invoke(
        keys_app, [*args, "--data-dir", str(cloud.data_dir)], env={"COLUMNS": "200"}
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def keys_list(cloud: Cloud) -> str:
    """`tenantry keys list` as an operator runs it, in a wide terminal."""
    listed = tenantry("keys", "list", "--data-dir", str(cloud.data_dir))
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def root_keys(cloud: Cloud, region: str) -> list[dict[str, Any]]:
    listed = call_as(cloud, "operator", "kms", "GET", "/internal/kms/root-keys", region=region)
    assert listed.status == 200, listed.body
    return list(listed.json())


def active_key(cloud: Cloud, region: str) -> dict[str, Any]:
    (active,) = [key for key in root_keys(cloud, region) if key["state"] == "active"]
    return active


def current_data_key(cloud: Cloud, site: Site) -> Any:
    """The site's current data key, straight from kms, as the issues service asks for it."""
    answer = data_key(cloud, site)
    assert answer.status == 200, answer.body
    return answer.json()


def audit(cloud: Cloud, region: str) -> list[dict[str, Any]]:
    result = keys_cli(cloud, "audit", "--region", region, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def audited(
    cloud: Cloud, region: str, what: str, match: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """The last audit entry of `region` that `match`es, waiting for it to be written.

    kms writes an entry once the change it records is done, so a change can be seen a moment
    before its entry is.
    """

    def probe() -> dict[str, Any] | None:
        found = [entry for entry in audit(cloud, region) if match(entry)]
        return found[-1] if found else None

    return wait_for(what, probe)


def wait_for(what: str, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


def add_account(site: Site, role: str) -> str:
    made = site.request(
        "POST",
        "/rest/identity/accounts",
        json={"email": f"{role}-{uuid.uuid4().hex[:8]}@{site.name}.test", "password": PASSWORD},
    )
    assert made.status_code == 201, made.text
    account_id = str(made.json()["account_id"])
    if role != "member":
        promoted = site.request(
            "PATCH", f"/rest/identity/accounts/{account_id}", json={"role": role}
        )
        assert promoted.status_code == 200, promoted.text
    return account_id


def make_owner(cloud: Cloud, region: str, site: Site) -> tuple[str, int]:
    """A new admin of `site` made the owner of `region`'s root key; its id and the version."""
    owner = add_account(site, "admin")
    result = keys_cli(cloud, "owner", owner, "--region", region, "--site", site.name)
    assert result.exit_code == 0, result.output
    active = active_key(cloud, region)
    assert active["owner"] == owner
    assert f"is owned by {owner}" in result.output
    return owner, int(active["version"])


def rotated_after(cloud: Cloud, region: str, version: int) -> Callable[[], dict[str, Any] | None]:
    def probe() -> dict[str, Any] | None:
        active = active_key(cloud, region)
        return active if active["version"] > version else None

    return probe


def sites_with_data(cloud: Cloud, region: str) -> list[tuple[Site, str, Any]]:
    """Two sites of `region`, each with an issue: (site, issue key, its data key)."""
    made = []
    for n in range(2):
        site = signup(cloud, region=region, via=region, prefix="owned")
        site.create_project()
        issue = site.create_issue(f"secret plan {n}", f"details {n}")
        made.append((site, issue["key"], current_data_key(cloud, site)))
    return made


def still_readable(cloud: Cloud, sites: list[tuple[Site, str, Any]]) -> None:
    for n, (site, key, before) in enumerate(sites):
        assert (
            current_data_key(cloud, site) == before
        )  # the same key, unwrapped from its new wrapping
        read = site.request("GET", f"/rest/issues/issues/{key}")
        assert read.status_code == 200, read.text
        assert read.json()["summary"] == f"secret plan {n}"
        site.create_issue("written after the rotation")


def test_the_owner_is_set_listed_and_audited(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    owner, version = make_owner(cloud, "eu", site)

    listed = keys_list(cloud)
    assert owner in listed

    events = [e for e in audit(cloud, "eu") if e["action"] == "root_key_owner_set"]
    assert {"owner": owner, "root_version": version}.items() <= events[-1].items()


def test_an_unknown_or_unfit_owner_is_refused(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    plain_user = add_account(site, "member")
    before = active_key(cloud, "au")
    cases = {
        uuid.uuid4().hex: "has no account",
        "not-an-account-id": "has no account",
        plain_user: "only an admin can own a key",
    }
    for account, message in cases.items():
        result = keys_cli(cloud, "owner", account, "--region", "au", "--site", site.name)
        assert result.exit_code == 1, result.output
        assert message in result.output
    nowhere = keys_cli(cloud, "owner", plain_user, "--region", "au", "--site", "no-such-site-x")
    assert nowhere.exit_code == 1
    assert "there is no site" in nowhere.output
    mars = keys_cli(cloud, "owner", plain_user, "--region", "mars", "--site", site.name)
    assert mars.exit_code == 2
    assert active_key(cloud, "au") == before


def test_rotate_checks_its_owner_as_keys_owner_does(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    member = add_account(site, "member")
    deactivated = add_account(site, "admin")
    off = site.request("PATCH", f"/rest/identity/accounts/{deactivated}", json={"active": False})
    assert off.status_code == 200, off.text
    before = active_key(cloud, "au")
    cases = {
        member: "only an admin can own a key",
        "nonsense": "has no account",
        uuid.uuid4().hex: "has no account",
        deactivated: "only an active admin can own a key",
    }
    for account, message in cases.items():
        result = keys_cli(
            cloud, "rotate", "--region", "au", "--owner", account, "--site", site.name
        )
        assert result.exit_code == 1, result.output
        assert message in result.output
        owned = keys_cli(cloud, "owner", account, "--region", "au", "--site", site.name)
        assert owned.exit_code == 1 and message in owned.output, owned.output
    alone = keys_cli(cloud, "rotate", "--region", "au", "--owner", member)
    assert alone.exit_code == 2 and "--site" in alone.output
    assert active_key(cloud, "au") == before  # nothing rotated, no owner named

    admin = add_account(site, "admin")
    rotated = keys_cli(cloud, "rotate", "--region", "au", "--owner", admin, "--site", site.name)
    assert rotated.exit_code == 0, rotated.output
    assert active_key(cloud, "au")["owner"] == admin


def test_kms_refuses_owner_calls_from_anyone_else(cloud: Cloud) -> None:
    body = {"account": uuid.uuid4().hex, "change": "removed"}
    for caller in ("edge", "issues"):
        refused = call_as(
            cloud, caller, "kms", "POST", "/internal/kms/owners/changed", json=body, region="eu"
        )
        assert refused.status == 403
        assert refused.json()["error"] == "route_not_allowed"
    as_identity = call_as(
        cloud,
        "identity",
        "kms",
        "POST",
        "/internal/kms/root-key/owner",
        json={"owner": "x"},
        region="eu",
    )
    assert as_identity.status == 403


def test_a_role_change_of_the_owner_rotates_the_key(cloud: Cloud) -> None:
    data = sites_with_data(cloud, "eu")
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    owner, version = make_owner(cloud, "eu", site)

    demoted = site.request("PATCH", f"/rest/identity/accounts/{owner}", json={"role": "member"})
    assert demoted.status_code == 200, demoted.text
    assert demoted.json()["role"] == "member"

    new = wait_for("eu's root key to rotate", rotated_after(cloud, "eu", version))
    assert new["owner"] is None
    assert f"local:root-eu-v{new['version']}" in keys_list(cloud)
    still_readable(cloud, data)

    audited(
        cloud,
        "eu",
        "the owner change in eu's audit log",
        lambda e: e["action"] == "root_key_owner_changed" and e["owner"] == owner,
    )
    events = audit(cloud, "eu")
    (rotation,) = [
        e
        for e in events
        if e["action"] == "root_key_rotated" and e["root_version"] == new["version"]
    ]
    assert rotation["reason"] == "owner_role_changed"
    assert rotation["rewrapped"] >= len(data)
    changed = [e for e in events if e["action"] == "root_key_owner_changed" and e["owner"] == owner]
    assert changed[-1]["from_root_version"] == version
    assert changed[-1]["change"] == "role_changed"
    assert all("key" not in entry for entry in events)


def test_removing_the_owner_rotates_the_key(cloud: Cloud) -> None:
    data = sites_with_data(cloud, "au")
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    owner, version = make_owner(cloud, "au", site)

    removed = site.request("DELETE", f"/rest/identity/accounts/{owner}")
    assert removed.status_code == 204, removed.text
    gone = site.request("DELETE", f"/rest/identity/accounts/{owner}")
    assert gone.status_code == 404

    new = wait_for("au's root key to rotate", rotated_after(cloud, "au", version))
    assert new["owner"] is None
    still_readable(cloud, data)
    rotation = audited(
        cloud,
        "au",
        "the rotation in au's audit log",
        lambda e: e["action"] == "root_key_rotated" and e["root_version"] == new["version"],
    )
    assert rotation["reason"] == "owner_removed"


def test_only_an_admin_of_the_site_changes_roles(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    owner, version = make_owner(cloud, "us", site)
    member = add_account(site, "member")
    login = site.http.post(
        "/login",
        json={"site": site.name, "email": _email_of(site, member), "password": PASSWORD},
    )
    assert login.status_code == 200, login.text
    as_member = site.headers(login.json()["token"])
    for method, body in (("PATCH", {"role": "admin"}), ("DELETE", None)):
        for target in (owner, member):
            refused = site.http.request(
                method, f"/rest/identity/accounts/{target}", headers=as_member, json=body
            )
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"] == "admin_required"

    # An admin of another site cannot reach this site's accounts at all.
    other = signup(cloud, region="us", via="us", prefix="keyowner")
    for method, body in (("PATCH", {"role": "member"}), ("DELETE", None)):
        foreign = other.request(method, f"/rest/identity/accounts/{owner}", json=body)
        assert foreign.status_code == 404, foreign.text

    # Nor may anyone call identity's operator route through the edge.
    internal = site.request("GET", f"/internal/identity/accounts/{owner}")
    assert internal.status_code == 404
    assert active_key(cloud, "us")["version"] == version
    assert active_key(cloud, "us")["owner"] == owner


def test_a_change_made_while_kms_is_down_reaches_it_later(cloud: Cloud) -> None:
    site = signup(cloud, region="us", via="us", prefix="keyowner")
    owner, version = make_owner(cloud, "eu", site)
    identity_log = cloud.data_dir / "logs" / "identity.log"
    start = identity_log.stat().st_size

    with paused(cloud.pid_of("kms", "eu")):
        demoted = site.request("PATCH", f"/rest/identity/accounts/{owner}", json={"role": "member"})
        assert demoted.status_code == 200, demoted.text
        failure = wait_for(
            "identity to fail to reach kms-eu", lambda: _failure(identity_log, start)
        )
        assert failure["kms_region"] == "eu"
        assert failure["change"] == "role_changed"

    new = wait_for("eu's root key to rotate", rotated_after(cloud, "eu", version))
    assert new["owner"] is None
    changed = audited(
        cloud,
        "eu",
        "the owner change in eu's audit log",
        lambda e: e["action"] == "root_key_owner_changed" and e["owner"] == owner,
    )
    assert changed["change"] == "role_changed"


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """Freeze a process (it accepts no more work) and let it go on afterwards."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def _failure(log: Path, start: int) -> dict[str, Any] | None:
    with log.open("rb") as lines:
        lines.seek(start)
        for line in lines:
            if b"kms_notice_failed" in line:
                entry: dict[str, Any] = json.loads(line)
                if entry.get("kms_region") == "eu":
                    return entry
    return None


def _email_of(site: Site, account_id: str) -> str:
    listed = site.request("GET", "/rest/identity/accounts")
    assert listed.status_code == 200, listed.text
    (account,) = [a for a in listed.json()["accounts"] if a["account_id"] == account_id]
    return str(account["email"])
