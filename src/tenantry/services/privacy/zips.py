"""The export's one zip, kept by media in the collection `privacy:<export id>`: made, stored,
linked with a short-lived media token (as attachments are), and deleted."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from typing import Any

from tenantry.platform.client import ServiceClient, for_current_tenant
from tenantry.platform.errors import ApiError
from tenantry.services.privacy.steps import answered

LINK_LIFETIME = 300
"""How long a download link works (seconds); each look at the export makes a new one."""
TOKEN_LIFETIME = 600
MEDIA_LINKS = "/rest/media/files"


def collection_of(export_id: str) -> str:
    """The media collection an export's zip lives in."""
    return f"privacy:{export_id}"


def build_zip(records: dict[str, dict[str, Any]], files: list[tuple[str, str, bytes]]) -> bytes:
    """One zip: `<store>.json` per store, and `files/<id>/<name>` per uploaded file."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for store, document in sorted(records.items()):
            archive.writestr(f"{store}.json", json.dumps(document, indent=2, sort_keys=True))
        for file_id, name, data in files:
            archive.writestr(f"files/{file_id}/{_safe(name)}", data)
    return out.getvalue()


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in name).strip(". ")
    return cleaned or "file"


async def _token(client: ServiceClient, collection: str, actions: list[str], lifetime: int) -> str:
    response = await client.call(
        "media",
        "POST",
        "/internal/media/tokens",
        json={"collection": collection, "actions": actions, "lifetime": lifetime},
        **for_current_tenant(),
    )
    if response.status != 201:
        raise ApiError(502, "store_failed", "media issued no token")
    return str(response.json()["token"])


async def store_zip(client: ServiceClient, export_id: str, data: bytes) -> str:
    """Hand the zip to media; its file id."""
    collection = collection_of(export_id)
    token = await _token(client, collection, ["insert"], TOKEN_LIFETIME)
    boundary = uuid.uuid4().hex
    body = (
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="export-{export_id}.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = await client.call(
        "media",
        "POST",
        "/internal/media/collections/{collection}/files",
        params={"collection": collection},
        query={"token": token},
        content=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        **for_current_tenant(),
    )
    if response.status != 201:
        raise ApiError(502, "store_failed", f"media did not keep the zip ({response.status})")
    return str(response.json()["id"])


async def download_link(client: ServiceClient, export_id: str, file_id: str) -> str:
    """A link to the zip through the edge, good for LINK_LIFETIME seconds."""
    token = await _token(client, collection_of(export_id), ["read"], LINK_LIFETIME)
    return f"{MEDIA_LINKS}/{file_id}/content?token={token}"


async def delete_zip(client: ServiceClient, export_id: str) -> None:
    """Delete an export's zip (its account is being erased); gone already is fine."""
    collection = collection_of(export_id)
    token = await _token(client, collection, ["delete"], TOKEN_LIFETIME)
    response = await client.call(
        "media",
        "DELETE",
        "/internal/media/collections/{collection}",
        params={"collection": collection},
        query={"token": token},
        **for_current_tenant(),
    )
    if response.status not in (204, 404):
        answered(response, "media")
