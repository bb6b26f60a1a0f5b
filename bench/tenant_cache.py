"""How long the edge takes to find a tenant it has cached (goal: p50 at most 10 µs).

Measures `TenantCache.lookup` on a hit, the call every request makes, with 100 and with
100,000 cached sites, and the raw `cached` read under it.
Run: `.venv/bin/python bench/tenant_cache.py`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tenantry.platform.context import TenantContext
from tenantry.services.edge.tenant_cache import CachedTenant, TenantCache

SAMPLES = 200_000


def _filled(count: int) -> TenantCache:
    cache = TenantCache(client=Any)  # type: ignore[arg-type]  # a hit never calls tcs
    expires = time.monotonic() + 3600
    for number in range(count):
        site = f"site-{number}"
        tenant = TenantContext(f"cloud-{number}", site, "eu", "eu-1", "active")
        cache._entries[site] = CachedTenant(tenant, "context-token", expires)
    return cache


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    samples_ns.sort()
    p50 = samples_ns[len(samples_ns) // 2] / 1000
    p99 = samples_ns[int(len(samples_ns) * 0.99)] / 1000
    return p50, p99


async def _measure_lookup(cache: TenantCache, sites: list[str]) -> tuple[float, float]:
    samples = []
    clock = time.perf_counter_ns
    for index in range(SAMPLES):
        site = sites[index % len(sites)]
        started = clock()
        await cache.lookup(site)
        samples.append(clock() - started)
    return _percentiles(samples)


def _measure_cached(cache: TenantCache, sites: list[str]) -> tuple[float, float]:
    samples = []
    clock = time.perf_counter_ns
    for index in range(SAMPLES):
        site = sites[index % len(sites)]
        started = clock()
        cache.cached(site, time.monotonic())
        samples.append(clock() - started)
    return _percentiles(samples)


def main() -> None:
    """Print a markdown table of the figures."""
    print("| cached sites | lookup p50 (µs) | lookup p99 (µs) | cached() p50 (µs) |")
    print("| --- | --- | --- | --- |")
    for count in (100, 100_000):
        cache = _filled(count)
        sites = [f"site-{number}" for number in range(0, count, max(1, count // 1000))]
        lookup_p50, lookup_p99 = asyncio.run(_measure_lookup(cache, sites))
        cached_p50, _ = _measure_cached(cache, sites)
        print(f"| {count:,} | {lookup_p50:.2f} | {lookup_p99:.2f} | {cached_p50:.2f} |")
    print(f"\n(median of {SAMPLES:,} timed calls each; timer overhead included)")


if __name__ == "__main__":
    main()
