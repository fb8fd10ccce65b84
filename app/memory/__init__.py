"""Episodic and semantic memory: the `MemoryStore` interface, the SQL and Zep stores, the context engine."""
