"""The user tokens identity issues at login: short-lived, for the edge, naming the account.

A token names the tenant, the account and the account's token generation. It names no role:
the edge forwards the account's current role, whatever it was when the token was issued.
"""

from __future__ import annotations

from tenantry.platform import claims as claim
from tenantry.platform.tokens import TokenSigner
from tenantry.services.identity.models import Account

AUDIENCE = "edge"
LIFETIME_SECONDS = 900


class UserTokens:
    """Sign user tokens with identity's key."""

    def __init__(self, signer: TokenSigner) -> None:
        self._signer = signer

    def issue(self, account: Account) -> str:
        """A token for `account`, valid LIFETIME_SECONDS (the signer's lifetime)."""
        return self._signer.sign(
            AUDIENCE,
            {
                claim.TENANT: account.tenant_id,
                claim.USER: account.account_id,
                claim.TOKEN_GENERATION: account.token_generation,
            },
        )
