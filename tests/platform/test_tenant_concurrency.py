"""One tenant's flood of in-flight requests is refused while other tenants are still served."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, cast

import httpx
import orjson
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from issues_harness import HeaderContextMiddleware
from tenantry.platform.app import create_service_app
from tenantry.platform.asgi import Message, Receive, Scope, Send
from tenantry.platform.context import TenantContext, current_tenant
from tenantry.platform.http_errors import install_error_handlers
from tenantry.platform.request_middleware import RequestMiddleware
from tenantry.platform.runtime import ServiceRuntime
from tenantry.platform.service_auth import ServiceAuthMiddleware
from tenantry.platform.tenant_concurrency import TenantConcurrencyMiddleware


def _tenant(cloud_id: str) -> TenantContext:
    return TenantContext(
        cloud_id=cloud_id, site=cloud_id, region="eu", shard="eu-1", status="active"
    )


def _refused(service: str) -> float:
    value = REGISTRY.get_sample_value(
        "tenantry_tenant_concurrency_refused_total", {"service": service}
    )
    return value or 0.0


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


class GatedApp:
    """An ASGI app whose requests stay in flight until the gate opens."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered: list[str | None] = []
        self.fail = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tenant = current_tenant.get()
        self.entered.append(tenant.cloud_id if tenant else None)
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("handler failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _request(
    middleware: TenantConcurrencyMiddleware,
    tenant: str | None,
    send: Send | None = None,
) -> list[Message]:
    """Drive one HTTP request through `middleware` as `tenant`; return what it sent."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def record(message: Message) -> None:
        sent.append(message)

    if tenant is not None:
        current_tenant.set(_tenant(tenant))
    scope: Scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
    await middleware(scope, receive, send or record)
    return sent


def _status(sent: list[Message]) -> int:
    return int(sent[0]["status"])


def _start(coro: Any) -> asyncio.Task[list[Message]]:
    # Each task runs in a copy of the current context, so setting the tenant inside is private.
    return asyncio.create_task(coro)


async def test_flooding_tenant_is_refused_while_others_are_served() -> None:
    inner = GatedApp()
    middleware = TenantConcurrencyMiddleware(inner, service="t-flood", cap=2)
    before = _refused("t-flood")

    held = [_start(_request(middleware, "tenant-a")) for _ in range(2)]
    await _until(lambda: len(inner.entered) == 2)
    assert middleware.in_flight("tenant-a") == 2

    refused = await _request(middleware, "tenant-a")
    assert _status(refused) == 503
    headers = dict(refused[0]["headers"])
    assert headers[b"retry-after"] == b"1"
    body = orjson.loads(refused[1]["body"])
    assert body["error"] == "tenant_concurrency_cap"
    assert body["message"]
    assert inner.entered.count("tenant-a") == 2
    assert _refused("t-flood") == before + 1

    others = [_start(_request(middleware, "tenant-b")) for _ in range(2)]
    await _until(lambda: inner.entered.count("tenant-b") == 2)

    inner.gate.set()
    results = await asyncio.gather(*held, *others)
    assert [_status(sent) for sent in results] == [200, 200, 200, 200]
    assert middleware.in_flight("tenant-a") == 0
    assert middleware.in_flight("tenant-b") == 0

    again = await _request(middleware, "tenant-a")
    assert _status(again) == 200


async def test_count_returns_to_zero_after_handler_exceptions() -> None:
    inner = GatedApp()
    inner.fail = True
    inner.gate.set()
    middleware = TenantConcurrencyMiddleware(inner, service="t-exc", cap=1)

    for _ in range(3):
        with pytest.raises(RuntimeError):
            await _request(middleware, "tenant-a")
        assert middleware.in_flight("tenant-a") == 0

    inner.fail = False
    assert _status(await _request(middleware, "tenant-a")) == 200


async def test_count_returns_to_zero_after_cancelled_requests() -> None:
    inner = GatedApp()
    middleware = TenantConcurrencyMiddleware(inner, service="t-cancel", cap=1)

    task = _start(_request(middleware, "tenant-a"))
    await _until(lambda: middleware.in_flight("tenant-a") == 1)
    assert _status(await _request(middleware, "tenant-a")) == 503

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert middleware.in_flight("tenant-a") == 0

    inner.gate.set()
    assert _status(await _request(middleware, "tenant-a")) == 200


async def test_count_returns_to_zero_when_the_client_has_gone() -> None:
    inner = GatedApp()
    inner.gate.set()
    middleware = TenantConcurrencyMiddleware(inner, service="t-gone", cap=1)

    async def broken_send(message: Message) -> None:
        raise OSError("client disconnected")

    with pytest.raises(OSError):
        await _request(middleware, "tenant-a", send=broken_send)
    assert middleware.in_flight("tenant-a") == 0
    assert _status(await _request(middleware, "tenant-a")) == 200


async def test_requests_without_a_tenant_are_not_counted() -> None:
    inner = GatedApp()
    middleware = TenantConcurrencyMiddleware(inner, service="t-anon", cap=1)

    anonymous = [_start(_request(middleware, None)) for _ in range(3)]
    await _until(lambda: len(inner.entered) == 3)
    assert inner.entered == [None, None, None]

    inner.gate.set()
    assert [_status(sent) for sent in await asyncio.gather(*anonymous)] == [200, 200, 200]


def test_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        TenantConcurrencyMiddleware(GatedApp(), service="t-zero", cap=0)


def _fastapi_app(cap: int) -> tuple[FastAPI, asyncio.Event, list[str]]:
    """A FastAPI app wired as `create_service_app` wires it, with test headers for the tenant."""
    gate = asyncio.Event()
    entered: list[str] = []
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/work")
    async def work() -> dict[str, str]:
        entered.append(current_tenant.get().cloud_id)  # type: ignore[union-attr]
        await gate.wait()
        return {"status": "done"}

    @app.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError("handler failed")

    app.add_middleware(TenantConcurrencyMiddleware, service="t-fastapi", cap=cap)
    app.add_middleware(HeaderContextMiddleware)
    app.add_middleware(RequestMiddleware, service="t-fastapi")
    return app, gate, entered


async def test_cap_through_a_fastapi_app() -> None:
    app, gate, entered = _fastapi_app(cap=2)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:

        def get(path: str, tenant: str) -> Any:
            return client.get(path, headers={"x-test-tenant": tenant})

        held = [asyncio.create_task(get("/work", "tenant-a")) for _ in range(2)]
        await _until(lambda: len(entered) == 2)

        refused = await get("/work", "tenant-a")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["x-request-id"]
        assert refused.json()["error"] == "tenant_concurrency_cap"

        other = asyncio.create_task(get("/work", "tenant-b"))
        await _until(lambda: entered.count("tenant-b") == 1)
        gate.set()
        responses = await asyncio.gather(*held, other)
        assert [r.status_code for r in responses] == [200, 200, 200]

        # Handler exceptions pass through the cap on their way to the 500 handler; with
        # cap 2, two leaked slots would refuse the next request.
        for _ in range(2):
            assert (await get("/boom", "tenant-a")).status_code == 500
        assert (await get("/work", "tenant-a")).status_code == 200


def test_service_app_runs_the_cap_inside_service_auth() -> None:
    runtime = cast(
        ServiceRuntime,
        SimpleNamespace(
            service="t-wiring", region="eu", tokens=None, policy=None, tenant_contexts=None
        ),
    )
    app = create_service_app(runtime, [], per_tenant_concurrency=7)
    # Starlette keeps user middleware outermost first.
    layers = [m.cls for m in app.user_middleware]
    assert layers == [RequestMiddleware, ServiceAuthMiddleware, TenantConcurrencyMiddleware]
    assert app.user_middleware[2].kwargs["cap"] == 7

    with pytest.raises(ValueError):
        create_service_app(runtime, [], per_tenant_concurrency=0)
