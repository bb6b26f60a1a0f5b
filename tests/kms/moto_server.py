"""A KMS endpoint on loopback for the AWS provider tests: moto's server, in a thread of ours.

moto lets Encrypt and Decrypt use a disabled or pending-deletion key, which real KMS refuses with
DisabledException and KMSInvalidStateException (see "Key states of AWS KMS keys" in the KMS
developer guide). The server started here adds that rule to moto's backend, so the tests see over
HTTP the errors a revoked customer key really produces.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from moto.core.exceptions import JsonRESTError
from moto.kms.models import KmsBackend
from moto.server import ThreadedMotoServer

_moto_encrypt = KmsBackend.encrypt
_moto_decrypt = KmsBackend.decrypt


@contextmanager
def moto_kms_server() -> Iterator[str]:
    """Run moto on 127.0.0.1 with a port chosen by the OS; yield its endpoint URL."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with (
        mock.patch.object(KmsBackend, "encrypt", _encrypt),
        mock.patch.object(KmsBackend, "decrypt", _decrypt),
    ):
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def _require_usable(backend: KmsBackend, key_id: str) -> None:
    key = backend.keys[backend.any_id_to_key_id(key_id)]
    if key.key_state == "Disabled":
        raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
    if key.key_state != "Enabled":
        raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {key.key_state}.")


def _encrypt(self: KmsBackend, key_id: str, *args: Any, **kwargs: Any) -> tuple[bytes, str]:
    _require_usable(self, key_id)
    return _moto_encrypt(self, key_id, *args, **kwargs)


def _decrypt(self: KmsBackend, *args: Any, **kwargs: Any) -> tuple[bytes, str]:
    plaintext, arn = _moto_decrypt(self, *args, **kwargs)
    _require_usable(self, arn)
    return plaintext, arn
