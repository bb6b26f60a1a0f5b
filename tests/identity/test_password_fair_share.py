"""Guessing against one site does not hold up another's logins: argon2 work is shared per site.

identity hashes at most one password per slot at once. A site under attack fills its queue;
when a slot frees, it goes to the waiting site with the fewest hashes running, so another
site's login is next, not behind every guess already queued. Proved by the order the hashes
run in, with the hashing held on a gate, not by timing them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tenantry.platform.service_keys import ensure_service_key
from tenantry.platform.storage import Databases
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity import passwords

from .harness import FakeCloud, build_app
from .test_identity_api import PASSWORD

GUESSES = 4


async def until(what: str, condition: Callable[[], bool]) -> None:
    """Wait for state that other tasks and worker threads change (bounded: never hangs)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (no event to wait on: the state is theirs)
            await asyncio.sleep(0.01)
    assert condition(), what


async def test_a_guessed_at_site_waits_on_itself_and_another_site_logs_in_next(
    tmp_path: Path, databases: Databases, cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build_app(
        databases, cloud, TokenSigner(ensure_service_key(tmp_path, "identity")), slots=1
    )
    share = app.state.passwords.share
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        for site in ("acme", "globex"):
            made = await client.post(
                "/signup",
                json={
                    "site": site,
                    "email": f"a@{site}.test",
                    "password": PASSWORD,
                    "region": "eu",
                },
            )
            assert made.status_code == 201, made.text

        order: list[str] = []
        gates: dict[str, threading.Event] = {}
        real = passwords.verify_password

        def held(password_hash: str | None, password: str) -> bool:
            gate = gates.setdefault(password, threading.Event())
            order.append(password)
            gate.wait(10)
            return real(password_hash, password)

        monkeypatch.setattr(passwords, "verify_password", held)

        def log_in(site: str, password: str) -> asyncio.Task[httpx.Response]:
            body = {"site": site, "email": f"a@{site}.test", "password": password}
            return asyncio.create_task(client.post("/login", json=body))

        guesses = [log_in("acme", f"guess {n}") for n in range(GUESSES)]
        await until("one guess hashing, the rest waiting", lambda: len(order) == 1)
        assert (share.in_flight("acme"), share.waiting("acme")) == (1, GUESSES - 1)
        login = log_in("globex", PASSWORD)
        await until("globex's login to wait its turn", lambda: share.waiting("globex") == 1)

        gates.setdefault(order[0], threading.Event()).set()  # the first guess is done
        await until("the freed slot to be taken", lambda: len(order) == 2)
        assert order[1] == PASSWORD  # globex's login, not acme's next guess
        for gate in (
            *gates.values(),
            *(gates.setdefault(f"guess {n}", threading.Event()) for n in range(GUESSES)),
        ):
            gate.set()
        assert (await login).status_code == 200
        assert [(await guess).status_code for guess in guesses] == [401] * GUESSES
        assert order[2:] and all(password.startswith("guess") for password in order[2:])
