"""What the API checks before a request reaches a route, and who may call which route.

:class:`RequestGuard` (ASGI middleware) refuses, in this order:

- a Host header not in the allow-list (400): DNS rebinding from a web page;
- a write (POST, PUT, PATCH, DELETE) whose content type is neither JSON nor Arrow IPC
  (415): a web page may send ``text/plain`` cross-site without a preflight; image uploads
  (:data:`IMAGE_UPLOADS`) take multipart forms and image bodies instead;
- a body larger than the limit (413), by ``Content-Length`` up front and by counting
  while it streams in, so a large body is never buffered whole. An image upload is
  bounded here by ``max_body_bytes`` only: its route refuses one above
  ``max_image_bytes`` itself, so the refusal is also kept as a dead letter.

:func:`require` gives each route a FastAPI dependency (:data:`Viewer`, :data:`Admin`...)
that requires a bearer token of at least a given :class:`~shopfloor.api.tokens.Role`
(401 without a valid token, 403 when its role is too low). Where the API serves the
Studio, a browser's session cookie (:mod:`shopfloor.services.sessions`) stands for a token
too; a write by cookie must also carry the session's CSRF token in the ``X-CSRF-Token``
header (403 otherwise), since a browser sends cookies with requests that other sites make.
Form posts (``application/x-www-form-urlencoded``) are let through only under the
``form_paths`` prefixes (the Studio's), whose routes check the CSRF token themselves.
:func:`record_refusal` writes such a refusal to the audit log when a token was
presented: an operator sees who tried what, from where, and why it was refused.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfloor.api.audit import UNKNOWN_TOKEN, AuditLog
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.errors import (
    ApiError,
    AuthenticationRequired,
    HostNotAllowed,
    PayloadTooLarge,
    PermissionDenied,
    ShopfloorError,
    UnsupportedMediaType,
    http_status,
)
from shopfloor.services.sessions import CSRF_HEADER, SESSION_COOKIE, SessionStore
from shopfloor.services.users import UserRegistry

__all__ = [
    "ARROW_FILE",
    "ARROW_STREAM",
    "FORM",
    "IMAGE_UPLOADS",
    "JSON",
    "LOOPBACK_NAMES",
    "UPLOAD_TYPES",
    "Admin",
    "ApiSecurity",
    "Engineer",
    "Operator",
    "Principal",
    "RequestGuard",
    "Viewer",
    "authorize",
    "authorize_session",
    "error_body",
    "record_refusal",
    "require",
    "unauthorized_headers",
]

ARROW_STREAM = "application/vnd.apache.arrow.stream"
IMAGE_UPLOADS = "/api/v1/images/"
"""Path prefix of the image upload route."""
UPLOAD_TYPES = frozenset(
    {"multipart/form-data", "image/png", "image/jpeg", "application/octet-stream"}
)
"""Content types an image upload may have (what the bytes are is checked by decoding)."""
ARROW_FILE = "application/vnd.apache.arrow.file"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ApiSecurity:
    """How the API protects itself.

    Parameters
    ----------
    tokens
        The tokens it accepts.
    allowed_hosts
        Host header names accepted besides localhost, 127.0.0.1 and [::1].
    max_body_bytes
        Largest body of an Arrow IPC write.
    max_json_bytes
        Largest JSON body.
    max_image_bytes
        Largest image upload (its route answers 413 above it, and keeps a dead letter).
    audit
        Where destructive operations are recorded (``None``: nowhere).
    sessions
        Browser sessions accepted beside tokens (``None``: tokens only).
    users
        The project's users, managed over ``/api/v1/users`` (``None``: not served).
    form_paths
        Path prefixes under which HTML form posts are accepted (the Studio's).
    """

    tokens: TokenRegistry
    allowed_hosts: Iterable[str] = ()
    max_body_bytes: int = 256 * 1024 * 1024
    max_json_bytes: int = 16 * 1024 * 1024
    max_image_bytes: int = 20 * 1024 * 1024
    audit: AuditLog | None = None
    sessions: SessionStore | None = None
    users: UserRegistry | None = None
    form_paths: tuple[str, ...] = ()
    hosts: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = {h.lower() for h in self.allowed_hosts}
        names |= {f"[{h}]" for h in names if ":" in h and not h.startswith("[")}
        object.__setattr__(self, "hosts", frozenset(LOOPBACK_NAMES | names))


def error_body(error: ShopfloorError) -> dict[str, str]:
    """The JSON body of an error answer: its class name and message."""
    return {"error": type(error).__name__, "detail": str(error)}


def _host_name(host: str) -> str:
    """``host`` without its port: ``[::1]:8000`` -> ``[::1]``, ``a.b:80`` -> ``a.b``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class RequestGuard:
    """ASGI middleware: Host allow-list, write content types and body limits."""

    def __init__(self, app: ASGIApp, security: ApiSecurity) -> None:
        self.app = app
        self.security = security

    async def _refuse(self, send: Send, error: ApiError) -> None:
        body = json.dumps(error_body(error)).encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": http_status(error),
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _check(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[ApiError | None, int]:
        """The refusal of a request by its headers (or ``None``), and its body limit."""
        raw_host = headers.get(b"host", b"").decode("latin-1")
        if _host_name(raw_host) not in self.security.hosts:
            return HostNotAllowed(
                f"Host header {raw_host!r} is not allowed; the API answers to "
                f"{', '.join(sorted(self.security.hosts))} (add names to api.allowed_hosts)"
            ), 0
        limit = self.security.max_body_bytes
        if scope["method"] not in _WRITES:
            return None, limit
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        media = content_type.split(";", 1)[0].strip().lower()
        length_text = headers.get(b"content-length", b"").decode("latin-1")
        has_body = b"transfer-encoding" in headers or length_text.strip() not in {"", "0"}
        if scope["method"] == "POST" and scope["path"].startswith(IMAGE_UPLOADS):
            if media in UPLOAD_TYPES:
                return None, limit  # the route checks the size against max_image_bytes
            if media == JSON:  # the route refuses it, once the token is checked
                return None, self.security.max_json_bytes
            return UnsupportedMediaType(
                f"POST {scope['path']}: content type {content_type!r} is not accepted; send "
                f"{', '.join(sorted(UPLOAD_TYPES))}"
            ), limit
        if media == JSON:
            limit = self.security.max_json_bytes
        elif media in {ARROW_STREAM, ARROW_FILE}:
            pass
        elif media == FORM and scope["path"].startswith(self.security.form_paths):
            limit = self.security.max_json_bytes
        elif media or has_body:
            return UnsupportedMediaType(
                f"{scope['method']} {scope['path']}: content type {content_type!r} is not "
                f"accepted; send {JSON} or {ARROW_STREAM}"
            ), limit
        if length_text:
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if length < 0:
                return ApiError(f"Content-Length {length_text!r} is not a byte count"), limit
            if length > limit:
                return PayloadTooLarge(
                    f"{scope['method']} {scope['path']}: body of {length} bytes exceeds the "
                    f"limit of {limit} bytes"
                ), limit
        return None, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the request, then pass it on with a receive that counts the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        refusal, limit = self._check(scope, headers)
        if refusal is not None:
            await self._refuse(send, refusal)
            return
        received = 0
        too_large: PayloadTooLarge | None = None
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = PayloadTooLarge(
                        f"{scope['method']} {scope['path']}: body exceeds the limit of "
                        f"{limit} bytes"
                    )
                    raise too_large
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large is not None:
                return  # the app's answer to a cut-off body is replaced by the 413
            started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if too_large is None:
                raise
        if too_large is not None and not started:
            await self._refuse(send, too_large)


@dataclass(frozen=True)
class Principal:
    """Who makes a request: the token's name and role, and the client address."""

    name: str
    role: Role
    client: str | None


@dataclass(frozen=True)
class _Attempt:
    """Who presented a token on a request (kept in ``request.state`` for the audit)."""

    who: str
    role: Role | None


_bearer = HTTPBearer(auto_error=False, description="An API token: `shopfloor tokens create`.")


def require(role: Role) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: the caller's :class:`Principal` if its token allows ``role``.

    The tokens are those of the app's ``state.security`` (an :class:`ApiSecurity`).
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        security: ApiSecurity = request.app.state.security
        if credentials is None and security.sessions is not None:
            cookie = request.cookies.get(SESSION_COOKIE)
            if cookie is not None:
                return await authorize_session(security.sessions, request, cookie, role)
        return await authorize(security.tokens, request, credentials, role)

    return dependency


async def authorize(
    tokens: TokenRegistry,
    request: Request,
    credentials: HTTPAuthorizationCredentials | None,
    role: Role,
) -> Principal:
    """The caller of ``request`` if its token is in ``tokens`` and allows ``role``.

    Raises
    ------
    AuthenticationRequired
        No bearer token, or an unknown or revoked one.
    PermissionDenied
        The token's role is below ``role``.
    """
    what = f"{request.method} {request.url.path}"
    if credentials is None:
        raise AuthenticationRequired(
            f"{what} needs a token (header 'Authorization: Bearer TOKEN'; "
            "create one with 'shopfloor tokens create --role viewer')"
        )
    info = await asyncio.to_thread(tokens.authenticate, credentials.credentials)
    if info is None:
        request.state.attempt = _Attempt(UNKNOWN_TOKEN, None)
        raise AuthenticationRequired(f"{what}: the token is unknown or revoked")
    request.state.attempt = _Attempt(info.name, info.role)
    if not info.role.allows(role):
        raise PermissionDenied(
            f"{what} needs the {role.value} role; token {info.name!r} has {info.role.value}"
        )
    return Principal(info.name, info.role, request.client.host if request.client else None)


async def authorize_session(
    sessions: SessionStore, request: Request, session_id: str, role: Role
) -> Principal:
    """The caller of ``request`` if its session is open and allows ``role``.

    A write must also carry the session's CSRF token in the ``X-CSRF-Token`` header.

    Raises
    ------
    AuthenticationRequired
        The session is unknown, expired, or its user disabled.
    PermissionDenied
        The user's role is below ``role``, or a write lacks the CSRF token.
    """
    what = f"{request.method} {request.url.path}"
    session = sessions.get(session_id)
    if session is None:
        raise AuthenticationRequired(f"{what}: the session has expired or ended; log in again")
    request.state.attempt = _Attempt(f"user {session.user}", session.role)
    if request.method in _WRITES and not session.csrf_ok(request.headers.get(CSRF_HEADER)):
        raise PermissionDenied(
            f"{what} by the session of {session.user!r} lacks its CSRF token "
            f"(header {CSRF_HEADER!r})"
        )
    if not session.role.allows(role):
        raise PermissionDenied(
            f"{what} needs the {role.value} role; user {session.user!r} has {session.role.value}"
        )
    client = request.client.host if request.client else None
    return Principal(f"user {session.user}", session.role, client)


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
"""A route parameter that requires at least a viewer token."""
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
"""A route parameter that requires at least an operator token."""
Engineer = Annotated[Principal, Depends(require(Role.ENGINEER))]
"""A route parameter that requires at least an engineer token."""
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
"""A route parameter that requires an admin token."""


async def record_refusal(
    security: ApiSecurity, request: Request, error: AuthenticationRequired | PermissionDenied
) -> None:
    """Write the refusal of ``request`` to the audit log, when it has one.

    Every 403 is written, and every 401 of a request that presented a token (unknown or
    revoked); a request with no token at all carries nobody to name and is not. The
    entry names the token (never its secret), the client address, the method and path,
    the status and the message answered. A failing audit write is logged as an error and
    the refusal answered all the same.
    """
    attempt: _Attempt | None = getattr(request.state, "attempt", None)
    if security.audit is None or (attempt is None and isinstance(error, AuthenticationRequired)):
        return
    client = request.client.host if request.client else None
    try:
        await security.audit.refused(
            who=attempt.who if attempt else UNKNOWN_TOKEN,
            role=attempt.role.value if attempt and attempt.role else None,
            client=client,
            method=request.method,
            path=request.url.path,
            status=http_status(error),
            error=type(error).__name__,
            reason=str(error),
        )
    except OSError as err:
        log.error(
            "audit.failed path=%s refused=%s method=%s url=%s error=%s",
            security.audit.path,
            type(error).__name__,
            request.method,
            request.url.path,
            err,
        )


def unauthorized_headers(error: ShopfloorError) -> dict[str, Any] | None:
    """Headers of an error answer (``WWW-Authenticate`` on 401)."""
    return {"WWW-Authenticate": "Bearer"} if isinstance(error, AuthenticationRequired) else None
