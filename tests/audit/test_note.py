"""Signed notes and checkpoints against the published examples of golang.org/x/mod/sumdb/note.

The keys, text and signatures come from golang/mod `sumdb/note/note_test.go` (commit
02c991387e35f9e4c0a9b7ce137717055f8d716d): TestSign and TestOpen. Ed25519 signatures are
deterministic, so signing the same text with the same key must give exactly their note.
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tenantry.platform.audit.note import (
    Checkpoint,
    NoteError,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
    "qdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGw"
    "nWLox33WWd1RvMc+QQ=\n"
)


def _peter_private_key() -> Ed25519PrivateKey:
    encoded = PETER_SKEY.split("+", 4)[4]
    raw = base64.b64decode(encoded)
    assert raw[0] == 1  # the algorithm byte: Ed25519
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def test_signing_gives_the_published_note() -> None:
    key = _peter_private_key()
    assert sign_note(TEXT, "PeterNeumann", key) == TEXT + "\n" + PETER_SIG
    assert verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY


def test_the_published_notes_open_with_their_keys() -> None:
    note = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    for vkey in (PETER_VKEY, ENOCH_VKEY):
        name, key = parse_verifier_key(vkey)
        assert open_note(note, name, key) == TEXT


def test_a_changed_note_or_signature_is_refused() -> None:
    name, key = parse_verifier_key(PETER_VKEY)
    changed_text = TEXT.replace("answer", "question") + "\n" + PETER_SIG
    forged_sig = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[64:]
    for note in (changed_text, forged_sig):
        with pytest.raises(NoteError):
            open_note(note, name, key)
    with pytest.raises(NoteError, match="no signature by"):
        open_note(TEXT + "\n" + ENOCH_SIG, name, key)
    for malformed in (TEXT, TEXT + "\n", TEXT + "\n" + PETER_SIG[:-1], TEXT + "\nhello\n"):
        with pytest.raises(NoteError):
            open_note(malformed, name, key)


def test_mangled_verifier_keys_are_refused() -> None:
    for bad in (
        PETER_VKEY[:-1],
        PETER_VKEY.replace("c74f20a3", "c74f20a4"),
        PETER_VKEY.replace("PeterNeumann", "PeterNeuman"),
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a3",
    ):
        with pytest.raises(NoteError):
            parse_verifier_key(bad)


def test_a_checkpoint_round_trips_through_a_signed_note() -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint = Checkpoint(origin="tenantry/audit/eu/abc", size=8, root=b"\x07" * 32, time=5)
    note = sign_note(checkpoint.text(), "tenantry-audit-eu", key)
    lines = note.split("\n")
    root = base64.b64encode(b"\x07" * 32).decode()
    assert lines[:4] == ["tenantry/audit/eu/abc", "8", root, "time 5"]
    assert lines[4] == "" and lines[5].startswith("\u2014 tenantry-audit-eu ")
    name, public = parse_verifier_key(verifier_key("tenantry-audit-eu", key.public_key()))
    assert parse_checkpoint(open_note(note, name, public)) == checkpoint
    for bad in ("o\nx\nAAAA\n", "o\n1\nAAAA\n", "o\n1\n"):
        with pytest.raises(NoteError):
            parse_checkpoint(bad)
