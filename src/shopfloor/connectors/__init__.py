"""Connectors: from machines and files into records, under one engine."""
