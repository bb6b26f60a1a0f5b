"""Issue attachments live in media: the calls issues makes there, and how media's refusals read.

Each issue's files are one media collection, `issues:<KEY>`. Issues never holds the bytes: it
asks media for a token scoped to that collection (naming the user, whose role media's view-only
check reads), then uploads or lists with it, service to service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenantry.platform.client import ServiceClient, ServiceResponse, for_current_tenant
from tenantry.platform.context import UserContext
from tenantry.platform.errors import ApiError

LINK_LIFETIME = 300
"""Seconds the media token in attachment links stays valid (media allows at most 600)."""
UPLOAD_LIFETIME = 60
CHUNK_TOKEN_LIFETIME = 600
"""Seconds a client's token for the chunks of one upload stays valid; asking for the upload's
state again gives a fresh one, so an upload can take longer."""

_PASSED_ON = frozenset({400, 409, 413, 415, 422, 429})
"""Media's refusals of what the client sent: the client sees them as media gave them."""


def collection_of(issue_key: str) -> str:
    """The media collection holding an issue's attachments."""
    return f"issues:{issue_key}"


@dataclass(frozen=True, slots=True)
class MediaToken:
    """A media token and the collection it is scoped to."""

    token: str
    collection: str
    expires_at: int = 0
    """When the token stops working (epoch seconds)."""


class MediaFiles:
    """The issues service's client for media, acting for the current tenant and user."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    async def token(
        self,
        collection: str,
        actions: list[str],
        user: UserContext | None,
        lifetime: int,
        attempt_seconds: float | None = None,
        upload: str | None = None,
    ) -> MediaToken:
        """A media token for `collection` allowing `actions`, issued for `user` (None: for
        this service itself), serving only the chunked upload `upload` if given;
        `attempt_seconds` bounds the wait for media."""
        body: dict[str, Any] = {"collection": collection, "actions": actions, "lifetime": lifetime}
        if upload is not None:
            body["upload"] = upload
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/tokens",
            json=body,
            user=user,
            attempt_seconds=attempt_seconds,
            **for_current_tenant(),
        )
        document = _answer(response, 201, missing="upload_not_found" if upload else None)
        token, expires_at = document.get("token"), document.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, int):
            raise ApiError(502, "media_error", "media answered a token request without a token")
        return MediaToken(token, collection, expires_at)

    async def upload(
        self, token: MediaToken, body: bytes, content_type: str, user: UserContext
    ) -> dict[str, Any]:
        """Hand a multipart body (its `file` field) to media; media's record of the new file."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/collections/{collection}/files",
            params={"collection": token.collection},
            query={"token": token.token},
            content=body,
            content_type=content_type,
            user=user,
            **for_current_tenant(),
        )
        return _answer(response, 201)

    async def files(self, token: MediaToken, user: UserContext) -> list[dict[str, Any]]:
        """Every file of the token's collection, as media describes them."""
        response = await self._client.call(
            "media",
            "GET",
            "/internal/media/collections/{collection}/files",
            params={"collection": token.collection},
            query={"token": token.token},
            user=user,
            **for_current_tenant(),
        )
        files = _answer(response, 200).get("files")
        if not isinstance(files, list):
            raise ApiError(502, "media_error", "media answered a listing without files")
        return files

    async def start_upload(
        self, token: MediaToken, name: str, size: int, chunk_size: int | None, user: UserContext
    ) -> dict[str, Any]:
        """Open a chunked upload into the token's collection; media's state of the upload."""
        body: dict[str, Any] = {"name": name, "size": size}
        if chunk_size is not None:
            body["chunk_size"] = chunk_size
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/collections/{collection}/uploads",
            params={"collection": token.collection},
            query={"token": token.token},
            json=body,
            user=user,
            **for_current_tenant(),
        )
        return _answer(response, 201)

    async def upload_state(
        self, token: MediaToken, upload_id: str, user: UserContext
    ) -> dict[str, Any]:
        """Which chunks of an upload media has; 404 `upload_not_found` when the token's
        collection has no such upload."""
        response = await self._client.call(
            "media",
            "GET",
            "/internal/media/uploads/{upload_id}",
            params={"upload_id": upload_id},
            query={"token": token.token},
            user=user,
            **for_current_tenant(),
        )
        return _answer(response, 200, missing="upload_not_found")

    async def complete_upload(
        self, token: MediaToken, upload_id: str, sha256: str | None, user: UserContext
    ) -> dict[str, Any]:
        """Have media assemble an upload into a file of the collection; media's record of it."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/uploads/{upload_id}/complete",
            params={"upload_id": upload_id},
            query={"token": token.token, **({"sha256": sha256} if sha256 else {})},
            user=user,
            **for_current_tenant(),
        )
        return _answer(response, 201, missing="upload_not_found")

    async def delete_file(
        self,
        token: MediaToken,
        file_id: str,
        user: UserContext | None,
        attempt_seconds: float | None = None,
    ) -> None:
        """Delete one file of the token's collection; 404 `attachment_not_found` when the
        collection has no such file."""
        response = await self._client.call(
            "media",
            "DELETE",
            "/internal/media/files/{file_id}",
            params={"file_id": file_id},
            query={"token": token.token},
            user=user,
            attempt_seconds=attempt_seconds,
            **for_current_tenant(),
        )
        if response.status != 204:
            raise _elsewhere(response, "attachment_not_found") or refusal(response)

    async def trash_file(self, token: MediaToken, file_id: str, user: UserContext) -> None:
        """Put one file of the token's collection in the trash (kept, no longer served);
        404 `attachment_not_found` when the collection has no such file."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/files/{file_id}/trash",
            params={"file_id": file_id},
            query={"token": token.token},
            user=user,
            **for_current_tenant(),
        )
        if response.status != 204:
            raise _elsewhere(response, "attachment_not_found") or refusal(response)

    async def restore_file(self, token: MediaToken, file_id: str, user: UserContext) -> None:
        """Take one file of the token's collection out of the trash; 404
        `attachment_not_found` when media no longer has it."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/files/{file_id}/restore",
            params={"file_id": file_id},
            query={"token": token.token},
            user=user,
            **for_current_tenant(),
        )
        if response.status != 204:
            raise _elsewhere(response, "attachment_not_found") or refusal(response)

    async def trash_collection(
        self, token: MediaToken, user: UserContext, attempt_seconds: float | None = None
    ) -> None:
        """Put every file of the token's collection in the trash (its issue went there)."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/collections/{collection}/trash",
            params={"collection": token.collection},
            query={"token": token.token},
            user=user,
            attempt_seconds=attempt_seconds,
            **for_current_tenant(),
        )
        if response.status != 204:
            raise refusal(response)

    async def restore_collection(
        self, token: MediaToken, keep: list[str], user: UserContext
    ) -> None:
        """Take the token's collection out of the trash, but the files in `keep`."""
        response = await self._client.call(
            "media",
            "POST",
            "/internal/media/collections/{collection}/restore",
            params={"collection": token.collection},
            query={"token": token.token},
            json={"keep": keep},
            user=user,
            **for_current_tenant(),
        )
        if response.status != 204:
            raise refusal(response)

    async def delete_collection(
        self, token: MediaToken, user: UserContext | None, attempt_seconds: float | None = None
    ) -> None:
        """Delete every file of the token's collection (its issue is gone).

        A 404 means the collection is already gone, which is what was asked for.
        """
        response = await self._client.call(
            "media",
            "DELETE",
            "/internal/media/collections/{collection}",
            params={"collection": token.collection},
            query={"token": token.token},
            user=user,
            attempt_seconds=attempt_seconds,
            **for_current_tenant(),
        )
        if response.status not in (204, 404):
            raise refusal(response)


