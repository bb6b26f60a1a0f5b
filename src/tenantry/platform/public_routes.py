"""What a public URL is: each service declares its own in its spec, and the edge forwards them.

A service names its public routes beside its other facts (`ServiceSpec.public_routes`); the
registry joins them into the cloud's public route table, which `serve` hands to the edge and
the policy check compares with the allowlist. So no edge code names a service's URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tenantry.platform.policy import pattern_regex


@dataclass(frozen=True, slots=True)
class PublicRoute:
    """One public URL: the owning service, and how an edge authorises and forwards it."""

    method: str
    pattern: str
    service: str
    needs_user: bool = True
    regional: bool = True
    """Served by the tenant's home region; False for a global service's route."""
    media_token: bool = False
    """Authorised by a media token in `?token=` (plain links), not by a user token."""
    upload: bool = False
    """Takes a file as multipart/form-data, up to the media body limit, instead of JSON."""
    login: bool = False
    """Checks an account's password: the edge throttles failures per account and address."""
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", pattern_regex(self.pattern))
        if self.login and self.needs_user:
            raise ValueError(f"the login route {self.pattern} cannot need a signed-in user")
        if self.media_token and self.needs_user:
            raise ValueError(f"the media-token route {self.pattern} cannot need a user token")
