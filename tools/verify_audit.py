#!/usr/bin/env python3
"""Check a tenantry site's audit log from the outside: nothing of tenantry needed.

Only the Python standard library and `cryptography` (for Ed25519). Run it against any edge:

    python verify_audit.py --edge https://edge.example:8443 --site acme --token "$TOKEN" \
        [--ca ca.pem] [--key 'tenantry-audit-eu+1a2b3c4d+AT...'] \
        [--since-checkpoint saved.note] [--save-checkpoint saved.note]

It fetches the latest signed checkpoint (C2SP signed note), checks its Ed25519 signature, fetches
every event up to the checkpoint's size, recomputes each leaf (SHA-256(0x00 || canonical JSON))
and the RFC 9162 Merkle root, and checks inclusion proofs; with `--since-checkpoint`, also the
consistency proof from a checkpoint saved earlier, so a log rolled back or rewritten since is
caught. Exit 0 when everything holds; exit 1 naming the first bad index or what failed; exit 2
when the edge cannot be asked.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PAGE = 1000


class Failed(Exception):
    """The log does not hold up: the message says where."""


class Unreachable(Exception):
    """The edge could not be asked."""


# RFC 9162 section 2.1 -------------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(leaves: list[bytes]) -> bytes:
    """MTH over leaf hashes, bottom up: pairs combine, an odd last node moves up unchanged."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    level = list(leaves)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if not 0 <= index < size or any(len(h) != 32 for h in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> bool:
    """RFC 9162 2.1.4.2."""
    if not 0 <= first <= second or any(len(h) != 32 for h in proof):
        return False
    if first == second:
        return not proof and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not proof
    if not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


