"""How soon every region's edge answers a site a given way, each edge polled on its own."""

from __future__ import annotations

import threading
import time

from .api import Site
from .cloud import Cloud


def all_edges_answer(cloud: Cloud, site: Site, status: int, within: float) -> float:
    """Seconds until every edge answers `status` for the site (fails after `within`).

    Each edge is polled from its own thread, so a slow answer from one edge does not delay
    the moment another edge is seen to have changed.
    """
    started = time.monotonic()
    seen: dict[str, float] = {}

    def poll(region: str) -> None:
        client = site.via(cloud.http(region))
        while time.monotonic() - started < within + 1:
            if client.request("GET", "/rest/issues/projects").status_code == status:
                seen[region] = time.monotonic() - started
                return
            time.sleep(0.01)

    threads = [threading.Thread(target=poll, args=(region,)) for region in cloud.edges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(seen) == set(cloud.edges), f"edges {set(cloud.edges) - set(seen)} never {status}"
    slowest = max(seen.values())
    assert slowest < within, f"an edge took {slowest:.2f}s to answer {status}: {seen}"
    return slowest
