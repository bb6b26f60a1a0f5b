"""The media service's revisions, in order."""
