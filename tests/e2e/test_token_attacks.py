"""Attacks on the service-to-service layer, tried against a real cloud's internal listeners.

The attacker here is an insider on the network: it can reach the issues service directly and
holds some keys (or none). Each attempt must be refused with its reason code and leave a
security event in the service's log.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tenantry.platform.service_keys import ServiceKey, load_service_key
from tenantry.platform.tokens import TokenSigner

from .api import Site, signup
from .cloud import Cloud

pytestmark = pytest.mark.backend_neutral

ISSUES_PATH = "/rest/issues/issues?project=OPS"


def _forge(
    key: Any,
    kid: str,
    *,
    iss: str = "edge",
    aud: str = "issues",
    now: int | None = None,
    lifetime: int = 60,
    nbf_offset: int = 0,
    **extra: Any,
) -> str:
    now = int(time.time()) if now is None else now
    claims = {
        "iss": iss,
        "sub": iss,
        "aud": aud,
        "jti": uuid.uuid4().hex,
        "iat": now,
        "nbf": now + nbf_offset,
        "exp": now + lifetime,
        **extra,
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})


class Insider:
    """Direct access to one region's issues service, with the keys found in the data dir."""

    def __init__(self, cloud: Cloud, site: Site) -> None:
        self.cloud = cloud
        self.site = site
        directory = cloud.directory()
        self.issues_url = directory["services"]["issues"][site.region]
        self.tcs_url = directory["services"]["tcs"]["global"]
        self.edge_key: ServiceKey = load_service_key(cloud.data_dir, "edge")
        self.edge = TokenSigner(self.edge_key)
        self.http = httpx.Client(verify=cloud.ssl_context(), timeout=10.0, trust_env=False)

    def context_of(self, site: Site) -> str:
        token = self.edge.sign("tcs")
        found = self.http.get(
            f"{self.tcs_url}/internal/tcs/tenants/by-site/{site.name}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert found.status_code == 200, found.text
        return str(found.json()["context"])

    def call(
        self,
        token: str | None,
        *,
        context: str | None = None,
        url: str | None = None,
        path: str = ISSUES_PATH,
    ) -> httpx.Response:
        headers = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if context is not None:
            headers["X-Tenantry-Tenant-Context"] = context
        return self.http.get((url or self.issues_url) + path, headers=headers)

    def tenant_claims(self) -> dict[str, str]:
        return {
            "tenantry_tenant": self.site.cloud_id,
            "tenantry_user": "u1",
            "tenantry_role": "admin",
        }


@pytest.fixture(scope="module")
def insider(fleet_cloud: Cloud) -> Insider:
    site = signup(fleet_cloud, region="eu", prefix="victim")
    site.create_project()
    return Insider(fleet_cloud, site)


def _refused(response: httpx.Response, status: int, code: str, insider: Insider) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    log = insider.cloud.data_dir / "logs" / f"issues-{insider.site.region}.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = [
            json.loads(line) for line in log.read_text().splitlines() if "security_event" in line
        ]
        if any(event.get("reason") == code for event in events):
            return
        time.sleep(0.1)
    raise AssertionError(f"no security event {code!r} in {log}")


def test_a_well_formed_call_is_served(insider: Insider) -> None:
    """The control: the same insider path with honest credentials works."""
    token = insider.edge.sign("issues", insider.tenant_claims())
    response = insider.call(token, context=insider.context_of(insider.site))
    assert response.status_code == 200, response.text


def test_no_token(insider: Insider) -> None:
    _refused(insider.call(None), 401, "token_missing", insider)


def test_bad_signature(insider: Insider) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = _forge(stranger, insider.edge_key.kid, **insider.tenant_claims())
    _refused(insider.call(token), 401, "token_bad_signature", insider)


def test_wrong_audience(insider: Insider) -> None:
    token = insider.edge.sign("identity", insider.tenant_claims())
    _refused(insider.call(token), 401, "token_wrong_audience", insider)


def test_expired(insider: Insider) -> None:
    token = _forge(insider.edge_key.private_key, insider.edge_key.kid, now=int(time.time()) - 600)
    _refused(insider.call(token), 401, "token_expired", insider)


def test_not_yet_valid(insider: Insider) -> None:
    token = _forge(insider.edge_key.private_key, insider.edge_key.kid, nbf_offset=300, lifetime=600)
    _refused(insider.call(token), 401, "token_not_yet_valid", insider)


def test_lifetime_over_an_hour(insider: Insider) -> None:
    token = _forge(insider.edge_key.private_key, insider.edge_key.kid, lifetime=3601 + 60)
    _refused(insider.call(token), 401, "token_lifetime_too_long", insider)


def test_unknown_kid(insider: Insider) -> None:
    token = _forge(insider.edge_key.private_key, "edge/never-issued")
    _refused(insider.call(token), 401, "token_unknown_kid", insider)


