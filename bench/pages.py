"""Pages against issues through the edge, in the same run: page save and page view next to issue
create and issue read; and the server's rendering of a 100 KB document.

A cloud is started (SQLite, in a temporary directory) and one site of `eu` gets a project and a
space. Each round runs, interleaved one request at a time so all four see the same machine:
an issue create (`POST /rest/issues/issues`, a 200-character description), an issue read, a
page save (`PUT /rest/pages/pages/{id}`, a new version of a page whose body is a 200-character
paragraph) and a page view (`GET`, which renders the body). Reported: requests/s over the run's
requests of each kind, p50 and p99 latency, and the page/issue ratios (goal: within 1.5x).
`--threads T` runs T such interleaved clients at once (each with its own page).

Then, in this process, a document of about 100 KB of JSON (headings, paragraphs with marks and
links, lists, a table, code) is rendered to HTML and to text, and validated, `--renders` times
each; reported is the p50 of each (goal for HTML: under 5 ms).

Run: `.venv/bin/python bench/pages.py [--requests N] [--threads T] [--renders R]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from tenantry.services.pages.document import validate_document
from tenantry.services.pages.render import to_html, to_text

PASSWORD = "correct horse battery staple"
KINDS = ("issue create", "issue read", "page save", "page view")


def start(data: Path) -> tuple[subprocess.Popen[bytes], dict[str, str], ssl.SSLContext]:
    with (data.parent / "up.out").open("ab") as sink:
        up = subprocess.Popen(
            [sys.executable, "-m", "tenantry", "up", "--data-dir", str(data)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + 120
    while not (data / "cloud.json").exists():
        if up.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"tenantry up did not start: see {data.parent / 'up.out'}")
        time.sleep(0.2)
    document = json.loads((data / "cloud.json").read_text())
    return up, document["edges"], ssl.create_default_context(cafile=document["ca"])


def paragraph(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


def site(http: httpx.Client) -> dict[str, str]:
    name = f"bench-pages-{os.getpid()}"
    body = {"site": name, "email": f"admin@{name}.test", "password": PASSWORD, "region": "eu"}
    assert http.post("/signup", json=body).status_code == 201
    login = {"site": name, "email": f"admin@{name}.test", "password": PASSWORD}
    token = http.post("/login", json=login).json()["token"]
    headers = {"X-Tenantry-Site": name, "Authorization": f"Bearer {token}"}
    made = http.post("/rest/issues/projects", json={"key": "OPS", "name": "Ops"}, headers=headers)
    assert made.status_code == 201, made.text
    space = http.post("/rest/pages/spaces", json={"key": "ENG", "name": "Eng"}, headers=headers)
    assert space.status_code == 201, space.text
    return headers


def client_rounds(
    http: httpx.Client, headers: dict[str, str], requests: int, times: dict[str, list[float]]
) -> None:
    """`requests` rounds of the four requests, one after another, each timed."""
    text = "x" * 200
    page = http.post(
        "/rest/pages/pages",
        json={
            "space": "ENG",
            "title": "Bench",
            "body": {"type": "doc", "content": [paragraph(text)]},
        },
        headers=headers,
    )
    assert page.status_code == 201, page.text
    page_id, version = page.json()["id"], 1

    def timed(kind: str, call: Callable[[], httpx.Response], status: int) -> httpx.Response:
        began = time.perf_counter()
        answer = call()
        times[kind].append(time.perf_counter() - began)
        assert answer.status_code == status, answer.text
        return answer

    for number in range(requests):
        issue = timed(
            "issue create",
            lambda n=number: http.post(
                "/rest/issues/issues",
                json={"project": "OPS", "summary": f"issue {n}", "description": text},
                headers=headers,
            ),
            201,
        )
        key = issue.json()["key"]
        timed(
            "issue read", lambda k=key: http.get(f"/rest/issues/issues/{k}", headers=headers), 200
        )
        body = {"type": "doc", "content": [paragraph(f"{number} {text}")]}
        timed(
            "page save",
            lambda b=body, v=version: http.put(
                f"/rest/pages/pages/{page_id}",
                json={"title": "Bench", "body": b, "version": v},
                headers=headers,
            ),
            200,
        )
        version += 1
        timed("page view", lambda: http.get(f"/rest/pages/pages/{page_id}", headers=headers), 200)


def through_the_edge(requests: int, threads: int) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        data = Path(tmp) / "data"
        up, edges, tls = start(data)
        try:
            clients = [
                httpx.Client(base_url=edges["eu"], verify=tls, timeout=30.0, trust_env=False)
                for _ in range(threads)
            ]
            headers = site(clients[0])
            times: dict[str, list[float]] = {kind: [] for kind in KINDS}
            workers = [
                threading.Thread(target=client_rounds, args=(c, headers, requests, times))
                for c in clients
            ]
            began = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - began
            for http in clients:
                http.close()
        finally:
            up.send_signal(signal.SIGINT)
            up.wait(timeout=60)
    results = {}
    for kind, samples in times.items():
        ordered = sorted(samples)
        results[kind] = {
            # Each kind's share of the run's wall time, as requests/s of that kind alone.
            "per_s": len(samples) / (elapsed * sum(samples) / sum(map(sum, times.values()))),
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        }
    return results


def large_document(target_bytes: int = 100_000) -> dict[str, Any]:
    """About `target_bytes` of JSON in the nodes a real page holds."""
    link = {"type": "link", "attrs": {"href": "https://example.com/docs/runbook#section"}}
    blocks: list[dict[str, Any]] = []
    while len(orjson.dumps({"type": "doc", "content": blocks})) < target_bytes:
        n = len(blocks)
        blocks.append(
            {
                "type": "heading",
                "attrs": {"level": 2},
                "content": [{"type": "text", "text": f"Section {n}"}],
            }
        )
        blocks.append(
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Drain the node before the upgrade & check <logs>. "},
                    {"type": "text", "text": "strongly", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": " see the runbook", "marks": [link, {"type": "em"}]},
                    {"type": "mention", "attrs": {"id": "acc-42", "text": "@Ada"}},
                ],
            }
        )
        blocks.append(
            {
                "type": "bulletList",
                "content": [
                    {"type": "listItem", "content": [paragraph(f"item {i} of {n}")]}
                    for i in range(3)
                ],
            }
        )
        blocks.append(
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableCell", "content": [paragraph(f"r{r}c{c}")]}
                            for c in range(3)
                        ],
                    }
                    for r in range(2)
                ],
            }
        )
        blocks.append(
            {
                "type": "codeBlock",
                "attrs": {"language": "sh"},
                "content": [{"type": "text", "text": "kubectl drain node-1\n"}],
            }
        )
    return {"type": "doc", "content": blocks}


def p50_ms(work: Callable[[], object], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        work()
        samples.append(time.perf_counter() - began)
    return 1000 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="rounds per client")
    parser.add_argument("--threads", type=int, default=1, help="clients at once")
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()

    document = large_document()
    size = len(orjson.dumps(document))
    html = p50_ms(lambda: to_html(document), args.renders)
    text = p50_ms(lambda: to_text(document), args.renders)
    checked = p50_ms(lambda: validate_document(document), max(10, args.renders // 10))
    print(f"document: {size} bytes of JSON, {len(to_html(document))} bytes of HTML")
    print(
        f"render to HTML p50 {html:.2f} ms; to text p50 {text:.2f} ms; "
        f"validate p50 {checked:.2f} ms"
    )

    results = through_the_edge(args.requests, args.threads)
    print(f"{'request':<14}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for kind, r in results.items():
        print(f"{kind:<14}{r['per_s']:>9.1f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}")
    for page, issue in (("page save", "issue create"), ("page view", "issue read")):
        print(
            f"{page} / {issue}: p50 {results[page]['p50_ms'] / results[issue]['p50_ms']:.2f}x, "
            f"p99 {results[page]['p99_ms'] / results[issue]['p99_ms']:.2f}x, "
            f"throughput {results[page]['per_s'] / results[issue]['per_s']:.2f}x"
        )
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
