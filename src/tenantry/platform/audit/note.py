"""Signed checkpoints of an audit log in the C2SP formats, so the tooling of transparency logs
can read and check them.

A checkpoint (c2sp.org/tlog-checkpoint) is the text "<origin>\\n<tree size>\\n<base64 root
hash>\\n", then optional extension lines (here one: "time <unix seconds>"). It is signed as a
signed note (c2sp.org/signed-note): the text, a blank line, and one line per signature,
"— <key name> <base64(key id || Ed25519 signature of the text)>", where the key id is the first
four bytes of SHA-256(key name || 0x0A || 0x01 || public key). A verifier key is written
"<key name>+<key id in hex>+<base64(0x01 || public key)>", as golang.org/x/mod/sumdb/note does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM_ED25519 = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
_KEY_NAME = re.compile(r"[^\s+]+")
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


class NoteError(ValueError):
    """A note or checkpoint that is malformed, or not signed by the key it is checked with."""


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte id of a signing key: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + ALGORITHM_ED25519 + public_key).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The verifier key string "<name>+<key id hex>+<base64(0x01 || public key)>"."""
    _check_name(name)
    raw = raw_public_key(public_key)
    encoded = base64.b64encode(ALGORITHM_ED25519 + raw).decode()
    return f"{name}+{key_id(name, raw).hex()}+{encoded}"


def parse_verifier_key(vkey: str) -> tuple[str, Ed25519PublicKey]:
    """The key name and public key a verifier key string names; NoteError if it is not one."""
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<key id>+<key>")
    name, hex_id, encoded = parts
    _check_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise NoteError("the verifier key is not base64") from exc
    if len(raw) != 33 or raw[:1] != ALGORITHM_ED25519:
        raise NoteError("the verifier key is not an Ed25519 key")
    if key_id(name, raw[1:]).hex() != hex_id:
        raise NoteError("the verifier key's id does not match its name and key")
    return name, Ed25519PublicKey.from_public_bytes(raw[1:])


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """`text` as a signed note with one signature by `name`."""
    _check_text(text)
    _check_name(name)
    raw = raw_public_key(private_key.public_key())
    signature = private_key.sign(text.encode())
    encoded = base64.b64encode(key_id(name, raw) + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {encoded}\n"


def open_note(note: str, name: str, public_key: Ed25519PublicKey) -> str:
    """The text of `note` if `name`'s key signed it; NoteError otherwise. Signatures by other
    keys are ignored, as signed-note verifiers do."""
    text, _, signatures = note.rpartition("\n\n")
    if not text or not signatures.endswith("\n"):
        raise NoteError("malformed note: no blank line before its signatures")
    text += "\n"
    _check_text(text)
    wanted = key_id(name, raw_public_key(public_key))
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX) or line.count(" ") != 2:
            raise NoteError("malformed note: a signature line is not '— <name> <signature>'")
        signer, encoded = line[len(SIGNATURE_PREFIX) :].split(" ")
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise NoteError("malformed note: a signature is not base64") from exc
        if signer != name or blob[:4] != wanted:
            continue
        try:
            public_key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature of {name} does not match the note") from None
        return text
    raise NoteError(f"the note has no signature by {name}")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's state as signed: its origin, size, root hash and when it was signed."""

    origin: str
    size: int
    root: bytes
    time: int

    def text(self) -> str:
        """The checkpoint body (c2sp.org/tlog-checkpoint), with a `time` extension line."""
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\ntime {self.time}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """The checkpoint a (verified) note's text states; NoteError if it is not one."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "" or not all(lines[:-1]):
        raise NoteError("a checkpoint is an origin, a size, a root hash and extension lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not _SIZE.fullmatch(size):
        raise NoteError("the checkpoint's tree size is not a decimal number")
    try:
        digest = base64.b64decode(root, validate=True)
    except binascii.Error as exc:
        raise NoteError("the checkpoint's root hash is not base64") from exc
    if len(digest) != 32:
        raise NoteError("the checkpoint's root hash is not a SHA-256 hash")
    when = 0
    for extension in lines[3:-1]:
        if extension.startswith("time ") and _SIZE.fullmatch(extension[5:]):
            when = int(extension[5:])
    return Checkpoint(origin=origin, size=int(size), root=digest, time=when)


def _check_name(name: str) -> None:
    if not _KEY_NAME.fullmatch(name):
        raise NoteError(f"key name {name!r} is empty or holds a space or '+'")


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("a note's text ends with a newline and has no blank line")