def test_kid_with_path_traversal(insider: Insider) -> None:
    token = _forge(insider.edge_key.private_key, "edge/../tcs/k1")
    _refused(insider.call(token), 401, "token_bad_kid", insider)


def test_kid_of_another_issuer(insider: Insider) -> None:
    tcs_key = load_service_key(insider.cloud.data_dir, "tcs")
    token = _forge(tcs_key.private_key, tcs_key.kid, iss="edge")
    _refused(insider.call(token), 401, "token_issuer_mismatch", insider)


def test_route_not_on_the_allowlist(insider: Insider) -> None:
    # identity holds a valid key, but the policy gives it no route on issues.
    identity = TokenSigner(load_service_key(insider.cloud.data_dir, "identity"))
    token = identity.sign("issues", insider.tenant_claims())
    _refused(
        insider.call(token, context=insider.context_of(insider.site)),
        403,
        "route_not_allowed",
        insider,
    )


def test_another_tenants_context(insider: Insider) -> None:
    other = signup(insider.cloud, region="eu", prefix="other")
    token = insider.edge.sign("issues", insider.tenant_claims())
    _refused(
        insider.call(token, context=insider.context_of(other)), 403, "tenant_mismatch", insider
    )


def test_tenant_context_not_signed_by_tcs(insider: Insider) -> None:
    real = jwt.decode(insider.context_of(insider.site), options={"verify_signature": False})
    forged = _forge(
        insider.edge_key.private_key,
        insider.edge_key.kid,
        iss="edge",
        aud="tenantry-tenant-context",
        lifetime=300,
        tenant=real["tenant"],
    )
    token = insider.edge.sign("issues", insider.tenant_claims())
    _refused(insider.call(token, context=forged), 403, "tenant_context_untrusted", insider)


def test_replayed_jti_is_refused(insider: Insider) -> None:
    token = insider.edge.sign("issues", insider.tenant_claims())
    context = insider.context_of(insider.site)
    assert insider.call(token, context=context).status_code == 200
    _refused(insider.call(token, context=context), 401, "token_replayed", insider)


@pytest.fixture
def second_issues_process(insider: Insider) -> Iterator[str]:
    """Another process of the same issues service, on the same data, as a fleet would run."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    region = insider.site.region
    log = insider.cloud.data_dir / "logs" / f"issues-{region}.log"
    with log.open("ab") as sink, listener:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tenantry",
                "serve",
                "--process",
                f"issues-{region}",
                "--region",
                region,
                "--listen",
                f"issues={listener.fileno()}",
                "--data-dir",
                str(insider.cloud.data_dir),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            pass_fds=(listener.fileno(),),
        )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if insider.http.get(url + "/_health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "the second issues process died"
            assert time.monotonic() < deadline, "the second issues process never answered"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_jti_replayed_against_a_second_process_is_refused(
    insider: Insider, second_issues_process: str
) -> None:
    token = insider.edge.sign("issues", insider.tenant_claims())
    context = insider.context_of(insider.site)
    assert insider.call(token, context=context).status_code == 200
    replay = insider.call(token, context=context, url=second_issues_process)
    assert replay.status_code == 401, replay.text
    assert replay.json()["error"] == "token_replayed"
    # And the other way round: first use on the second process, replay on the first.
    token = insider.edge.sign("issues", insider.tenant_claims())
    assert insider.call(token, context=context, url=second_issues_process).status_code == 200
    _refused(insider.call(token, context=context), 401, "token_replayed", insider)


def test_identity_serves_the_key_repository_to_both_asap_implementations(
    insider: Insider,
) -> None:
    from atlassian_jwt_auth.key import HTTPSPublicKeyRetriever
    from atlassian_jwt_auth.verifier import JWTAuthVerifier

    from tenantry.platform.keyrepo_http import HttpKeyRepository
    from tenantry.platform.tokens import TokenVerifier

    base = insider.cloud.directory()["services"]["identity"]["global"] + "/asap/keys/"
    token = insider.edge.sign("issues")
    ours = TokenVerifier(
        audience="issues", keys=HttpKeyRepository(base, Path(insider.cloud.ca)), replay=None
    )
    assert ours.verify(token)["iss"] == "edge"
    retriever = HTTPSPublicKeyRetriever(base)
    claims = JWTAuthVerifier(retriever).verify_jwt(token, "issues", verify=insider.cloud.ca)
    assert claims["iss"] == "edge"


@pytest.mark.parametrize(
    "path", ["edge/never", "edge/..%2f..%2fca-key", "..%2Fkeys/k1", "edge/k1/extra", "Edge/k1"]
)
def test_the_key_repository_reveals_nothing_else(insider: Insider, path: str) -> None:
    url = insider.cloud.directory()["services"]["identity"]["global"] + "/asap/keys/" + path
    response = insider.http.get(url)
    assert response.status_code in (400, 404), response.text
    assert response.json()["error"] in ("invalid_kid", "unknown_kid", "not_found")
    assert b"PRIVATE" not in response.content
