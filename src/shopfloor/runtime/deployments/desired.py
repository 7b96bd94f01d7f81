"""Changing the desired state: deploy, roll back, stop; each change audited in the store.

These functions only write the store (:class:`~shopfloor.store.DeploymentStore`): the
deployment runtime of a running platform follows it (:class:`.DeploymentService`). A
deployment is checked before it is written (:class:`.DeploymentCatalog`: hash, pipeline,
input schema on each asset), so a model that cannot run is refused at once, with nothing
written.
"""

from __future__ import annotations

from collections.abc import Sequence

from shopfloor.errors import DeploymentError, DeploymentNotFound
from shopfloor.model import now_ns
from shopfloor.model.deployment import (
    Deployment,
    DeploymentChange,
    Mode,
    deploy,
    rollback,
    stop,
)
from shopfloor.runtime.deployments.catalog import DeploymentCatalog
from shopfloor.runtime.deployments.images import image_deployment_signals, is_image_model
from shopfloor.runtime.deployments.scorer import deployment_signals
from shopfloor.store import Store
from shopfloor.store.protocol import DeploymentStore

__all__ = ["default_name", "deploy_model", "find_deployment", "rollback_asset", "stop_deployment"]

Change = tuple[Deployment, DeploymentChange | None]


def default_name(model: str, mode: Mode) -> str:
    """``<model>`` for an active deployment, ``<model>-shadow`` for a shadow one."""
    return model if mode == "active" else f"{model}-shadow"


async def _current(store: DeploymentStore, name: str, asset: str) -> Deployment | None:
    found = await store.list_deployments(name=name, asset=asset)
    return found[0] if found else None


async def deploy_model(
    store: DeploymentStore,
    catalog: DeploymentCatalog,
    ref: str,
    *,
    assets: Sequence[str] = (),
    mode: Mode = "shadow",
    name: str | None = None,
    who: str,
    reason: str = "",
    at_ns: int | None = None,
) -> list[Change]:
    """Deploy model version ``ref`` on ``assets`` (default: its pipeline's asset).

    An image model classifies an image signal of each asset (the one it ran on before,
    the one its card names, or the asset's only one); a model trained on files, not on
    an asset of the project, needs ``assets``.

    Returns each deployment with its change (``None`` where exactly this already ran).

    Raises
    ------
    ModelError
        When ``ref`` names no registered version.
    DeploymentRefused
        When the artifact was changed or the model does not fit an asset (nothing is
        written then, on any asset).
    """
    if mode not in ("shadow", "active"):
        raise DeploymentError(f"mode must be shadow or active, got {mode!r}")
    version = catalog.version(ref)
    model = version.card.name
    targets = list(dict.fromkeys(assets))
    if not targets:
        home_asset = version.card.dataset.get("asset")
        if not home_asset:
            raise DeploymentError(
                f"{version.ref} was not trained on an asset of the project: name the asset(s) "
                "it runs on (--asset)"
            )
        targets = [str(home_asset)]
    deployment_name = name or default_name(model, mode)
    number = version.card.version
    inputs: dict[str, str] = {}
    for asset in targets:  # every asset checked before anything is written
        current = await _current(store, deployment_name, asset)
        inputs[asset] = catalog.input_of(
            version, asset, None if current is None else current.pipeline
        )
        catalog.load(Deployment(deployment_name, asset, model, number, mode, inputs[asset]))
    signals = (image_deployment_signals if is_image_model(version.card) else deployment_signals)(
        deployment_name
    )
    at = now_ns() if at_ns is None else at_ns
    out: list[Change] = []
    for asset in targets:
        current = await _current(store, deployment_name, asset)
        new, change = deploy(
            current,
            name=deployment_name,
            asset=asset,
            model=model,
            version=number,
            mode=mode,
            pipeline=inputs[asset],
            who=who,
            at_ns=at,
            reason=reason,
        )
        if change is not None:
            if isinstance(store, Store):  # its outputs can be queried (and ruled on) at once
                await store.register_signals(asset, signals)
            await store.save_deployment(new, change)
        out.append((new, change))
    return out


async def find_deployment(
    store: DeploymentStore, *, asset: str | None = None, name: str | None = None
) -> Deployment:
    """The one running deployment on ``asset`` (the active one when several), or named ``name``.

    Raises
    ------
    DeploymentNotFound
        When none matches.
    DeploymentError
        When several match and ``name`` would tell them apart.
    """
    found = [d for d in await store.list_deployments(name=name, asset=asset) if d.running]
    where = " ".join(
        x for x in (f"named {name!r}" if name else "", f"on {asset!r}" if asset else "") if x
    )
    if not found:
        raise DeploymentNotFound(f"no deployment runs {where} (see 'shopfloor deployments list')")
    if len(found) > 1:
        active = [d for d in found if d.mode == "active"]
        if len(active) == 1 and name is None:
            return active[0]
        names = ", ".join(f"{d.name} on {d.asset}" for d in found)
        raise DeploymentError(f"several deployments run {where} ({names}): name one with --name")
    return found[0]


async def rollback_asset(
    store: DeploymentStore,
    catalog: DeploymentCatalog,
    asset: str,
    *,
    name: str | None = None,
    who: str,
    reason: str = "",
    at_ns: int | None = None,
) -> Change:
    """Go back one version on ``asset`` (its active deployment, or the one named ``name``)."""
    current = await find_deployment(store, asset=asset, name=name)
    new, change = rollback(
        current, who=who, at_ns=now_ns() if at_ns is None else at_ns, reason=reason
    )
    catalog.load(new)  # the earlier version must still load and fit
    await store.save_deployment(new, change)
    return new, change


async def stop_deployment(
    store: DeploymentStore,
    name: str,
    *,
    asset: str | None = None,
    who: str,
    reason: str = "",
    at_ns: int | None = None,
) -> list[Change]:
    """Stop deployment ``name`` (on ``asset``, or on every asset it runs on)."""
    found = [d for d in await store.list_deployments(name=name, asset=asset) if d.running]
    if not found:
        where = f" on {asset!r}" if asset else ""
        raise DeploymentNotFound(f"no deployment {name!r} runs{where}")
    at = now_ns() if at_ns is None else at_ns
    out: list[Change] = []
    for current in found:
        new, change = stop(current, who=who, at_ns=at, reason=reason)
        await store.save_deployment(new, change)
        out.append((new, change))
    return out
