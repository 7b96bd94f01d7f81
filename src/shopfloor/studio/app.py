"""The Studio's web app: server-rendered pages (Jinja2) made live with htmx, charts by uPlot.

:func:`create_studio` builds an ASGI app to be mounted at :data:`ROOT` beside the API.
Its pages (:mod:`shopfloor.studio.pages`) call the services, as the CLI does; every
script, style sheet and font is served from the package (``static/``), nothing from
elsewhere, and a Content-Security-Policy says so to the browser.

Errors answer as a page with the status of :func:`shopfloor.errors.http_status`
(a fragment when htmx asked); a page asked for without a session redirects to the login.
"""

from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopfloor import __version__
from shopfloor.errors import PermissionDenied, ShopfloorError, TooManyAttempts, http_status
from shopfloor.services.sessions import CSRF_FIELD, SESSION_COOKIE, Session
from shopfloor.services.users import Role, UserInfo
from shopfloor.studio.auth import (
    LOGIN_COOKIE,
    LoginNeeded,
    Viewer,
    check_login,
    context_of,
    form_of,
    login_path,
    new_login_token,
    safe_next,
)
from shopfloor.studio.context import StudioContext

__all__ = ["CSP", "NAV", "ROOT", "STATIC", "create_studio", "render", "set_session_cookie"]

log = logging.getLogger(__name__)

ROOT = "/studio"
"""Where the Studio is mounted."""
STATIC = Path(__file__).parent / "static"
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
NAV = (
    ("plant", "Plant"),
    ("alerts", "Alerts"),
    ("models", "Models & deployments"),
    ("signals", "Signals"),
)
"""The pages of the navigation bar: (path under :data:`ROOT`, title)."""
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
"""Content-Security-Policy of every answer: everything from the package, nothing inline."""
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class _SecurityHeaders:
    """ASGI middleware adding :data:`CSP` and its companions to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def render(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered for ``session`` with the values every page needs."""
    ctx = context_of(request)
    values = {
        "root": ROOT,
        "session": session,
        "csrf": session.csrf if session else "",
        "csrf_field": CSRF_FIELD,
        "local_mode": ctx.local_user is not None,
        "nav": NAV,
        "project": ctx.project.config.project.name,
        "version": __version__,
        "can_operate": session is not None and session.role.allows(Role.OPERATOR),
        "can_engineer": session is not None and session.role.allows(Role.ENGINEER),
        **context,
    }
    return TEMPLATES.TemplateResponse(request, template, values, status_code=status_code)


def set_session_cookie(
    request: Request, response: Response, session: Session, ttl_s: float
) -> None:
    """Give the browser ``session``'s cookie: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        max_age=int(ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    ctx = context_of(request)
    session = getattr(request.state, "session", None) or ctx.sessions.get(
        request.cookies.get(SESSION_COOKIE)
    )
    template = "_error.html" if _is_htmx(request) else "error.html"
    return render(
        request, template, session, status_code=status, title=title, detail=detail, error=True
    )


def _add_login(app: FastAPI, ctx: StudioContext) -> None:
    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str | None = None) -> Response:
        """The login form (its CSRF token also goes to a cookie)."""
        if ctx.local_user is not None:
            return RedirectResponse(safe_next(next, ROOT), status_code=303)
        return _login_form(request, safe_next(next, ROOT))

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        """Check the password; open a session and go where the user was going."""
        form = await form_of(request)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        given = form.get(CSRF_FIELD, "")
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise PermissionDenied(
                "POST /studio/login: the form's CSRF token does not match its cookie; "
                "reload the login page"
            )
        name, password = form.get("username", ""), form.get("password", "")
        target = safe_next(form.get("next"), ROOT)
        try:
            user = await check_login(request, ctx, name, password) if name and password else None
        except TooManyAttempts as err:
            return _login_form(request, target, status_code=429, error=f"{err}.", name=name)
        if user is None:
            return _login_form(
                request, target, status_code=401, error="Wrong user name or password.", name=name
            )
        session = ctx.sessions.open(user)
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(request, response, session, ctx.sessions.ttl_s)
        response.delete_cookie(LOGIN_COOKIE, path=f"{ROOT}/login")
        return response

    @app.post("/logout")
    async def logout(request: Request, session: Viewer) -> Response:
        """End the session."""
        ctx.sessions.close(request.cookies.get(SESSION_COOKIE, ""))
        if ctx.audit is not None:
            await ctx.audit.record(
                who=f"user {session.user}",
                role=session.role.value,
                client=request.client.host if request.client else None,
                action="logout",
                outcome="ok",
                detail={"user": session.user},
            )
        response = RedirectResponse(f"{ROOT}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response


def _login_form(
    request: Request, target: str, *, status_code: int = 200, error: str = "", name: str = ""
) -> HTMLResponse:
    token = new_login_token()
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        login_token=token,
        next=target,
        error=error,
        name=name,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=f"{ROOT}/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def _add_errors(app: FastAPI, ctx: StudioContext) -> None:
    @app.exception_handler(LoginNeeded)
    async def login_needed(request: Request, exc: LoginNeeded) -> Response:
        target = safe_next(exc.next_path, ROOT)
        if ctx.local_user is None:
            if _is_htmx(request):  # a poll after the session ended: the whole page goes
                page = urlsplit(request.headers.get("hx-current-url", ""))
                back = page.path + (f"?{page.query}" if page.query else "")
                where = login_path(ROOT, safe_next(back, ROOT))
                return Response(status_code=204, headers={"HX-Redirect": where})
            return RedirectResponse(login_path(ROOT, target), status_code=303)
        local = UserInfo(ctx.local_user, Role.ADMIN, "", 0)
        session = ctx.sessions.open(local, local=True)
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(request, response, session, ctx.sessions.ttl_s)
        return response

    @app.exception_handler(ShopfloorError)
    async def shopfloor_error(request: Request, exc: ShopfloorError) -> Response:
        status = http_status(exc)
        return _error_page(request, status, type(exc).__name__, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _error_page(request, exc.status_code, "Not found", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return _error_page(request, 422, "RequestInvalid", problems)


def create_studio(ctx: StudioContext) -> FastAPI:
    """The Studio over ``ctx``: mount it at :data:`ROOT` of the API's app.

    Parameters
    ----------
    ctx
        Project, store, users, sessions, audit log and the platform's status.
    """
    from shopfloor.studio.pages import alerts, models, plant, signals

    app = FastAPI(title="shopfloor Studio", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = ctx
    app.add_middleware(_SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_errors(app, ctx)
    _add_login(app, ctx)

    @app.get("/")
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{ROOT}/plant", status_code=303)

    for page in (plant, alerts, models, signals):
        app.include_router(page.router)
    return app


def when(text: str | None) -> str:
    """An ISO 8601 UTC time to the second, as people read it.

    Examples
    --------
    >>> when("2026-12-07T21:36:07.401766542Z")
    '2026-12-07 21:36:07 UTC'
    """
    if not text:
        return "-"
    day, _, clock = text.partition("T")
    return f"{day} {clock[:8]} UTC" if clock else text


TEMPLATES.env.filters["when"] = when
