"""pgBackRest's tests make a PostgreSQL cluster of their own, whatever the suite's backend.

`make test` runs the suite on SQLite and then the storage-bound directories again with
`TENANTRY_TEST_BACKEND=postgres`; these tests hold on one cluster they own, so they run in the
first run only, and are left out of the second should their directory be named there.
"""

from backends import BACKEND

collect_ignore_glob = ["test_*.py"] if BACKEND == "postgres" else []
