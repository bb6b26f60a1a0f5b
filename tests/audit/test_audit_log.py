"""The audit log through a real cloud: events land, checkpoints sign them, proofs prove them,
and the standalone verifier (run with nothing of tenantry importable) checks it all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.api import Site, add_account, eventually, signup
from e2e.cloud import Cloud

from .standalone import verify_standalone

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, storage_backend: str) -> Iterator[Cloud]:
    running = Cloud.start(tmp_path_factory.mktemp("audit") / "data")
    try:
        yield running
    finally:
        running.stop()


def events(site: Site) -> list[dict[str, object]]:
    answer = site.request("GET", "/rest/audit/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    found: list[dict[str, object]] = answer.json()["events"]
    return found


def wait_for(site: Site, action: str, count: int = 1) -> list[dict[str, object]]:
    def landed() -> bool:
        return sum(1 for e in events(site) if e["action"] == action) >= count

    eventually(f"{count} {action} event(s)", landed, seconds=20)
    return events(site)


def test_signup_and_login_are_in_the_log_and_it_verifies(cloud: Cloud, tmp_path: Path) -> None:
    site = signup(cloud)
    found = wait_for(site, "login")
    actions = [e["action"] for e in found]
    # The admin's email is sealed, so the site's first data key comes first.
    assert actions[:3] == ["data_key_created", "account_created", "login"]
    assert found[0]["actor"] == {"type": "service", "id": "identity"}  # it asked kms
    assert [e["index"] for e in found] == list(range(len(found)))
    assert {e["tenant"] for e in found} == {site.cloud_id}

    checkpoint = site.request("GET", "/rest/audit/checkpoint")
    assert checkpoint.status_code == 200, checkpoint.text
    assert checkpoint.json()["checkpoint"].startswith(f"tenantry/audit/{site.region}/")

    saved = tmp_path / "saved.note"
    first = verify_standalone(cloud, site, "--save-checkpoint", str(saved))
    assert first.returncode == 0, first.stdout + first.stderr
    add_account(site)
    wait_for(site, "account_created", 2)
    again = verify_standalone(cloud, site, "--since-checkpoint", str(saved))
    assert again.returncode == 0, again.stdout + again.stderr


def test_bad_proof_parameters_get_reason_codes(cloud: Cloud) -> None:
    site = signup(cloud)
    wait_for(site, "login")
    cases = {
        ("/rest/audit/proof/inclusion", (("index", "5"), ("size", "2"))): "index_out_of_range",
        ("/rest/audit/proof/inclusion", (("index", "0"), ("size", "999"))): "size_beyond_log",
        ("/rest/audit/proof/consistency", (("from", "2"), ("to", "1"))): "sizes_out_of_order",
        ("/rest/audit/proof/inclusion", (("index", "x"), ("size", "1"))): "invalid_request",
        ("/rest/audit/proof/consistency", (("from", "1"),)): "invalid_request",
    }
    for (path, params), code in cases.items():
        answer = site.request("GET", path, params=dict(params))
        assert 400 <= answer.status_code < 500, (path, params, answer.text)
        assert answer.json()["error"] == code, (path, params, answer.text)
