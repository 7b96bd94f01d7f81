"""What a user does (ingest, query, inspect, run the demo), shared by the CLI, API and Studio.

Each module holds typed functions over a project and its store; options are dataclasses,
errors are :class:`~shopfloor.errors.ShopfloorError` subclasses naming the option and the
value. Nothing here prints or reads the environment: callers parse and present.

This package imports nothing at import time, so that ``shopfloor --help`` stays light;
import the module you need (``from shopfloor.services.query import query_signal``).
"""
