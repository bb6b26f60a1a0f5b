"""The inter-service client retries only what a retry can fix, and never past the caller's patience.

A real aiohttp server on loopback plays the callee, counting what reaches it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from loopback_callee import client_of
from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError


async def _callee(hits: Counter[str]) -> web.Application:
    async def flaky(request: web.Request) -> web.Response:
        hits["flaky"] += 1
        if hits["flaky"] < 3:
            return web.Response(status=503, text="warming up")
        return web.json_response({"ok": True})

    async def considered(request: web.Request) -> web.Response:
        hits["considered"] += 1
        return web.json_response(
            {"error": "kms_unavailable"}, status=503, headers={"retry-after": "5"}
        )

    async def slow(request: web.Request) -> web.Response:
        hits["slow"] += 1
        await asyncio.sleep(2.0)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/flaky", flaky)
    app.router.add_route("*", "/considered", considered)
    app.router.add_route("*", "/slow", slow)
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ServiceClient, Counter[str]]]:
    hits: Counter[str] = Counter()
    async with client_of(await _callee(hits), tmp_path) as client:
        yield client, hits


async def test_a_bare_503_is_retried_for_an_idempotent_call(
    served: tuple[ServiceClient, Counter[str]],
) -> None:
    client, hits = served
    response = await client.send("notes", "GET", "/flaky")
    assert response.status == 200
    assert hits["flaky"] == 3


async def test_a_503_is_never_retried_for_a_post(
    served: tuple[ServiceClient, Counter[str]],
) -> None:
    client, hits = served
    response = await client.send("notes", "POST", "/flaky")
    assert response.status == 503
    assert hits["flaky"] == 1


async def test_a_503_with_retry_after_is_passed_on_at_once(
    served: tuple[ServiceClient, Counter[str]],
) -> None:
    client, hits = served
    response = await client.send("notes", "GET", "/considered")
    assert response.status == 503
    assert response.headers["retry-after"] == "5"
    assert hits["considered"] == 1


async def test_each_attempt_is_bounded_by_attempt_seconds(
    served: tuple[ServiceClient, Counter[str]],
) -> None:
    client, hits = served
    with pytest.raises(ApiError) as refused:
        await client.send("notes", "GET", "/slow", attempt_seconds=0.2)
    assert refused.value.code == "upstream_unavailable"
    # Unbounded, the first attempt would have had its answer after 2 s; each was cut off.
    assert hits["slow"] == 3
