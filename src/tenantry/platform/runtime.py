"""Everything one service process needs to take part in a cloud, loaded once at start.

A runtime names the service and its region, and holds the cloud's topology, the directory of
service URLs, the allowlist, this service's signing key, and the verifiers for incoming tokens
and tenant contexts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tenantry.platform.directory import ServiceDirectory
from tenantry.platform.keyrepo_directory import DirectoryKeyRepository
from tenantry.platform.policy import Policy, load_policy
from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.replay import ReplayCache
from tenantry.platform.replay_sqlite import SqliteReplayCache
from tenantry.platform.service_keys import KeyRepository, ServiceKey, load_service_key
from tenantry.platform.tenant_context import TenantContextVerifier
from tenantry.platform.tokens import TokenSigner, TokenVerifier
from tenantry.platform.topology import Topology, load_topology

REDIS_URL_ENV = "TENANTRY_REDIS_URL"
KEY_REPOSITORY_URL_ENV = "TENANTRY_KEY_REPOSITORY_URL"


KEY_SERVER = "identity"


def key_repository_for(service: str, data_dir: Path, ca_file: Path) -> KeyRepository:
    """Public keys from a key server when one is configured (fleets), else from the data dir.

    The key server itself always reads the directory: fetching from itself over HTTP would
    block the very event loop that has to answer.
    """
    url = os.environ.get(KEY_REPOSITORY_URL_ENV)
    if url and service != KEY_SERVER:
        from tenantry.platform.keyrepo_http import HttpKeyRepository  # httpx: fleets only

        return HttpKeyRepository(url, ca_file)
    return DirectoryKeyRepository(data_dir / "keys" / "public")


def replay_cache_for(data_dir: Path, service: str) -> ReplayCache:
    """The jti store every process of `service` shares: Redis if configured, else one file."""
    redis_url = os.environ.get(REDIS_URL_ENV)
    if redis_url:
        from tenantry.platform.replay_redis import RedisReplayCache  # redis: when configured

        return RedisReplayCache(redis_url, prefix=f"tenantry:jti:{service}:")
    return SqliteReplayCache(data_dir / "services" / service / "replay.sqlite")


@dataclass(frozen=True)
class ServiceRuntime:
    """The loaded configuration and credentials of one service process."""

    service: str
    region: str
    data_dir: Path
    topology: Topology
    directory: ServiceDirectory
    policy: Policy
    keys: KeyRepository
    key: ServiceKey
    signer: TokenSigner
    tokens: TokenVerifier
    tenant_contexts: TenantContextVerifier
    public_routes: tuple[PublicRoute, ...] = ()
    """The cloud's public route table, for a public service (the edge) to forward; `serve`
    hands it over from the registry."""

    @classmethod
    def load(
        cls,
        service: str,
        region: str,
        data_dir: Path,
        topology_file: Path | None = None,
        directory: ServiceDirectory | None = None,
    ) -> ServiceRuntime:
        """Load the runtime of `service` in `region` from a data directory made by `up`.

        `directory` is the one the services of this process share, if it runs several.
        """
        directory = directory or ServiceDirectory.load(data_dir)
        keys = key_repository_for(service, data_dir, directory.ca_file)
        key = load_service_key(data_dir, service)
        return cls(
            service=service,
            region=region,
            data_dir=data_dir,
            topology=load_topology(topology_file),
            directory=directory,
            policy=load_policy(),
            keys=keys,
            key=key,
            signer=TokenSigner(key),
            tokens=TokenVerifier(
                audience=service, keys=keys, replay=replay_cache_for(data_dir, service)
            ),
            tenant_contexts=TenantContextVerifier(keys),
        )
