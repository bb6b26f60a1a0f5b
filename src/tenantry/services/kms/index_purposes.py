"""Which blind-index keys each service may have: one purpose per indexed column, and the
service that owns the column.

An index key lets its holder test any guess against the column's index (is this email an
account here?), so kms hands a purpose's key only to the service whose column it indexes: the
allowlist lets issues and pages ask for index keys, this says which ones.
"""

from __future__ import annotations

from types import MappingProxyType

PURPOSES_BY_CALLER = MappingProxyType(
    {
        "identity": frozenset({b"tenantry accounts email index"}),
        "issues": frozenset({b"issues.label"}),
        "pages": frozenset({b"pages/search-term"}),
    }
)


def may_have(caller: str | None, purpose: bytes) -> bool:
    """Whether `caller` owns the column that `purpose`'s index key indexes."""
    return caller is not None and purpose in PURPOSES_BY_CALLER.get(caller, frozenset())
