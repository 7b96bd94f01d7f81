"""The HTTP API as a service of the platform: uvicorn serving an app, started and stopped.

:class:`ApiServer` binds its socket itself, so a taken port is reported as
:class:`~shopfloor.errors.PortInUse` naming the address and, when it can be found, the
process that listens there. :meth:`ApiServer.start` returns only once the app answers its
health route, so whoever publishes the address afterwards (the platform's lock file) never
sends a client to a server that is not listening yet.

Examples
--------
>>> from fastapi import FastAPI
>>> server = ApiServer(FastAPI(), host="127.0.0.1", port=0)
>>> server.url is None
True
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp

from shopfloor.api.app import StatusProvider, create_app
from shopfloor.api.audit import AUDIT_NAME, AuditLog
from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import TOKENS_NAME, Role, TokenRegistry, new_secret
from shopfloor.config import Project
from shopfloor.errors import ConfigError, PortInUse, ServiceError
from shopfloor.node.lock import remove_token, write_token
from shopfloor.services.sessions import SessionStore
from shopfloor.services.users import USERS_NAME, UserRegistry
from shopfloor.store import Store

__all__ = ["STUDIO_PATH", "ApiServer", "StudioFactory", "api_server_factory", "listener_pid"]

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"


class ApiServer:
    """Serve ``app`` with uvicorn on ``host:port`` (a platform service).

    Parameters
    ----------
    app
        The ASGI app (usually :func:`shopfloor.api.app.create_app`).
    host, port
        Where to listen; port 0 picks a free one (see :attr:`url` once started).
    ready_timeout_s
        How long :meth:`start` waits for the app to answer ``health_path``.
    stop_timeout_s
        How long :meth:`stop` waits for open requests before it cancels the server.
    health_path
        The route polled for readiness; it must answer 200.
    ssl_certfile, ssl_keyfile
        Serve HTTPS with this certificate and key (both or neither).
    token
        ``(state_dir, secret)``: the platform's own token, written (mode 0600) once the API
        answers and removed when it stops, so local commands can authenticate.
    """

    name = "api"

    def __init__(
        self,
        app: FastAPI,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        ready_timeout_s: float = 10.0,
        stop_timeout_s: float = 5.0,
        health_path: str = HEALTH_PATH,
        ssl_certfile: Path | None = None,
        ssl_keyfile: Path | None = None,
        token: tuple[Path, str] | None = None,
    ) -> None:
        self.app = app
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.token = token
        self.host = host
        self.port = port
        self.ready_timeout_s = ready_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.health_path = health_path
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._url: str | None = None

    @property
    def url(self) -> str | None:
        """``http://host:port`` once the server answers, else ``None``."""
        return self._url

    async def start(self) -> None:
        """Listen, and return once the app answers its health route.

        Raises
        ------
        PortInUse
            When ``host:port`` is taken.
        ServiceError
            When the server fails to start or does not answer within ``ready_timeout_s``.
        """
        sock = bind_socket(self.host, self.port)
        port = int(sock.getsockname()[1])
        tls = self.ssl_certfile is not None and self.ssl_keyfile is not None
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
            ssl_certfile=str(self.ssl_certfile) if tls else None,
            ssl_keyfile=str(self.ssl_keyfile) if tls else None,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="api")
        url = f"{'https' if tls else 'http'}://{_url_host(self.host)}:{port}"
        try:
            await self._wait_ready(url)
        except BaseException:
            await self.stop()
            sock.close()  # uvicorn owns it once it serves; before that, nobody does
            raise
        if self.token is not None:
            write_token(*self.token)
        self._url = url
        log.info("api.started url=%s", url)

    async def _wait_ready(self, url: str) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        last_error = "no answer"
        async with httpx.AsyncClient(
            base_url=url, timeout=1.0, trust_env=False, verify=False
        ) as client:
            while True:
                if self._task is not None and self._task.done():
                    exc = None if self._task.cancelled() else self._task.exception()
                    raise ServiceError(
                        f"the API on {self.host}:{self.port} stopped while starting: "
                        f"{exc or 'server exited'}"
                    ) from exc
                try:
                    response = await client.get(self.health_path)
                except httpx.TransportError as err:
                    last_error = f"{type(err).__name__}: {err}"
                else:
                    if response.status_code == 200:
                        return
                    last_error = f"{self.health_path} answered {response.status_code}"
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"the API on {url} did not answer {self.health_path} within "
                        f"{self.ready_timeout_s:g} s ({last_error})"
                    )
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop serving; open requests get ``stop_timeout_s`` to finish."""
        server, task = self._server, self._task
        self._server, self._task, self._url = None, None, None
        if server is None or task is None:
            return
        if self.token is not None:
            remove_token(self.token[0])
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), self.stop_timeout_s)
        except TimeoutError:
            log.warning("api.stop_timeout after_s=%g", self.stop_timeout_s)
            task.cancel()
        except Exception:  # the server failed; it is stopped either way
            log.exception("api.failed")
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        log.info("api.stopped")

    def health(self) -> dict[str, Any]:
        """Whether the server runs, and where."""
        running = self._task is not None and not self._task.done()
        return {"state": "running" if running else "stopped", "url": self._url}


StudioFactory = Callable[
    [Store, StatusProvider, UserRegistry, SessionStore, AuditLog | None, str | None], ASGIApp
]
"""Builds the Studio's app over (store, status, users, sessions, audit, local user):
:func:`shopfloor.studio.studio_factory` (the API does not import the Studio)."""
STUDIO_PATH = "/studio"
LOCAL_HOSTS = frozenset({"127.0.0.1"})
"""Where the single-user mode may listen."""


def api_server_factory(
    project: Project,
    *,
    port: int | None = None,
    studio: StudioFactory | None = None,
    local_user: str | None = None,
) -> Callable[[Store, StatusProvider], ApiServer]:
    """A factory the platform calls with its store and status to build its API server.

    The server checks every request against the project's tokens (``shopfloor tokens``)
    plus a fresh admin token of the platform's own, written beside the lock file for local
    commands; it keeps the project's audit log, host allow-list and body limits. With a
    Studio, browsers log in as the project's users (``shopfloor users``) and their
    session cookie is accepted by the API too.

    Parameters
    ----------
    project
        The project (its ``api:`` settings and state folder).
    port
        Override of ``api.port`` (0 picks a free one).
    studio
        Serve the Studio at ``/studio`` beside the API.
    local_user
        Single-user mode of the Studio: every browser is this admin without a login.
        Refused unless ``api.host`` is 127.0.0.1 (the embedded demo).

    Raises
    ------
    ConfigError
        ``local_user`` while the API listens beyond 127.0.0.1.
    """
    config = project.config.api
    state = project.state_dir
    if local_user is not None and config.host not in LOCAL_HOSTS:
        raise ConfigError(
            f"the Studio's local single-user mode needs api.host 127.0.0.1, not "
            f"{config.host!r}: anyone who reaches the address would be admin"
        )

    def build(store: Store, status: StatusProvider) -> ApiServer:
        secret = new_secret()
        tokens = TokenRegistry(state / TOKENS_NAME)
        tokens.add("platform", Role.ADMIN, secret)
        hosts = [*config.allowed_hosts]
        if config.host not in {"0.0.0.0", "::", ""}:
            hosts.append(config.host)
        users = UserRegistry(state / USERS_NAME)
        sessions = SessionStore(users)
        audit = AuditLog(state / AUDIT_NAME)
        security = ApiSecurity(
            tokens,
            allowed_hosts=hosts,
            max_body_bytes=config.max_body_bytes,
            max_json_bytes=config.max_json_bytes,
            max_image_bytes=config.max_image_bytes,
            audit=audit,
            sessions=sessions if studio is not None else None,
            users=users,
            form_paths=(f"{STUDIO_PATH}/",) if studio is not None else (),
        )
        mounts: list[tuple[str, ASGIApp]] = []
        if studio is not None:
            mounts.append((STUDIO_PATH, studio(store, status, users, sessions, audit, local_user)))
        certfile, keyfile = config.tls_certfile, config.tls_keyfile
        tls = certfile is not None and keyfile is not None
        return ApiServer(
            create_app(store, security, status=status, mounts=mounts),
            host=config.host,
            port=config.port if port is None else port,
            ssl_certfile=project.root / certfile if tls and certfile else None,
            ssl_keyfile=project.root / keyfile if tls and keyfile else None,
            token=(state, secret),
        )

    return build


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port``; :class:`PortInUse` when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise PortInUse(host, port, listener_pid(port)) from err
        raise ServiceError(f"the API cannot listen on {host}:{port}: {err}") from err
    sock.set_inheritable(True)
    return sock


def listener_pid(port: int, proc: Path = Path("/proc")) -> int | None:
    """The process listening on TCP ``port``, when the system says (Linux ``/proc``).

    Only processes whose file descriptors this user may read are found; ``None`` otherwise.
    """
    inodes: set[str] = set()
    for table in ("net/tcp", "net/tcp6"):
        with contextlib.suppress(OSError):
            for line in (proc / table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                if len(fields) < 10 or fields[3] != "0A":  # 0A: LISTEN
                    continue
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in targets:
                        return int(entry.name)
    return None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
