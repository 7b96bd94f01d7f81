"""Who uses the Studio: login, logout, the session cookie, CSRF tokens and roles.

A login checks the password (argon2, off the event loop) and opens a session whose
opaque id is the cookie ``shopfloor_session`` (HttpOnly, SameSite=Strict, Secure over
HTTPS, expiring with the session). Every POST must carry the session's CSRF token, as
the form field ``csrf_token`` or the header ``X-CSRF-Token`` (htmx sends it from the
page's ``hx-headers``); the login form itself carries a token that must equal a cookie
set with the form (double submit). A page asked for without a session redirects to the
login; a POST without one is refused (401). A role too low for a change is refused
(403) and written to the audit log, as are logins, failed or not.

In single-user mode (:attr:`StudioContext.local_user`) a browser without a session gets
one for the local admin at once; CSRF tokens are checked all the same, since any web
page the browser shows could post to the loopback address.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, Request

from shopfloor.errors import (
    AuthenticationRequired,
    PermissionDenied,
    RequestInvalid,
    TooManyAttempts,
)
from shopfloor.services.sessions import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, Session
from shopfloor.services.users import Role, UserInfo
from shopfloor.studio.context import StudioContext

__all__ = [
    "LOGIN_COOKIE",
    "Editor",
    "LoginNeeded",
    "Operator",
    "Viewer",
    "audited",
    "client_of",
    "form_of",
    "need",
    "safe_next",
]

LOGIN_COOKIE = "shopfloor_login_csrf"
"""Cookie holding the login form's CSRF token (double submit)."""
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_FORM_FIELDS = 50


class LoginNeeded(Exception):
    """A page was asked for without a session: the answer is the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def client_of(request: Request) -> str | None:
    """The client's address."""
    return request.client.host if request.client else None


def safe_next(text: str | None, root: str) -> str:
    """Where to go after login: a path inside the Studio (``root``), never another site.

    Examples
    --------
    >>> safe_next("/studio/alerts?state=open", "/studio")
    '/studio/alerts?state=open'
    >>> safe_next("https://evil.example/", "/studio"), safe_next("//evil", "/studio")
    ('/studio/plant', '/studio/plant')
    """
    if (
        text
        and text.startswith(root + "/")
        and not text.startswith("//")
        and "\\" not in text
        and all(ch.isprintable() for ch in text)
    ):
        return text
    return f"{root}/plant"


async def form_of(request: Request) -> dict[str, str]:
    """The request's ``application/x-www-form-urlencoded`` fields (first value of each).

    The body is bounded by the API's request guard before it gets here.

    Raises
    ------
    RequestInvalid
        The body is not UTF-8, or holds more than 50 fields.
    """
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = await request.body()
    if media != "application/x-www-form-urlencoded" or not body:
        fields: dict[str, str] = {}
    else:
        try:
            parsed = parse_qs(
                body.decode("utf-8"), keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS
            )
        except (UnicodeDecodeError, ValueError) as err:
            raise RequestInvalid(
                f"{request.method} {request.url.path}: form body of {len(body)} bytes: {err}"
            ) from err
        fields = {k: v[0] for k, v in parsed.items()}
    request.state.form = fields
    return fields


def context_of(request: Request) -> StudioContext:
    """The Studio's context (kept in the app's state)."""
    ctx: StudioContext = request.app.state.studio
    return ctx


async def _refuse(
    request: Request, ctx: StudioContext, session: Session | None, error: Exception
) -> None:
    if ctx.audit is None:
        return
    await ctx.audit.refused(
        who=f"user {session.user}" if session else "no session",
        role=session.role.value if session else None,
        client=client_of(request),
        method=request.method,
        path=request.url.path,
        status=403 if isinstance(error, PermissionDenied) else 401,
        error=type(error).__name__,
        reason=str(error),
    )


def need(role: Role) -> Callable[[Request], Awaitable[Session]]:
    """A dependency: the request's session if it allows ``role`` (and, on a write, CSRF).

    Without a session a page redirects to the login (:class:`LoginNeeded`); a write
    without one is :class:`~shopfloor.errors.AuthenticationRequired`. A write whose
    CSRF token is missing or wrong, or a role below ``role``, is
    :class:`~shopfloor.errors.PermissionDenied`, written to the audit log.
    """

    async def dependency(request: Request) -> Session:
        ctx = context_of(request)
        what = f"{request.method} {request.url.path}"
        session = ctx.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            if request.method not in _WRITES:
                query = request.url.query
                raise LoginNeeded(request.url.path + (f"?{query}" if query else ""))
            error = AuthenticationRequired(f"{what}: log in first (no open session)")
            await _refuse(request, ctx, None, error)
            raise error
        request.state.session = session
        if request.method in _WRITES:
            token = request.headers.get(CSRF_HEADER) or (await form_of(request)).get(CSRF_FIELD)
            if not session.csrf_ok(token):
                denied = PermissionDenied(
                    f"{what}: the form's CSRF token is missing or wrong; reload the page"
                )
                await _refuse(request, ctx, session, denied)
                raise denied
        if not session.role.allows(role):
            denied = PermissionDenied(
                f"{what} needs the {role.value} role; user {session.user!r} has "
                f"{session.role.value}"
            )
            await _refuse(request, ctx, session, denied)
            raise denied
        return session

    return dependency


Viewer = Annotated[Session, Depends(need(Role.VIEWER))]
"""A view parameter: any logged-in user."""
Operator = Annotated[Session, Depends(need(Role.OPERATOR))]
"""A view parameter: an operator or above (alert actions)."""
Editor = Annotated[Session, Depends(need(Role.ENGINEER))]
"""A view parameter: an engineer or above (deploy, roll back)."""


def new_login_token() -> str:
    """A fresh CSRF token for the login form (and its cookie)."""
    return secrets.token_urlsafe(24)


async def check_login(
    request: Request, ctx: StudioContext, name: str, password: str
) -> UserInfo | None:
    """The user if ``password`` is theirs; the attempt is written to the audit log.

    Raises
    ------
    TooManyAttempts
        Too many failed logins for ``name`` or from the client lately (also audited).
    """
    client = client_of(request)

    async def audit(role: str, outcome: str) -> None:
        if ctx.audit is not None:
            await ctx.audit.record(
                who=f"user {name}",
                role=role,
                client=client,
                action="login",
                outcome=outcome,
                detail={"user": name},
            )

    try:
        ctx.throttle.check(name, client)
    except TooManyAttempts as err:
        await audit("-", f"refused: {err}")
        raise
    user = await asyncio.to_thread(ctx.users.verify, name, password)
    if user is None:
        ctx.throttle.failed(name, client)
        await audit("-", "failed: unknown user, wrong password or disabled")
        return None
    ctx.throttle.succeeded(name)
    await audit(user.role.value, "ok")
    return user


def login_path(root: str, next_path: str) -> str:
    """The login page's URL, coming back to ``next_path``."""
    return f"{root}/login?next={quote(next_path, safe='/')}"


async def audited(
    request: Request,
    session: Session,
    action: str,
    detail: dict[str, Any],
    call: Callable[[], Awaitable[Any]],
) -> Any:
    """Run ``call`` for ``session`` and write it to the audit log, failed or not."""
    ctx = context_of(request)

    async def write(outcome: str) -> None:
        if ctx.audit is not None:
            await ctx.audit.record(
                who=f"user {session.user}",
                role=session.role.value,
                client=client_of(request),
                action=action,
                outcome=outcome,
                detail=detail,
            )

    try:
        result = await call()
    except Exception as err:
        await write(f"failed: {type(err).__name__}: {err}")
        raise
    await write("ok")
    return result
