"""The media service: files in collections, scoped media tokens, encrypted blobs, previews."""
