"""Streamed calls: a large answer arrives piece by piece, a bare 503 is retried before any body
is read, and a body cut short is an error, never a short answer that looks complete.

A real aiohttp server on loopback plays the callee.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from loopback_callee import client_of
from tenantry.platform.client import ServiceClient
from tenantry.platform.errors import ApiError

BIG = os.urandom(20 * 1024 * 1024)


async def _callee(hits: Counter[str]) -> web.Application:
    async def big(request: web.Request) -> web.StreamResponse:
        hits["big"] += 1
        if hits["big"] < 2:
            return web.Response(status=503, text="warming up")
        answer = web.StreamResponse(headers={"content-length": str(len(BIG))})
        await answer.prepare(request)
        for start in range(0, len(BIG), 1024 * 1024):
            await answer.write(BIG[start : start + 1024 * 1024])
        return answer

    async def cut(request: web.Request) -> web.StreamResponse:
        answer = web.StreamResponse(headers={"content-length": str(len(BIG))})
        await answer.prepare(request)
        await answer.write(BIG[: 3 * 1024 * 1024])
        assert request.transport is not None
        request.transport.close()  # stop short of the declared length
        return answer

    app = web.Application()
    app.router.add_get("/big", big)
    app.router.add_get("/cut", cut)
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[ServiceClient, Counter[str]]]:
    hits: Counter[str] = Counter()
    async with client_of(await _callee(hits), tmp_path) as client:
        yield client, hits


async def test_a_large_answer_streams_whole_after_a_retried_503(
    served: tuple[ServiceClient, Counter[str]],
) -> None:
    client, hits = served
    received = bytearray()
    largest = 0
    async with client.stream("notes", "GET", "/big", piece_bytes=64 * 1024) as answer:
        assert answer.status == 200
        assert answer.headers["content-length"] == str(len(BIG))
        async for piece in answer.pieces():
            largest = max(largest, len(piece))
            received += piece
    assert bytes(received) == BIG
    assert largest <= 64 * 1024
    assert hits["big"] == 2


async def test_a_body_cut_short_is_an_error(served: tuple[ServiceClient, Counter[str]]) -> None:
    client, _ = served
    received = bytearray()
    with pytest.raises(ApiError) as cut:
        async with client.stream("notes", "GET", "/cut") as answer:
            async for piece in answer.pieces():
                received += piece
    assert cut.value.code == "upstream_body_incomplete"
    assert len(received) < len(BIG) and bytes(received) == BIG[: len(received)]
