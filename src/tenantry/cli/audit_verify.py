"""Check a site's audit log over the edge: its checkpoint, every event, proofs, and that it only
grew since a checkpoint saved earlier.

The checkpoint's signature is checked against the verifier key the cloud published in its key
repository (not the key the edge serves), every event's leaf is recomputed from its canonical
JSON, the tree's root from the leaves, and on a mismatch each event's inclusion proof names the
first bad index. `tools/verify_audit.py` does the same with nothing of tenantry installed.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from tenantry.platform.audit import merkle
from tenantry.platform.audit.checkpoint_key import published_verifier_keys
from tenantry.platform.audit.events import canonical
from tenantry.platform.audit.note import (
    Checkpoint,
    NoteError,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
)
from tenantry.platform.client import ServiceClient, ServiceResponse

PAGE = 1000


class AuditCheckFailed(Exception):
    """The log does not hold up; the message names the first bad index or what failed."""


class EdgeUnreachable(Exception):
    """The edge could not be asked (or refused the request)."""


@dataclass(frozen=True, slots=True)
class Verified:
    """What a check proved: the checkpoint note verified and how many events it covers."""

    note: str
    size: int


class LogSource(Protocol):
    """Where a log's checkpoint, events and proofs are read from, by their public paths."""

    def get(self, path: str, **params: int) -> Any:
        """The JSON answer of GET `path`; EdgeUnreachable unless it is a 200."""
        ...


class OperatorLog:
    """The operator log, read from its region's audit service as the operator (no edge
    serves it); answers the public paths a site's log is read by."""

    def __init__(self, data_dir: Path, region: str) -> None:
        self._data_dir = data_dir
        self._region = region

    def get(self, path: str, **params: int) -> Any:
        """The JSON answer of the operator log's route for `path` (`/rest/audit/...`)."""
        from tenantry.cli.operator_calls import CLOUD_NOT_REACHABLE, run_as_operator

        query = {name: str(value) for name, value in params.items()}
        region = self._region

        async def read(client: ServiceClient) -> ServiceResponse:
            if path == "/rest/audit/checkpoint":
                return await client.call(
                    "audit",
                    "GET",
                    "/internal/audit/operator/checkpoint",
                    query=query,
                    region=region,
                )
            if path == "/rest/audit/events":
                return await client.call(
                    "audit", "GET", "/internal/audit/operator/events", query=query, region=region
                )
            if path == "/rest/audit/proof/inclusion":
                return await client.call(
                    "audit",
                    "GET",
                    "/internal/audit/operator/proof/inclusion",
                    query=query,
                    region=region,
                )
            if path == "/rest/audit/proof/consistency":
                return await client.call(
                    "audit",
                    "GET",
                    "/internal/audit/operator/proof/consistency",
                    query=query,
                    region=region,
                )
            raise LookupError(f"the operator log has no route for {path}")

        try:
            answer = run_as_operator(self._data_dir, read)
        except CLOUD_NOT_REACHABLE as exc:
            raise EdgeUnreachable(f"cannot reach the audit service: {exc}") from exc
        if answer.status != 200:
            try:
                said = answer.json()
                reason = f": {said['error']}: {said.get('message', '')}"
            except (ValueError, KeyError, TypeError):
                reason = ""
            raise EdgeUnreachable(f"the operator log answered {answer.status}{reason}")
        return answer.json()


