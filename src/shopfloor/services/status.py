"""Whether the platform of a project runs, the health of its parts and what the store holds."""

from __future__ import annotations

import json
from typing import Any

from shopfloor.config import Project
from shopfloor.errors import StoreError
from shopfloor.node import read_lock
from shopfloor.node.lock import read_token

__all__ = ["health_lines", "platform_status", "status_lines"]

STATUS_TIMEOUT_S = 10.0


async def platform_status(project: Project) -> dict[str, Any]:
    """The status of ``project``'s platform, JSON-ready.

    When the platform runs, its API's ``/api/v1/status`` (``running: true`` and the
    health of each service); otherwise the store's row counts and size read from the
    file. A problem (API unreachable or failing, store that cannot be opened) is the
    ``error`` field, naming the URL or file; it is not raised.
    """
    lock = read_lock(project.state_dir)
    if lock is not None and lock.api_url:
        token = read_token(project.state_dir)
        return {"running": True, "pid": lock.pid, **await _remote_status(lock.api_url, token)}
    if lock is not None:
        return {
            "running": True,
            "pid": lock.pid,
            "error": f"the platform (pid {lock.pid}) runs without its API; no status to show",
        }
    if not project.store_path.exists():
        return {"running": False, "store": None}
    from shopfloor.store import DuckDBStore

    store = DuckDBStore(project.store_path, project.config.store)
    try:
        await store.open()
        try:
            stats = await store.stats()
        finally:
            await store.close()
    except StoreError as err:
        return {"running": False, "store": None, "error": str(err)}
    return {
        "running": False,
        "store": {
            "rows": stats.rows,
            "size_bytes": stats.size_bytes,
            "location": stats.location,
        },
    }


async def _remote_status(api_url: str, token: str | None) -> dict[str, Any]:
    import httpx

    url = f"{api_url}/api/v1/status"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(
            base_url=api_url, timeout=STATUS_TIMEOUT_S, headers=headers
        ) as client:
            response = await client.get("/api/v1/status")
    except httpx.HTTPError as err:
        return {"error": f"API unreachable at {url}: {err or type(err).__name__}"}
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except (json.JSONDecodeError, AttributeError):
            detail = response.text
        return {"error": f"API refused: {url} answered {response.status_code}: {detail!s:.200}"}
    try:
        body = response.json()
    except json.JSONDecodeError:
        return {"error": f"{url} answered no JSON: {response.text[:200]!r}"}
    if not isinstance(body, dict):
        return {"error": f"{url} answered {body!r}, not a status object"}
    return body


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value) or "-"
    if value is None:
        return "-"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def health_lines(health: Any, depth: int = 0) -> list[str]:
    """Nested health as indented ``name: value`` lines (no Python reprs)."""
    pad = "  " * depth
    if not isinstance(health, dict):
        return [f"{pad}{health}"]
    lines = []
    for name, value in health.items():
        if not isinstance(value, dict):
            lines.append(f"{pad}{name}: {_cell(value)}")
        elif len(value) <= 6 and all(not isinstance(v, dict | list) for v in value.values()):
            lines.append(f"{pad}{name}: " + ", ".join(f"{k} {_cell(v)}" for k, v in value.items()))
        else:
            lines += [f"{pad}{name}", *health_lines(value, depth + 1)]
    return lines


def status_lines(result: dict[str, Any]) -> tuple[list[str], list[tuple[str, int]], list[str]]:
    """``shopfloor status`` in words: the head lines, the store's (table, rows), the health."""
    head = ["platform: " + ("running" if result["running"] else "not running")]
    if "pid" in result:
        head[0] += f" (pid {result['pid']})"
    store, rows = result.get("store"), []
    if store and store.get("state") == "failed":
        head.append(f"store: failed: {store.get('reason')}")
    elif store:
        head.append(f"store: {store['location']} ({store['size_bytes'] / 1e6:.1f} MB)")
        rows = list(store["rows"].items())
    return head, rows, health_lines(result.get("services") or {})
