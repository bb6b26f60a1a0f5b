"""kms's backup-key routes: the key the region's backup service seals every backup file with,
and the passphrase its pgBackRest repositories are encrypted with.

Only the backup service may call it (the allowlist says so); it names no tenant.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from tenantry.services.kms.backup_key import ensure_backup_key
from tenantry.services.kms.backup_passphrase import ensure_backup_passphrase
from tenantry.services.kms.errors import provider_errors
from tenantry.services.kms.providers import LocalKeyProvider
from tenantry.services.kms.root_keys import RootKeys
from tenantry.services.kms.routes import PREFIX, no_store
from tenantry.services.kms.schemas import DataKeyOut, PassphraseOut


def build_backup_key_router(provider: LocalKeyProvider, roots: RootKeys, region: str) -> APIRouter:
    """`GET /internal/kms/backup-key` and `GET /internal/kms/backup-passphrase`: the region's
    backup key and repository passphrase, each made on first call."""
    router = APIRouter(prefix=PREFIX, tags=["kms"], dependencies=[Depends(no_store)])

    @router.get("/backup-key")
    def backup_key() -> DataKeyOut:
        with provider_errors(unavailable="root_key_unavailable"):
            key = ensure_backup_key(provider, provider.directory, region, roots.active(region).ref)
            return DataKeyOut.of(key)

    @router.get("/backup-passphrase")
    def backup_passphrase() -> PassphraseOut:
        with provider_errors(unavailable="root_key_unavailable"):
            passphrase = ensure_backup_passphrase(
                provider, provider.directory, region, roots.active(region).ref
            )
            return PassphraseOut(passphrase=passphrase)

    return router
