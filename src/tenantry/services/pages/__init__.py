"""pages: a wiki of spaces and versioned pages whose bodies are structured documents."""
