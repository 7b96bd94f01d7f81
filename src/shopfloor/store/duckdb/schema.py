"""The tables of the embedded store and their version (``schema_version`` 1).

- ``signals``: one row per (asset, signal) with its definition as JSON and a numeric id.
- ``provenance``: interned (connector, address, backfilled) triples.
- ``scalars``: ``signal_id, ts, value, quality, status_code, ingest_ts, provenance_id``.
- ``waveforms``: one row per block; the samples are a BLOB of the raw little-endian
  array (C order, ``n_samples x n_channels``) in the dtype received, so no precision is
  lost; ``docs/benchmarks.md`` compares this with a bare DuckDB Arrow append.
- ``images``: one row per image, encoded bytes as received (PNG, JPEG).
- ``events``, ``dead_letters``.
- ``annotations``: labelled time ranges (``healthy``, ``ignore``, ``fault:<type>``) of an
  asset or one of its signals, with who labelled them and when (:mod:`.labels`).
  Added after version 1 was released, with ``IF NOT EXISTS``: older files get it when
  opened for writing, so the version stays 1.
- ``alerts`` and ``alert_changes``: alerts of the runtime's rules with their lifecycle
  state, and every change of them (who, when, from, to, comment) (:mod:`.alerts`). Added
  the same way as ``annotations``.
- ``deployments`` and ``deployment_changes``: the desired state of the runtime's
  deployments (which model version scores which asset, in which mode) and their audit
  log (who, when, from, to, why) (:mod:`.deployments`). Added the same way.
- ``images.attributes``: text metadata of each image as JSON (part id, barcode, label,
  source file). Added after version 1 with ``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``
  when a file is opened for writing; reads of an older file opened read-only give ``{}``.
"""

from __future__ import annotations

from typing import Any

import duckdb

from shopfloor.errors import StoreError
from shopfloor.model import SignalKind

__all__ = [
    "SCHEMA_VERSION",
    "TABLES",
    "create_or_check",
    "first",
    "has_column",
    "read_added_table",
]

SCHEMA_VERSION = 1

TABLES: dict[SignalKind, str] = {
    SignalKind.SCALAR: "scalars",
    SignalKind.WAVEFORM: "waveforms",
    SignalKind.IMAGE: "images",
    SignalKind.EVENT: "events",
}
"""The table holding each kind of signal's values."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS signal_ids START 1;
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER PRIMARY KEY, asset VARCHAR NOT NULL, name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, unit VARCHAR NOT NULL, definition JSON NOT NULL,
    created_ts TIMESTAMP_NS NOT NULL, UNIQUE (asset, name));
CREATE SEQUENCE IF NOT EXISTS provenance_ids START 1;
CREATE TABLE IF NOT EXISTS provenance (
    id INTEGER PRIMARY KEY, connector VARCHAR NOT NULL, address VARCHAR NOT NULL,
    backfilled BOOLEAN NOT NULL, UNIQUE (connector, address, backfilled));
CREATE TABLE IF NOT EXISTS scalars (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, value DOUBLE,
    quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS waveforms (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, sample_rate_hz DOUBLE NOT NULL,
    n_samples INTEGER NOT NULL, n_channels SMALLINT NOT NULL, dtype VARCHAR NOT NULL,
    unit VARCHAR NOT NULL, quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, format VARCHAR NOT NULL,
    height INTEGER NOT NULL, width INTEGER NOT NULL, channels SMALLINT NOT NULL,
    quality UTINYINT NOT NULL, status_code UINTEGER NOT NULL,
    ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL, payload BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    signal_id INTEGER NOT NULL, ts TIMESTAMP_NS NOT NULL, kind VARCHAR NOT NULL,
    severity VARCHAR NOT NULL, message VARCHAR NOT NULL, attributes JSON,
    quality UTINYINT NOT NULL, ingest_ts TIMESTAMP_NS NOT NULL, provenance_id INTEGER NOT NULL);
CREATE SEQUENCE IF NOT EXISTS dead_letter_ids START 1;
CREATE TABLE IF NOT EXISTS dead_letters (
    id BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_ids'),
    received_ts TIMESTAMP_NS NOT NULL, source VARCHAR NOT NULL, location VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, category VARCHAR, payload BLOB, detail JSON);
CREATE SEQUENCE IF NOT EXISTS annotation_ids START 1;
CREATE TABLE IF NOT EXISTS annotations (
    id BIGINT PRIMARY KEY DEFAULT nextval('annotation_ids'),
    asset VARCHAR NOT NULL, signal VARCHAR, start_ts TIMESTAMP_NS NOT NULL,
    end_ts TIMESTAMP_NS NOT NULL, label VARCHAR NOT NULL, comment VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL, created_ts TIMESTAMP_NS NOT NULL);
CREATE SEQUENCE IF NOT EXISTS alert_ids START 1;
CREATE TABLE IF NOT EXISTS alerts (
    id BIGINT PRIMARY KEY DEFAULT nextval('alert_ids'),
    rule VARCHAR NOT NULL, asset VARCHAR NOT NULL, signal VARCHAR, severity VARCHAR NOT NULL,
    state VARCHAR NOT NULL, message VARCHAR NOT NULL, value DOUBLE,
    opened_ts TIMESTAMP_NS NOT NULL, updated_ts TIMESTAMP_NS NOT NULL,
    resolved_ts TIMESTAMP_NS, shelved_until_ts TIMESTAMP_NS, raised_count INTEGER NOT NULL,
    verdict VARCHAR, verdict_comment VARCHAR NOT NULL, verdict_by VARCHAR NOT NULL,
    verdict_ts TIMESTAMP_NS, label_id BIGINT);
CREATE TABLE IF NOT EXISTS alert_changes (
    alert_id BIGINT NOT NULL, at_ts TIMESTAMP_NS NOT NULL, who VARCHAR NOT NULL,
    action VARCHAR NOT NULL, from_state VARCHAR, to_state VARCHAR NOT NULL,
    comment VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (
    name VARCHAR NOT NULL, asset VARCHAR NOT NULL, model VARCHAR NOT NULL,
    version INTEGER NOT NULL, mode VARCHAR NOT NULL, pipeline VARCHAR NOT NULL,
    running BOOLEAN NOT NULL, previous JSON NOT NULL, changed_by VARCHAR NOT NULL,
    changed_ts TIMESTAMP_NS NOT NULL, reason VARCHAR NOT NULL, PRIMARY KEY (name, asset));
CREATE SEQUENCE IF NOT EXISTS deployment_change_ids START 1;
CREATE TABLE IF NOT EXISTS deployment_changes (
    id BIGINT PRIMARY KEY DEFAULT nextval('deployment_change_ids'),
    action VARCHAR NOT NULL, name VARCHAR NOT NULL, asset VARCHAR NOT NULL,
    at_ts TIMESTAMP_NS NOT NULL, who VARCHAR NOT NULL, from_ref VARCHAR, to_ref VARCHAR,
    reason VARCHAR NOT NULL, mode VARCHAR);
"""


