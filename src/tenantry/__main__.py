"""Let `python -m tenantry` run the command line, as `tenantry up` spawns its services that way."""

from tenantry.cli.main import main

main()
