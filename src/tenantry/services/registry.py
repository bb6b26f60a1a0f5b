"""Every service of a tenantry cloud, by its spec: the one list the command line reads.

`up` plans its processes from it, `serve` builds apps from it, `migrate` finds every database
from it, and the policy check reads each service's routes and calls from it. Adding a service is
writing its package (with a `spec.py`) and adding its spec here.
"""

from __future__ import annotations

from tenantry.platform.public_routes import PublicRoute
from tenantry.platform.service_spec import ServiceSpec
from tenantry.services.analytics.spec import SPEC as ANALYTICS
from tenantry.services.audit.spec import SPEC as AUDIT
from tenantry.services.backup.spec import SPEC as BACKUP
from tenantry.services.edge.spec import SPEC as EDGE
from tenantry.services.identity.spec import SPEC as IDENTITY
from tenantry.services.issues.spec import SPEC as ISSUES
from tenantry.services.kms.spec import SPEC as KMS
from tenantry.services.media.spec import SPEC as MEDIA
from tenantry.services.pages.spec import SPEC as PAGES
from tenantry.services.privacy.spec import SPEC as PRIVACY
from tenantry.services.tcs.spec import SPEC as TCS

SPECS: tuple[ServiceSpec, ...] = (
    IDENTITY,
    TCS,
    EDGE,
    ISSUES,
    PAGES,
    ANALYTICS,
    KMS,
    MEDIA,
    BACKUP,
    AUDIT,
    PRIVACY,
)
"""Global services first: regional ones call them as they start."""

_BY_NAME = {spec.name: spec for spec in SPECS}


class UnknownService(LookupError):
    """No service of that name is registered."""


def spec(name: str) -> ServiceSpec:
    """The spec of the service called `name`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise UnknownService(f"unknown service {name!r}; one of: {known}") from None


def names() -> tuple[str, ...]:
    """Every service's name, global services first."""
    return tuple(_BY_NAME)


def public_routes() -> tuple[PublicRoute, ...]:
    """The cloud's public route table: every service's public routes, in registry order."""
    return tuple(route for registered in SPECS for route in registered.public_routes)
