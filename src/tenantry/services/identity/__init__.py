"""identity: accounts, site membership and roles, password login and short-lived user tokens."""
