"""backup: continuous encrypted copies of every database, restores of a region or one tenant."""
