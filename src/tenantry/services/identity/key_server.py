"""The public key repository over HTTPS, for fleets whose services do not share a disk.

`GET /asap/keys/<issuer>/<keyname>` answers with that service's public key as PEM, the ASAP
key-server convention, so both tenantry's `HttpKeyRepository` and the reference ASAP library's
HTTPS retriever can use it. Public keys are public: the route needs no token.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter
from starlette.responses import Response

from tenantry.platform.errors import ApiError
from tenantry.platform.service_keys import KeyRepository, KidError, UnknownKeyError

PREFIX = "/asap/keys/"


def build_key_router(keys: KeyRepository) -> APIRouter:
    """A router serving every public key `keys` holds."""
    router = APIRouter()

    @router.get(PREFIX + "{issuer}/{keyname}", include_in_schema=False)
    def public_key(issuer: str, keyname: str) -> Response:
        try:
            key = keys.public_key(f"{issuer}/{keyname}")
        except KidError as exc:
            raise ApiError(400, "invalid_kid", "that is not a key id") from exc
        except UnknownKeyError as exc:
            raise ApiError(404, "unknown_kid", "there is no such key") from exc
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Response(pem, media_type="application/x-pem-file")

    return router
