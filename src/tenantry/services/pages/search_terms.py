"""The words a page is found by, and their blind indexes.

A page's terms are the distinct words of its title and plain text, folded to lower case; each
is stored only as its blind index under the tenant's search purpose, so the index shows which
pages share a word (within one tenant) but never the word.
"""

from __future__ import annotations

import re

from tenantry.platform.blind_index import blind_index
from tenantry.platform.data_keys import TenantKeys

SEARCH_PURPOSE = b"pages/search-term"
MAX_TERMS = 5000
MAX_QUERY_TERMS = 8
_WORD = re.compile(r"\w{2,64}")


def words(text: str) -> list[str]:
    """The distinct words of `text`, folded, in the order first seen (at most MAX_TERMS)."""
    seen: dict[str, None] = {}
    for match in _WORD.finditer(text.casefold()):
        seen.setdefault(match.group(), None)
        if len(seen) >= MAX_TERMS:
            break
    return list(seen)


def terms(keys: TenantKeys, text: str) -> list[str]:
    """The blind indexes of the words of `text`."""
    return [blind_index(keys, SEARCH_PURPOSE, word) for word in words(text)]
