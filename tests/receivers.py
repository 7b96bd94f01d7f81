"""Receivers that tests send to on loopback: webhooks (HTTP), MQTT (mosquitto), email (SMTP)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = ["MOSQUITTO", "Mailbox", "Receiver", "free_port", "mosquitto"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mosquitto(folder: Path, config: str = "") -> Iterator[int]:
    """A mosquitto broker on a free loopback port (its config in ``folder``); yields the port.

    ``config`` adds lines to the listener's settings (a password file, TLS certificates);
    with them, ``allow_anonymous`` is up to the caller.

    Raises
    ------
    RuntimeError
        When mosquitto is not installed or does not start.
    """
    if not Path(MOSQUITTO).exists():
        raise RuntimeError("mosquitto is not installed (make test installs it)")
    port = free_port()
    conf = folder / "mosquitto.conf"
    extra = config or "allow_anonymous true\n"
    conf.write_text(
        f"per_listener_settings false\npersistence false\nlistener {port} 127.0.0.1\n{extra}"
    )
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                if proc.poll() is not None:
                    err = proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(f"mosquitto did not start: {err!r}") from None
                threading.Event().wait(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()


class Mailbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


class Receiver:
    """An HTTP server answering each POST with the next status of ``statuses`` (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.bodies.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
