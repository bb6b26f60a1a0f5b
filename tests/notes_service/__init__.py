"""notes: the smallest complete tenantry service, and the template for a new one.

It has everything a real service has, each in the file the README's "Adding a service" names:
`models.py` (its tables and `SCHEMA`), `migrations/` (its Alembic revisions), `routes.py` (its
routers, which own no SQL), `store.py` (the SQL, through tenant-scoped sessions), `app.py` (the
app factory) and `spec.py` (what the registry needs to run, migrate and check it). The storage
tests also use its tables under other names.
"""
