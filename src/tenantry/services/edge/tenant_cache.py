"""The edge's cache of tenants by site, kept fresh by following tcs's change feed.

A lookup that hits the cache costs a dict read and a clock read. A change in tcs (suspension,
resumption, removal) evicts the site within milliseconds through the long-poll of `follower`
(`change_feeds`); if the feed is lost, the whole cache is dropped, so a stale status is never
served for long.

Both kinds of entry are bounded, oldest first out: sites that exist (`MAX_SITES`, more than a
region serves) and names that do not (`MAX_UNKNOWN_SITES`), which anyone can invent by the
million, so made-up names can cost the edge neither its memory nor the real sites' entries.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from tenantry.platform.client import ServiceClient
from tenantry.platform.context import TenantContext
from tenantry.platform.errors import ApiError
from tenantry.services.edge.change_feeds import FEED_ATTEMPT_SECONDS, FeedFollower

POSITIVE_TTL_SECONDS = 60.0
NEGATIVE_TTL_SECONDS = 2.0
CONTEXT_MARGIN_SECONDS = 30.0
MAX_SITES = 1_000_000
MAX_UNKNOWN_SITES = 10_000


@dataclass(frozen=True, slots=True)
class CachedTenant:
    """A tenant as tcs described it, with the signed context to forward, until `expires`."""

    tenant: TenantContext | None
    context: str
    expires: float


class TenantCache:
    """Site -> tenant, with single-flight lookups and change-feed eviction."""

    def __init__(
        self,
        client: ServiceClient,
        *,
        max_sites: int = MAX_SITES,
        max_unknown_sites: int = MAX_UNKNOWN_SITES,
    ) -> None:
        self._client = client
        self._entries: dict[str, CachedTenant] = {}
        self._unknown: dict[str, CachedTenant] = {}
        self._limits = {True: max_sites, False: max_unknown_sites}
        self._inflight: dict[str, asyncio.Future[CachedTenant]] = {}
        self._epoch = 0
        """The last change of the feed this cache has seen (None: start the feed over)."""

    def cached(self, site: str, now: float) -> CachedTenant | None:
        """The cached entry for `site` if still fresh (the hot path: no I/O)."""
        entry = self._entries.get(site) or self._unknown.get(site)
        if entry is not None and entry.expires > now:
            return entry
        return None

    async def lookup(self, site: str) -> CachedTenant:
        """The tenant of `site`, from the cache or from tcs; `tenant` is None for no such site."""
        entry = self.cached(site, time.monotonic())
        if entry is not None:
            return entry
        pending = self._inflight.get(site)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedTenant] = asyncio.get_running_loop().create_future()
        self._inflight[site] = future
        try:
            entry = await self._fetch(site)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved when nobody else waits
            raise
        finally:
            del self._inflight[site]

    async def _fetch(self, site: str) -> CachedTenant:
        epoch = self._epoch
        response = await self._client.call(
            "tcs", "GET", "/internal/tcs/tenants/by-site/{site}", params={"site": site}
        )
        now = time.monotonic()
        if response.status == 404:
            entry = CachedTenant(None, "", now + NEGATIVE_TTL_SECONDS)
        elif response.status == 200:
            document = response.json()
            tenant = TenantContext(
                cloud_id=document["cloud_id"],
                site=document["site"],
                region=document["region"],
                shard=document["shard"],
                status=document["status"],
                key_available=document.get("key_available", True) is not False,
            )
            # Keep the entry no longer than its context stays valid, with room for the trip.
            context_left = float(document["context_expires"]) - time.time() - CONTEXT_MARGIN_SECONDS
            ttl = min(POSITIVE_TTL_SECONDS, context_left)
            entry = CachedTenant(tenant, document["context"], now + ttl)
        elif response.status == 422:
            raise ApiError(400, "invalid_site", "the site name is not valid")
        else:
            raise ApiError(503, "tenant_lookup_unavailable", "the tenant catalog did not answer")
        # A change that arrived while we were asking may have made this answer stale already.
        if epoch == self._epoch:
            self._remember(site, entry)
        return entry

    def _remember(self, site: str, entry: CachedTenant) -> None:
        """Keep `entry`, first making room by dropping the oldest entry of its kind."""
        known = entry.tenant is not None
        entries, other = (self._entries, self._unknown) if known else (self._unknown, self._entries)
        other.pop(site, None)
        entries.pop(site, None)
        while len(entries) >= self._limits[known]:
            del entries[next(iter(entries))]
        entries[site] = entry

    def sizes(self) -> tuple[int, int]:
        """How many sites, and how many unknown names, the cache holds now."""
        return len(self._entries), len(self._unknown)

    def evict(self, site: str) -> None:
        """Forget one site now."""
        self._epoch += 1
        self._entries.pop(site, None)
        self._unknown.pop(site, None)

    def clear(self) -> None:
        """Forget every site (the change feed was lost)."""
        self._epoch += 1
        self._entries.clear()
        self._unknown.clear()

    def follower(self) -> FeedFollower:
        """What follows tcs's change feed for this cache, evicting the sites that changed."""
        return FeedFollower(
            lambda query: self._client.call(
                "tcs",
                "GET",
                "/internal/tcs/changes",
                query=query,
                attempt_seconds=FEED_ATTEMPT_SECONDS,
            ),
            lambda change: self.evict(str(change["site"])),
            self.clear,
        )
