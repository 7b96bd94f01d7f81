"""The HTTP API of a running platform (FastAPI)."""
