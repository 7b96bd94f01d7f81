"""Protocol libraries' own log noise, demoted to debug records.

Client libraries log a warning (often with a traceback or a frame dump) from several
places for each lost connection or unanswered request. A connector reports each such
event in one line itself, so the library's account is kept for whoever logs at debug
level and hidden from everyone else.
"""

from __future__ import annotations

import logging

__all__ = ["demote_to_debug"]


class _ToDebug(logging.Filter):
    """Turn a record into a debug record (traceback kept for whoever logs at debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.msg = f"{record.levelname.lower()}: {record.msg}"
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        # handlers rarely set a level of their own: keep the record only where debug is on
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


_TO_DEBUG = _ToDebug()


def demote_to_debug(*names: str) -> None:
    """Demote every record of the loggers ``names`` to debug level (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _TO_DEBUG not in logger.filters:
            logger.addFilter(_TO_DEBUG)
