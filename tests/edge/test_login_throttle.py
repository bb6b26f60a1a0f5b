"""Failed logins are counted per account and per address; once either has failed too often,
logins wait, for longer the longer the failing goes on. With Redis every edge shares the counts;
when the count store cannot answer, logins are refused rather than let through uncounted."""

from __future__ import annotations

import asyncio
import uuid

import orjson
import pytest

from loopback_ports import unused_port
from tenantry.platform.errors import ApiError
from tenantry.platform.topology import EdgeLimits
from tenantry.services.edge.login_throttle import LoginThrottle, account_key
from tenantry.services.edge.rate_limits import limit_storage

REDIS_URL = "redis://127.0.0.1:6379/0"


def throttle(redis_url: str | None = None, **limits: str) -> LoginThrottle:
    return LoginThrottle(EdgeLimits(**limits), limit_storage(redis_url))


async def refusal(gate: LoginThrottle, account: str | None, address: str) -> ApiError:
    with pytest.raises(ApiError) as refused:
        await gate.check(account, address)
    return refused.value


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex}"


@pytest.mark.parametrize("redis_url", [None, REDIS_URL])
async def test_an_account_that_failed_too_often_waits_and_others_do_not(
    redis_url: str | None,
) -> None:
    gate = throttle(redis_url, login_failures_per_account="3/minute")
    account, address = unique("account"), unique("10.0.0")
    for _ in range(3):
        await gate.check(account, address)
        await gate.failed(account, address)
    refused = await refusal(gate, account, unique("another-address"))
    assert (refused.status, refused.code) == (429, "login_throttled")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    await gate.check(unique("account"), address)  # the address may still try another account


async def test_the_wait_grows_once_the_short_window_has_let_more_failures_through() -> None:
    gate = throttle(login_failures_per_account="2/second;3/hour")
    account = unique("account")
    for _ in range(2):
        await gate.failed(account, "10.0.0.1")
    short = await refusal(gate, account, "10.0.0.1")
    assert int(short.headers["Retry-After"]) == 1
    await asyncio.sleep(1.1)  # the one-second window frees...
    await gate.check(account, "10.0.0.1")
    await gate.failed(account, "10.0.0.1")
    long = await refusal(gate, account, "10.0.0.1")  # ...and the hour's is full now
    assert int(long.headers["Retry-After"]) > 3000


async def test_an_address_spraying_many_accounts_waits() -> None:
    gate = throttle(login_failures_per_client_ip="3/minute")
    address = unique("192.0.2")
    for _ in range(3):
        await gate.failed(unique("account"), address)
    refused = await refusal(gate, unique("account"), address)
    assert refused.code == "login_throttled"
    refused_anonymous = await refusal(gate, None, address)  # a body naming no account either
    assert refused_anonymous.code == "login_throttled"
    await gate.check(unique("account"), unique("192.0.2"))


async def test_edges_sharing_redis_share_the_failures() -> None:
    first = throttle(REDIS_URL, login_failures_per_account="2/minute")
    second = throttle(REDIS_URL, login_failures_per_account="2/minute")
    account = unique("account")
    await first.failed(account, "10.0.0.1")
    await second.failed(account, "10.0.0.2")
    assert (await refusal(first, account, "10.0.0.3")).code == "login_throttled"
    assert (await refusal(second, account, "10.0.0.3")).code == "login_throttled"


async def test_a_count_store_that_cannot_answer_refuses_logins() -> None:
    gate = throttle(f"redis://127.0.0.1:{unused_port()}/0")
    for attempt in (gate.check, gate.failed):
        with pytest.raises(ApiError) as refused:
            await attempt("account", "10.0.0.1")
        assert (refused.value.status, refused.value.code) == (503, "rate_limit_store_unavailable")


def test_an_account_is_its_site_and_email_as_identity_reads_them() -> None:
    def key(**body: object) -> str | None:
        return account_key(orjson.dumps(body))

    same = key(site="acme", email="Ada@Acme.test ", password="x")
    assert same == key(site="acme", email="ada@acme.test") is not None
    assert key(site="globex", email="ada@acme.test") != same
    assert same is not None and "ada" not in same  # kept as a hash, never the email
    for body in (
        b"not json",
        b"[1, 2]",
        orjson.dumps({"site": "acme"}),
        orjson.dumps({"site": 1, "email": "x"}),
    ):
        assert account_key(body) is None