# c2sp.org/signed-note and c2sp.org/tlog-checkpoint --------------------------------------------


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey, bytes]:
    """The key name, public key and raw key of "<name>+<key id>+<base64 key>"."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise Failed("the verifier key is not <name>+<key id>+<key>")
    name, key_id_hex, encoded = parts
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise Failed("the verifier key is not base64") from None
    if len(raw) != 33 or raw[0] != 1:
        raise Failed("the verifier key is not an Ed25519 key")
    if note_key_id(name, raw[1:]).hex() != key_id_hex:
        raise Failed("the verifier key's id does not match its name and key")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:]), raw[1:]


def note_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


def open_checkpoint(note: str, name: str, key: Ed25519PublicKey, raw_key: bytes) -> dict[str, Any]:
    """The origin, size and root of a checkpoint note signed by `name`'s key."""
    text, _, signatures = note.rpartition("\n\n")
    if not text or not signatures.endswith("\n"):
        raise Failed("the checkpoint is not a signed note")
    text += "\n"
    wanted = note_key_id(name, raw_key)
    for line in signatures[:-1].split("\n"):
        if not line.startswith("\u2014 ") or line.count(" ") != 2:
            raise Failed("the checkpoint has a malformed signature line")
        signer, encoded = line[2:].split(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise Failed("the checkpoint has a signature that is not base64") from None
        if signer != name or blob[:4] != wanted:
            continue
        try:
            key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Failed(f"the checkpoint's signature by {name} does not verify") from None
        lines = text.split("\n")
        if len(lines) < 4 or not lines[1].isdigit():
            raise Failed("the checkpoint body is not origin, size, root hash")
        try:
            root = base64.b64decode(lines[2], validate=True)
        except binascii.Error:
            raise Failed("the checkpoint's root hash is not base64") from None
        return {"origin": lines[0], "size": int(lines[1]), "root": root}
    raise Failed(f"the checkpoint carries no signature by {name}")


# Talking to the edge --------------------------------------------------------------------------


class Edge:
    def __init__(self, url: str, site: str, token: str, ca: str | None) -> None:
        if not url.startswith("https://"):
            raise Unreachable(f"the edge's URL must be https://, not {url!r}")
        self._url = url.rstrip("/")
        self._headers = {"X-Tenantry-Site": site, "Authorization": f"Bearer {token}"}
        self._context = ssl.create_default_context(cafile=ca)

    def get(self, path: str, **query: int) -> Any:
        url = self._url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers=self._headers)  # noqa: S310  # https only
        try:
            opened = urllib.request.urlopen(request, context=self._context, timeout=30)  # noqa: S310
            with opened as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")[:300]
            raise Unreachable(f"GET {path} answered {exc.code}: {body}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise Unreachable(f"cannot reach {self._url}: {exc}") from None


def canonical(event: dict[str, Any]) -> bytes:
    entry = {k: v for k, v in event.items() if k != "index"}
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def b64list(values: list[str]) -> list[bytes]:
    return [base64.b64decode(v) for v in values]


def verify(edge: Edge, vkey: str | None, since: str | None) -> tuple[str, int]:
    """Check the whole log; the checkpoint note verified and its size."""
    served = edge.get("/rest/audit/checkpoint")
    note = str(served["checkpoint"])
    name, key, raw_key = parse_verifier_key(vkey or str(served["key"]))
    checkpoint = open_checkpoint(note, name, key, raw_key)
    size, root = checkpoint["size"], checkpoint["root"]

    events: list[dict[str, Any]] = []
    after = -1
    while len(events) < size:
        page = edge.get("/rest/audit/events", after=after, limit=PAGE)["events"]
        if not page:
            break
        events.extend(page)
        after = int(page[-1]["index"])
    events = [e for e in events if int(e["index"]) < size]
    for position, event in enumerate(events):
        if int(event["index"]) != position:
            raise Failed(f"bad index {position}: the event at index {position} is missing")
    if len(events) < size:
        raise Failed(f"bad index {len(events)}: the event at index {len(events)} is missing")
    tenant = {str(e.get("tenant")) for e in events}
    if len(tenant) != 1 or not checkpoint["origin"].endswith("/" + tenant.pop()):
        raise Failed("the events do not all belong to the log the checkpoint names")

    leaves = [leaf_hash(canonical(e)) for e in events]
    if merkle_root(leaves) != root:
        for index, leaf in enumerate(leaves):
            answer = edge.get("/rest/audit/proof/inclusion", index=index, size=size)
            proof = b64list(answer["hashes"])
            if not verify_inclusion(leaf, index, size, proof, root):
                raise Failed(f"bad index {index}: the event does not match the signed tree")
        raise Failed("the events do not add up to the checkpoint's root hash")
    last = size - 1
    proof = b64list(edge.get("/rest/audit/proof/inclusion", index=last, size=size)["hashes"])
    if not verify_inclusion(leaves[last], last, size, proof, root):
        raise Failed(f"bad index {last}: the log's inclusion proof does not verify")

    if since is not None:
        earlier = open_checkpoint(since, name, key, raw_key)
        if earlier["origin"] != checkpoint["origin"]:
            raise Failed("the saved checkpoint is of another log")
        if earlier["size"] > size:
            raise Failed(
                f"the log was rolled back: the saved checkpoint has {earlier['size']} entries, "
                f"the log now {size}"
            )
        if earlier["size"] > 0:
            first = earlier["size"]
            answer = edge.get("/rest/audit/proof/consistency", **{"from": first, "to": size})
            proof = b64list(answer["hashes"])
            if not verify_consistency(first, size, earlier["root"], root, proof):
                raise Failed(
                    f"the consistency proof from the saved checkpoint ({earlier['size']} entries) "
                    f"to the log's ({size}) does not verify: the log was rewritten"
                )
    return note, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edge", required=True, help="the edge's URL, https://host:port")
    parser.add_argument("--site", required=True)
    parser.add_argument("--token", required=True, help="a site admin's user token")
    parser.add_argument("--ca", help="the CA certificate file to trust the edge with")
    parser.add_argument("--key", help="the audit service's verifier key (else the one served)")
    parser.add_argument("--since-checkpoint", help="a checkpoint note saved earlier")
    parser.add_argument("--save-checkpoint", help="write the verified checkpoint note here")
    args = parser.parse_args(argv)
    since = None
    if args.since_checkpoint:
        with open(args.since_checkpoint, encoding="utf-8") as handle:
            since = handle.read()
    try:
        edge = Edge(args.edge, args.site, args.token, args.ca)
        note, size = verify(edge, args.key, since)
    except Failed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    except Unreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.save_checkpoint:
        with open(args.save_checkpoint, "w", encoding="utf-8") as handle:
            handle.write(note)
    print(f"ok: {size} events verified against the signed checkpoint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
