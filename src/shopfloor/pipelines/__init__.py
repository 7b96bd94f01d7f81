"""Composable pipelines: one code path for stored history and live data."""
