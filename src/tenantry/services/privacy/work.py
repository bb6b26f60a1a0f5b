"""Exports and erasures, store by store.

An export runs in the background: each store's export step in turn (progress is kept on the
request as each answers), then the originals of the files the account uploaded, all into one
zip that media keeps; the request then names the zip. An erasure runs while its caller waits:
identity first (it refuses the last admin and unknown accounts before anything changes), then
every other store, then the account's own exports (rows and zips); the receipt lists each
store and what it did, is signed by the region's audit service, and is kept with the erasure's
audit event in one transaction, so the receipt can be checked against the tenant's log.

Every erasure is entered in the erasure ledger as soon as identity has accepted it, before any
other store is touched (in the shard's database, and again in privacy's global database:
`models.ErasureLedgerEntry` says why), so an erasure cut short is finished by the next replay;
every restore replays the ledger before the site is served again: each erasure's steps run
again, with the same `content`, on whatever the restore brought back.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError

from tenantry.platform.audit.events import AuditEvent, current_actor
from tenantry.platform.audit.outbox import AuditOutbox
from tenantry.platform.client import ServiceClient, for_current_tenant
from tenantry.platform.context import require_tenant
from tenantry.platform.errors import ApiError
from tenantry.platform.personal_data_steps import stamp
from tenantry.platform.storage.databases import Databases
from tenantry.services.privacy import store
from tenantry.services.privacy.models import PrivacyRequest
from tenantry.services.privacy.steps import (
    STORES,
    account_of_site,
    answered,
    erase_from,
    export_from,
    uploaded_file,
)
from tenantry.services.privacy.zips import build_zip, delete_zip, store_zip

SERVICE = "privacy"
RETAINED: tuple[dict[str, Any], ...] = (
    {
        "store": "audit",
        "did": "retained",
        "why": "audit entries name the account by id only; they are the tenant's "
        "tamper-evident log, and the id now leads to no one",
    },
    {
        "store": "kms",
        "did": "retained",
        "why": "root key versions the account owned name it by id only; its deletion "
        "rotated any active key it owned",
    },
    {
        "store": "backup",
        "did": "retained",
        "why": "sealed backup copies age out when the backup retention window ends",
    },
    {
        "store": "tcs",
        "did": "retained",
        "why": "the operator's register of government and legal requests names accounts by "
        "id only, as the law requires it be kept (listed on every receipt, whether or not a "
        "request names the account)",
    },
)
"""Stores whose declarations keep what they hold, and why: listed on every receipt."""

log = structlog.get_logger("tenantry.privacy")


class Work:
    """The privacy service's exports and erasures, on its database and through its client."""

    def __init__(self, databases: Databases, client: ServiceClient, audit: AuditOutbox) -> None:
        self._databases = databases
        self.client = client
        self._audit = audit
        self._running: set[asyncio.Task[None]] = set()

    async def start_export(self, account_id: str, requested_by: str | None) -> dict[str, Any]:
        """Start exporting the account (404 for an account the site lacks); the request."""
        await account_of_site(self.client, account_id)
        request = PrivacyRequest(
            id=uuid.uuid4().hex,
            kind=store.EXPORT,
            account_id=account_id,
            requested_by=requested_by,
            status=store.RUNNING,
            stores=[],
            created_at=time.time(),
        )
        with self._databases.session() as session:
            store.add(session, request)
            self._audit.record(session, self._event("personal_data_exported", request))
            shown = store.shown(request)
        self._audit.wake()
        task = asyncio.create_task(self._export(request.id, account_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return shown

    async def _export(self, export_id: str, account_id: str) -> None:
        try:
            records: dict[str, dict[str, Any]] = {}
            for name in STORES:
                answer = await export_from(self.client, name, account_id)
                records[name] = dict(answer.get("records", {}))
                self._progress(export_id, {"store": name, "at": stamp()})
            files = []
            for row in records.get("media", {}).get("media_files", []):
                data = await uploaded_file(self.client, str(row["id"]), account_id)
                files.append((str(row["id"]), str(row["name"]), data))
            records[SERVICE] = {"privacy_requests": self._own_records(account_id)}
            file_id = await store_zip(self.client, export_id, build_zip(records, files))
            self._finish(export_id, store.DONE, file_id=file_id)
        except ApiError as exc:
            log.warning("export_failed", export=export_id, reason=exc.code)
            self._finish(export_id, store.FAILED, reason=exc.code)
        except Exception:
            log.exception("export_failed", export=export_id)
            self._finish(export_id, store.FAILED, reason="export_failed")

    def _own_records(self, account_id: str) -> list[dict[str, Any]]:
        with self._databases.session() as session:
            return [
                {
                    "id": found.id,
                    "kind": found.kind,
                    "status": found.status,
                    "created_at": stamp_of(found.created_at),
                }
                for found in store.exports_of(session, account_id)
            ]

    def _progress(self, export_id: str, entry: dict[str, Any]) -> None:
        with self._databases.session() as session:
            request = store.get(session, export_id, store.EXPORT)
            request.stores = [*request.stores, entry]

    def _finish(
        self, export_id: str, status: str, file_id: str | None = None, reason: str | None = None
    ) -> None:
        with self._databases.session() as session:
            request = store.get(session, export_id, store.EXPORT)
            request.status = status
            request.file_id = file_id
            request.reason = reason
            request.finished_at = time.time()

    async def erase(
        self, account_id: str, content: str, requested_by: str | None
    ) -> dict[str, Any]:
        """Erase the account from every store; the erasure with its signed receipt."""
        await account_of_site(self.client, account_id)
        erasure_id = uuid.uuid4().hex
        done: list[dict[str, Any]] = []
        entry = store.Erased(erasure_id, account_id, content, time.time())
        for name in STORES:
            answer = await erase_from(self.client, name, account_id, content)
            done.append({"store": name, "actions": answer["actions"], "at": answer["at"]})
            if name == "identity":  # accepted it: in the ledger before any other store
                self._enter(entry)
        done.append(await self._erase_own(account_id))
        done.extend({**retained, "at": stamp()} for retained in RETAINED)
        request = PrivacyRequest(
            id=erasure_id,
            kind=store.ERASURE,
            account_id=account_id,
            requested_by=requested_by,
            content=content,
            status=store.DONE,
            stores=done,
            created_at=time.time(),
            finished_at=time.time(),
        )
        event = self._event("personal_data_erased", request)
        request.receipt = await self._signed(request, event)
        with self._databases.session() as session:
            store.add(session, request)
            self._audit.record(session, event)
            shown = {**store.shown(request), "content": content, "receipt": request.receipt}
            shown["event_id"] = event.event_id
        self._audit.wake()
        return shown

    def _enter(self, entry: store.Erased) -> None:
        """Enter the erasure in both copies of the ledger: the shard's must be written; should
        the global one fail, the next replay writes it from the first."""
        with self._databases.session() as session:
            store.enter(session, entry)
        try:
            with self._databases.global_session() as session:
                store.enter(session, entry)
        except SQLAlchemyError as exc:
            log.warning("ledger_copy_failed", erasure=entry.erasure_id, error=type(exc).__name__)

    async def replay(self) -> dict[str, Any]:
        """Run every erasure of the site's ledger again, oldest first, with its own `content`:
        what a restore must do before the site is served. Both copies of the ledger are read and
        each is given the entries it lacks. A store's refusal stops the replay (the caller keeps
        the site unserved); an account identity no longer has was erased there already."""
        entries = self._healed_ledger()
        replayed: list[dict[str, Any]] = []
        for entry in sorted(entries, key=lambda e: (e.erased_at, e.erasure_id)):
            done: list[dict[str, Any]] = []
            for name in STORES:
                try:
                    answer = await erase_from(self.client, name, entry.account_id, entry.content)
                except ApiError as exc:
                    if name == "identity" and exc.code == "account_not_found":
                        done.append({"store": name, "actions": [], "at": stamp()})
                        continue
                    raise ApiError(
                        exc.status,
                        exc.code,
                        f"replaying erasure {entry.erasure_id}: {name}: {exc.message}",
                    ) from None
                done.append({"store": name, "actions": answer["actions"], "at": answer["at"]})
            done.append(await self._erase_own(entry.account_id))
            replayed.append(
                {
                    "erasure_id": entry.erasure_id,
                    "account_id": entry.account_id,
                    "content": entry.content,
                    "stores": done,
                }
            )
        event = AuditEvent(
            "personal_data_erasures_replayed",
            require_tenant().cloud_id,
            current_actor(SERVICE),
            detail={
                "erasures": len(replayed),
                "requests": [entry["erasure_id"] for entry in replayed],
            },
        )
        with self._databases.session() as session:
            self._audit.record(session, event)
        self._audit.wake()
        return {"replayed": len(replayed), "erasures": replayed, "event_id": event.event_id}

    def _healed_ledger(self) -> list[store.Erased]:
        """The union of both copies of the ledger, each copy given what it lacked."""
        with self._databases.session() as session:
            here = store.ledger(session)
        with self._databases.global_session() as session:
            there = store.ledger(session)
            for erasure_id, entry in here.items():
                if erasure_id not in there:
                    store.enter(session, entry)
        missing = [entry for erasure_id, entry in there.items() if erasure_id not in here]
        if missing:
            with self._databases.session() as session:
                for entry in missing:
                    store.enter(session, entry)
            log.warning("ledger_healed", copied_back=len(missing))
        return list({**there, **here}.values())

    async def _erase_own(self, account_id: str) -> dict[str, Any]:
        """The account's exports: their zips in media, then their rows."""
        with self._databases.session() as session:
            exports = [found.id for found in store.exports_of(session, account_id)]
        for export_id in exports:
            await delete_zip(self.client, export_id)
        with self._databases.session() as session:
            for found in store.exports_of(session, account_id):
                session.delete(found)
        actions = [
            {"table": "privacy_requests", "did": "deleted", "rows": len(exports)},
            {"table": "media_files (export zips)", "did": "deleted", "rows": len(exports)},
        ]
        return {"store": SERVICE, "actions": actions, "at": stamp()}

    def _event(self, action: str, request: PrivacyRequest) -> AuditEvent:
        detail: dict[str, Any] = {"request": request.id}
        if request.content is not None:
            detail["content"] = request.content
        return AuditEvent(action, request.account_id, current_actor(SERVICE), detail=detail)

    async def _signed(self, request: PrivacyRequest, event: AuditEvent) -> str:
        response = await self.client.call(
            "audit",
            "POST",
            "/internal/audit/receipts",
            json={
                "account_id": request.account_id,
                "erasure_id": request.id,
                "event_id": event.event_id,
                "content": request.content or "keep",
                "stores": request.stores,
                "at": event.time,
            },
            **for_current_tenant(),
        )
        return str(answered(response, "audit")["note"])


def stamp_of(epoch: float) -> str:
    """An epoch time as the answers write times."""
    from datetime import UTC, datetime

    return stamp(datetime.fromtimestamp(epoch, UTC))
