"""Every action an audit event may name, in one place, each with the kind of record it is.

An event whose action is not here is refused when it is made (`AuditEvent`), so a new kind of
event (a tenant move, a GDPR export or erasure) is added by naming it here, and readers that
pick events by kind (`tenantry keys audit` shows the `KEYS` kind) follow by themselves.
"""

from __future__ import annotations

from types import MappingProxyType

ACCOUNTS = "accounts"
KEYS = "keys"
TENANT = "tenant"
MEDIA = "media"
BACKUPS = "backups"
PRIVACY = "privacy"
LEGAL = "legal"

_KINDS: dict[str, tuple[str, ...]] = {
    ACCOUNTS: (
        "login",
        "login_failed",
        "account_created",
        "account_role_changed",
        "account_activated",
        "account_deactivated",
        "account_deleted",
        "account_restored",
        "account_erased",
        "password_changed",
        "token_revoked",
    ),
    KEYS: (
        "data_key_created",
        "data_key_rotated",
        "data_keys_retired",
        "data_keys_reopened_for_restore",
        "data_keys_rewrapped",
        "data_keys_moved",
        "data_keys_destroyed",
        "byok_enabled",
        "byok_disabled",
        "byok_switch_undone",
        "byok_key_revoked",
        "byok_key_restored",
    ),
    TENANT: (
        "tenant_suspended",
        "tenant_resumed",
        "tenant_moving",
        "tenant_moved",
        "tenant_move_source_removed",
        "tenant_restoring",
        "tenant_status_changed",
        "tenant_deleted",
        "tenant_undeleted",
        "tenant_purged",
    ),
    MEDIA: ("media_settings_changed",),
    BACKUPS: ("backup_verified",),
    PRIVACY: (
        "personal_data_exported",
        "personal_data_erased",
        "personal_data_erasures_replayed",
    ),
    # The transparency register's changes: recorded in the operator log only, never in the
    # log of a tenant a request names (its existence may be confidential toward the tenant).
    LEGAL: ("legal_request_recorded", "legal_request_updated"),
}

ACTIONS = MappingProxyType({action: kind for kind, names in _KINDS.items() for action in names})
"""Each known action and its kind."""


def actions_of(kind: str) -> frozenset[str]:
    """The actions of one kind (`KEYS`, `ACCOUNTS`, ...)."""
    return frozenset(action for action, its in ACTIONS.items() if its == kind)
