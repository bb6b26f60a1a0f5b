"""Media tokens at the edge: plain links (`<img src>`, downloads) carry no user token and no
site header, only `?token=` that media signed. The edge checks it is a genuine, current media
token and learns from it which site the request is for; media checks its scope again."""

from __future__ import annotations

from urllib.parse import parse_qs

from tenantry.platform.media_tokens import MediaGrant, MediaTokenReader
from tenantry.platform.service_keys import KeyRepository


class MediaLinks:
    """Read the media token of a plain link (no replay check: links are reused)."""

    def __init__(self, keys: KeyRepository) -> None:
        self._reader = MediaTokenReader(keys)

    def verify(self, query_string: bytes) -> MediaGrant:
        """The grant of the one `token` in a query string; 403 with the reason otherwise."""
        values = parse_qs(query_string.decode("latin-1")).get("token", [])
        return self._reader.read(values[0] if len(values) == 1 else None)
