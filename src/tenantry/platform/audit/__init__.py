"""The tamper-evident audit log as every service sees it: events, the outbox that carries them
to the region's audit service, and the Merkle tree and checkpoints that make the log provable."""
