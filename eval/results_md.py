"""Writing one evaluation's section of ``docs/results.md``, shared by the ``eval/`` scripts."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["table_head", "write_section"]


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the section headed ``title`` (or append it), keeping every other section."""
    old = path.read_text() if path.exists() else "# Results\n"
    pattern = re.compile(rf"^{re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _: text, old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n")


def table_head(head: str) -> list[str]:
    """A Markdown table's header row and the separator row under it."""
    return [head, "|" + "---|" * (head.count("|") - 1)]
