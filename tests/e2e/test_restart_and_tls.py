"""A killed service comes back, a restart of `up` keeps every byte and every edge URL, and every
listener speaks only strict TLS."""

from __future__ import annotations

import os
import signal
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tls_probes import handshake

from .api import log_in, signup
from .cloud import Cloud


def _ports(cloud: Cloud) -> dict[str, int]:
    ports = {}
    for service, regions in cloud.directory()["services"].items():
        for region, url in regions.items():
            ports[f"{service}-{region}"] = int(urlsplit(url).port or 443)
    return ports


def test_every_listener_refuses_tls_1_1_and_non_forward_secret_suites(each_layout: Cloud) -> None:
    ports = _ports(each_layout)
    # identity, tcs; edge, issues, kms, media, audit, pages, analytics, privacy and (where
    # backups run) backup each: a listener per service in either layout
    regional = 9 if each_layout.topology().backup.enabled else 8
    assert len(ports) == 2 + regional * len(each_layout.edges)
    for name, port in ports.items():
        assert handshake("127.0.0.1", port, max_version=None, ciphers=None), name
        assert not handshake("127.0.0.1", port, max_version=ssl.TLSVersion.TLSv1_1, ciphers=None), (
            f"{name} accepted TLS 1.1"
        )
        assert not handshake(
            "127.0.0.1",
            port,
            max_version=ssl.TLSVersion.TLSv1_2,
            ciphers="AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA",
        ), f"{name} accepted a suite without forward secrecy"


@pytest.mark.backend
def test_a_killed_service_comes_back_and_a_restarted_up_keeps_all_data_and_ports(
    tmp_path: Path,
) -> None:
    """SIGKILL the process of us's issues right after a burst of writes: `up` brings it back,
    every 201 survives; then stop and start `up`: every byte is kept, the edges keep their URLs."""
    data_dir = tmp_path / "data"
    cloud = Cloud.start(data_dir)
    try:
        site = signup(cloud, region="us", prefix="killed")
        site.create_project()
        acknowledged = [site.create_issue(f"write {number}")["key"] for number in range(40)]
        comment = {"body": "still here"}
        posted = site.request("POST", "/rest/issues/issues/OPS-1/comments", json=comment)
        assert posted.status_code == 201
        process = cloud.process_of("issues", "us")  # region-us: its edge and services
        os.kill(cloud.pids()[process], signal.SIGKILL)
        cloud.wait_restarted(process)
        assert cloud.running
        assert f"{process} exited with signal SIGKILL; restarting it" in cloud.output_text()
        listed = site.request(
            "GET", "/rest/issues/issues", params={"project": "OPS", "limit": "100"}
        )
        assert listed.status_code == 200, listed.text
        assert [issue["key"] for issue in listed.json()["issues"]] == acknowledged
    finally:
        cloud.stop()
    again = Cloud.start(data_dir)
    try:
        assert again.edges == cloud.edges
        http = again.http("us")
        headers = log_in(site, http).headers()
        issue = http.get("/rest/issues/issues/OPS-1", headers=headers)
        assert issue.status_code == 200
        assert issue.json()["summary"] == "write 0"
        comments = http.get("/rest/issues/issues/OPS-1/comments", headers=headers)
        assert "still here" in comments.text
        # The old token still works too: identity's key survived the restart.
        assert http.get("/rest/issues/issues/OPS-1", headers=site.headers()).status_code == 200
        nxt = http.post(
            "/rest/issues/issues",
            headers=headers,
            json={"project": "OPS", "summary": "next", "description": ""},
        )
        assert nxt.json()["key"] == "OPS-41"
    finally:
        again.stop()