class AuditEdge:
    """The audit routes of one site, through an edge, as the site's admin."""

    def __init__(self, url: str, ca: str, site: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=url,
            verify=ca,
            timeout=30.0,
            headers={"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"},
        )

    def get(self, path: str, **params: int) -> Any:
        """The JSON answer of GET `path`; EdgeUnreachable unless it is a 200."""
        try:
            answer = self._http.get(path, params=params)
        except httpx.HTTPError as exc:
            raise EdgeUnreachable(f"cannot reach the edge: {exc}") from exc
        if answer.status_code != 200:
            raise EdgeUnreachable(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
        return answer.json()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()


def _open(note: str, vkeys: list[str]) -> Checkpoint:
    for vkey in vkeys:
        name, key = parse_verifier_key(vkey)
        try:
            return parse_checkpoint(open_note(note, name, key))
        except NoteError as exc:
            if "no signature by" in str(exc):
                continue
            raise AuditCheckFailed(f"the checkpoint does not verify: {exc}") from exc
    raise AuditCheckFailed("the checkpoint is not signed by any published audit key")


def _hashes(answer: dict[str, Any]) -> list[bytes]:
    return [base64.b64decode(value) for value in answer["hashes"]]


def leaf_of(event: dict[str, Any]) -> bytes:
    """The leaf hash of an event as the log serves it (its index is not part of the entry)."""
    entry = {key: value for key, value in event.items() if key != "index"}
    return merkle.leaf_hash(canonical(entry).encode())


def verify_log(edge: LogSource, data_dir: Path, since: str | None) -> Verified:
    """Check the site's whole log (see the module's docstring); AuditCheckFailed if it fails."""
    vkeys = published_verifier_keys(data_dir)
    served = edge.get("/rest/audit/checkpoint")
    note = str(served["checkpoint"])
    checkpoint = _open(note, vkeys)
    size = checkpoint.size

    events: list[dict[str, Any]] = []
    after = -1
    while len(events) < size:
        page = edge.get("/rest/audit/events", after=after, limit=PAGE)["events"]
        if not page:
            break
        events.extend(page)
        after = int(page[-1]["index"])
    events = [event for event in events if int(event["index"]) < size]
    for position, event in enumerate(events):
        if int(event["index"]) != position:
            raise AuditCheckFailed(f"bad index {position}: the event at {position} is missing")
    if len(events) < size:
        raise AuditCheckFailed(f"bad index {len(events)}: the event at {len(events)} is missing")
    tenants = {str(event.get("tenant")) for event in events}
    if len(tenants) != 1 or not checkpoint.origin.endswith("/" + tenants.pop()):
        raise AuditCheckFailed("the events do not all belong to the log the checkpoint names")

    leaves = [leaf_of(event) for event in events]
    if merkle.root_hash(merkle.MemoryNodes(leaves), size) != checkpoint.root:
        for index, leaf in enumerate(leaves):
            proof = _hashes(edge.get("/rest/audit/proof/inclusion", index=index, size=size))
            if not merkle.verify_inclusion(leaf, index, size, proof, checkpoint.root):
                raise AuditCheckFailed(f"bad index {index}: the event does not match the tree")
        raise AuditCheckFailed("the events do not add up to the checkpoint's root hash")
    last = size - 1
    proof = _hashes(edge.get("/rest/audit/proof/inclusion", index=last, size=size))
    if not merkle.verify_inclusion(leaves[last], last, size, proof, checkpoint.root):
        raise AuditCheckFailed(f"bad index {last}: its inclusion proof does not verify")

    if since is not None:
        _check_grew(edge, _open(since, vkeys), checkpoint)
    return Verified(note=note, size=size)


def _check_grew(edge: LogSource, earlier: Checkpoint, now: Checkpoint) -> None:
    if earlier.origin != now.origin:
        raise AuditCheckFailed("the saved checkpoint is of another log")
    if earlier.size > now.size:
        raise AuditCheckFailed(
            f"the log was rolled back: the saved checkpoint has {earlier.size} events, "
            f"the log now {now.size}"
        )
    answer = edge.get("/rest/audit/proof/consistency", **{"from": earlier.size, "to": now.size})
    if not merkle.verify_consistency(
        earlier.size, now.size, earlier.root, now.root, _hashes(answer)
    ):
        raise AuditCheckFailed(
            f"the consistency proof from the saved checkpoint ({earlier.size} events) to the "
            f"log's ({now.size}) does not verify: the log was rewritten"
        )
