"""The Ed25519 key each region's audit service signs checkpoints with, and where its public
half is published.

The private key lives in `keys/private/audit-checkpoints/<region>.pem` (0600, read by the audit
service only; beside, not among, the audit service's token keys); the public key in the key
repository beside the service keys, as `keys/public/audit-checkpoints/<region>.pem` and as a
signed-note verifier key in `<region>.vkey`. Token verifiers accept EC P-256 keys only, so this
key can never pass for a service's token key.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from tenantry.platform.audit.note import parse_verifier_key, verifier_key
from tenantry.platform.files import directory_lock, write_atomically

KEY_DIRECTORY = "audit-checkpoints"


def key_name(region: str) -> str:
    """The signed-note key name of `region`'s audit checkpoints."""
    return f"tenantry-audit-{region}"


def _paths(data_dir: Path, region: str) -> tuple[Path, Path, Path]:
    keys = data_dir / "keys"
    return (
        keys / "private" / KEY_DIRECTORY / f"{region}.pem",
        keys / "public" / KEY_DIRECTORY / f"{region}.pem",
        keys / "public" / KEY_DIRECTORY / f"{region}.vkey",
    )


def published_verifier_keys(data_dir: Path) -> list[str]:
    """Every region's published verifier key."""
    directory = data_dir / "keys" / "public" / KEY_DIRECTORY
    return [path.read_text().strip() for path in sorted(directory.glob("*.vkey"))]


def ensure_checkpoint_key(data_dir: Path, region: str) -> Ed25519PrivateKey:
    """The region's checkpoint signing key, made and published on first use."""
    private_path, public_path, vkey_path = _paths(data_dir, region)
    with directory_lock(data_dir / "keys"):
        if not private_path.exists():
            private_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(private_path.parent, 0o700)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            write_atomically(private_path, pem, 0o600)
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{private_path} is not an Ed25519 key")
        public = key.public_key()
        public_path.parent.mkdir(parents=True, exist_ok=True)
        public_pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not public_path.exists() or public_path.read_bytes() != public_pem:
            write_atomically(public_path, public_pem, 0o644)
        vkey = (verifier_key(key_name(region), public) + "\n").encode()
        if not vkey_path.exists() or vkey_path.read_bytes() != vkey:
            write_atomically(vkey_path, vkey, 0o644)
    return key


def published_verifier_key(data_dir: Path, region: str) -> tuple[str, str, Ed25519PublicKey]:
    """The region's published verifier key: its text, key name and public key."""
    _, _, vkey_path = _paths(data_dir, region)
    text = vkey_path.read_text().strip()
    name, public = parse_verifier_key(text)
    return text, name, public