_IMAGE_ATTRIBUTES = "ALTER TABLE images ADD COLUMN IF NOT EXISTS attributes JSON;"
"""Images carry their attributes (added after version 1; the last column of ``images``)."""


def has_column(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    """True when ``table`` of the open file has ``column`` (an older file may not)."""
    rows = con.execute(
        "SELECT count(*) FROM duckdb_columns() WHERE table_name = ? AND column_name = ?",
        [table, column],
    ).fetchall()
    return bool(rows and rows[0][0])


def first(rows: list[tuple[Any, ...]]) -> tuple[Any, ...] | None:
    """The first row of a fully fetched result (DuckDB wants results consumed)."""
    return rows[0] if rows else None


def read_added_table(db: Any, sql: str, params: list[Any], action: str) -> Any:
    """Rows of a read on a table added after version 1 (``db`` a :class:`.database.Database`).

    A read-only store written before the table existed has no such table: it reads as
    empty (the coroutine returns ``[]``).
    """

    def run(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
        try:
            return con.execute(sql, params).fetchall()
        except duckdb.CatalogException:  # a read-only store from before the table existed
            return []

    return db.run_read(run, action)


def create_or_check(con: duckdb.DuckDBPyConnection, path: str, *, read_only: bool) -> None:
    """Create the tables (unless ``read_only``) and check the schema version.

    Raises
    ------
    StoreError
        When the file holds another schema version, or a read-only file has no schema.
    """
    if not read_only:
        con.execute(_SCHEMA)
        con.execute(_IMAGE_ATTRIBUTES)
    try:
        row = first(con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall())
    except duckdb.CatalogException as err:
        raise StoreError(f"{path} is not a shopfloor store (no 'meta' table)") from err
    if row is None:
        if read_only:
            raise StoreError(f"{path} is not a shopfloor store (no schema version)")
        con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)])
    elif int(row[0]) != SCHEMA_VERSION:
        raise StoreError(
            f"store {path} has schema version {row[0]}; this shopfloor reads "
            f"version {SCHEMA_VERSION}"
        )
