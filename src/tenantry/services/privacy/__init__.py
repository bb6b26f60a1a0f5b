"""privacy: a person's export and erasure across every store of a site."""