def _answer(response: ServiceResponse, expected: int, missing: str | None = None) -> dict[str, Any]:
    """Media's JSON answer when it is the expected status; otherwise a clear refusal (with
    `missing` as the 404 reason for a thing the collection does not hold, when given)."""
    if response.status == expected:
        try:
            document = response.json()
        except ValueError:
            document = None
        if isinstance(document, dict):
            return document
        raise ApiError(502, "media_error", "media's answer was not a JSON object")
    if missing is not None:
        gone = _elsewhere(response, missing)
        if gone is not None:
            raise gone
    raise refusal(response)


_NOT_IN_COLLECTION = frozenset({"not_found", "media_token_wrong_collection"})


def _elsewhere(response: ServiceResponse, code: str) -> ApiError | None:
    """A 404 `code` when media has no such thing in the token's collection: none at all, or one
    of another collection (another issue's: to this issue it does not exist either)."""
    try:
        document = response.json()
    except ValueError:
        return None
    error = document.get("error") if isinstance(document, dict) else None
    if response.status in (403, 404) and error in _NOT_IN_COLLECTION:
        return ApiError(404, code, f"this issue has no such {code.removesuffix('_not_found')}")
    return None


def refusal(response: ServiceResponse) -> ApiError:
    """What a media error becomes for the client.

    The client's own mistakes (too large, malformed, over quota) keep their status and reason;
    a 5xx of media is a 503 `media_unavailable` (with media's reason in the message); anything
    else (a token media refused: a fault on this side) is a 502 `media_error`.
    """
    code, message = "media_error", f"media answered {response.status}"
    try:
        document = response.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        code = document["error"]
        message = str(document.get("message", message))
    if response.status in _PASSED_ON:
        headers = (
            {"retry-after": response.headers["retry-after"]}
            if "retry-after" in response.headers
            else None
        )
        return ApiError(response.status, code, message, headers)
    if response.status >= 500:
        retry = response.headers.get("retry-after", "1")
        return ApiError(
            503,
            "media_unavailable",
            f"media could not serve the request ({code})",
            {"retry-after": retry},
        )
    return ApiError(502, "media_error", f"media refused the request ({code}: {message})")
