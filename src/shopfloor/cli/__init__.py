"""The command line (typer + rich); the only place with ``asyncio.run``."""
