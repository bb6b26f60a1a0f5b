"""`tenantry policy check` fails on every kind of drift between the allowlist and the code."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from tenantry.platform.policy import Policy, PolicyError

SHIPPED = resources.files("tenantry").joinpath("policy.allow").read_text()


def _check(policy: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "tenantry", "policy", "check"]
    if policy is not None:
        args += ["--policy", str(policy)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_the_shipped_policy_matches_the_code() -> None:
    result = _check()
    assert result.returncode == 0, result.stderr
    assert "matches" in result.stdout


def test_a_call_the_policy_does_not_allow_is_drift(tmp_path: Path) -> None:
    policy = tmp_path / "policy.allow"
    policy.write_text(SHIPPED.replace("identity -> tcs: POST /internal/tcs/tenants\n", ""))
    result = _check(policy)
    assert result.returncode == 1
    assert "identity calls tcs: POST /internal/tcs/tenants" in result.stderr


def test_an_allowed_route_nobody_exposes_is_drift(tmp_path: Path) -> None:
    policy = tmp_path / "policy.allow"
    policy.write_text(SHIPPED + "edge -> issues: GET /rest/issues/secret-admin\n")
    result = _check(policy)
    assert result.returncode == 1
    assert "names a route issues lacks" in result.stderr


def test_an_allowed_call_no_code_makes_is_drift(tmp_path: Path) -> None:
    policy = tmp_path / "policy.allow"
    policy.write_text(SHIPPED + "identity -> tcs: GET /internal/tcs/stats\n")
    result = _check(policy)
    assert result.returncode == 1
    assert "no code makes that call" in result.stderr


def test_policy_is_default_deny() -> None:
    policy = Policy.parse("edge -> issues: GET /rest/issues/issues/{key}\n")
    assert policy.allows("edge", "issues", "GET", "/rest/issues/issues/OPS-1")
    assert not policy.allows("edge", "issues", "DELETE", "/rest/issues/issues/OPS-1")
    assert not policy.allows("edge", "issues", "GET", "/rest/issues/issues/OPS-1/comments")
    assert not policy.allows("edge", "issues", "GET", "/rest/issues/issues/")
    assert not policy.allows("identity", "issues", "GET", "/rest/issues/issues/OPS-1")
    assert not policy.allows("edge", "tcs", "GET", "/rest/issues/issues/OPS-1")


@pytest.mark.parametrize(
    "line",
    [
        "edge issues GET /x",
        "edge -> issues: FETCH /x",
        "Edge -> issues: GET /x",
        "edge -> issues: GET x",
    ],
)
def test_malformed_policy_lines_are_refused(line: str) -> None:
    with pytest.raises(PolicyError):
        Policy.parse(line)


def test_internal_routes_live_under_their_own_service_and_are_never_public() -> None:
    from tenantry.cli.policy_check import prefix_problems

    exposed = {
        ("media", "POST", "/internal/media/reseal"),
        ("media", "POST", "/internal/issues/reseal"),
        ("kms", "GET", "/kms/data-key"),
        ("issues", "GET", "/rest/issues/issues/{}"),
        ("issues", "GET", "/openapi.json"),
        ("identity", "GET", "/asap/keys/{}/{}"),
    }
    forwarded = {
        ("issues", "POST", "/internal/issues/reseal"),
        ("issues", "GET", "/rest/issues/issues/{key}"),
    }

    assert prefix_problems(exposed, forwarded) == [
        "kms serves GET /kms/data-key, which no edge forwards: its internal routes belong "
        "under /internal/kms/",
        "media serves POST /internal/issues/reseal, which no edge forwards: its internal routes "
        "belong under /internal/media/",
        "the public route POST /internal/issues/reseal of issues is internal",
    ]
