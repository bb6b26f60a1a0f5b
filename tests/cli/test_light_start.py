"""The command line starts light: loading it pulls in neither the storage stack nor the HTTP
client, so a command that needs neither (`--help`, a refused argument) answers at once, and
each command loads what it needs when it runs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "aiohttp", "boto3", "uvicorn", "fastapi", "tenantry.services.backup")


def test_loading_the_command_line_loads_no_storage_stack_and_no_http_client() -> None:
    probe = (
        "import json, sys; import tenantry.cli.main; "
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} "
        f"or m.startswith('tenantry.services.backup'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []
