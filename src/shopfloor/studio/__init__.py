"""The Studio: the platform's web pages, served beside the API at ``/studio``.

Server-rendered with Jinja2, made live with htmx, charts drawn by uPlot; every asset is
served from the package. The pages call the services, as the CLI does; users log in
with the project's users (``shopfloor users``). See ``docs/studio.md``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp

from shopfloor.config import Project
from shopfloor.services.sessions import SessionStore
from shopfloor.services.users import UserRegistry
from shopfloor.store import Store
from shopfloor.studio.app import ROOT, create_studio
from shopfloor.studio.context import AuditTrail, StatusProvider, StudioContext

__all__ = ["ROOT", "AuditTrail", "StudioContext", "create_studio", "studio_factory"]


def studio_factory(
    project: Project,
) -> Callable[
    [Store, StatusProvider, UserRegistry, SessionStore, AuditTrail | None, str | None], ASGIApp
]:
    """What the API server calls to build the Studio over the platform's store.

    Examples
    --------
    ``api_server_factory(project, studio=studio_factory(project))`` serves both.
    """

    def build(
        store: Store,
        status: StatusProvider,
        users: UserRegistry,
        sessions: SessionStore,
        audit: AuditTrail | None,
        local_user: str | None,
    ) -> ASGIApp:
        return create_studio(
            StudioContext(
                project=project,
                store=store,
                users=users,
                sessions=sessions,
                audit=audit,
                status=status,
                local_user=local_user,
            )
        )

    return build
