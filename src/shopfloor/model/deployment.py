"""Deployments as desired state: which model version scores which asset, and every change.

A :class:`Deployment` is a named model version running on one asset, in ``shadow`` mode
(scores and records, never alerts) or ``active`` mode (its state and health feed the
alert rules). It is keyed by ``(name, asset)``: on one asset a name holds one version at
a time, so deploying a name that already runs there replaces its version (a *swap*).

Every change is a pure function returning the new deployment and the
:class:`DeploymentChange` that records it (who, when, from which version to which, why),
so the audit log is complete by construction:

- :func:`deploy`: a new deployment (``deploy``), another version or model in its place
  (``swap``; the version replaced goes onto :attr:`Deployment.previous`), the same version
  in another mode (``mode``), or a stopped one started again (``deploy``);
- :func:`rollback`: back to the version the current one replaced (``rollback``);
- :func:`stop`: the deployment stops scoring; it is kept, with its history (``stop``).

A change that does not apply (a rollback with nothing to go back to, stopping a stopped
deployment) raises :class:`~shopfloor.errors.DeploymentError` naming the deployment.

Examples
--------
>>> d, change = deploy(None, name="spindle", asset="a/b", model="spindle", version=1,
...                    mode="active", pipeline="vib", who="ana", at_ns=0)
>>> change.action, change.to_ref
('deploy', 'spindle@1')
>>> d2, change = deploy(d, name="spindle", asset="a/b", model="spindle", version=2,
...                     mode="active", pipeline="vib", who="ana", at_ns=1)
>>> change.action, change.from_ref, d2.previous
('swap', 'spindle@1', ('spindle@1',))
>>> d3, change = rollback(d2, who="ana", at_ns=2, reason="false alarms")
>>> d3.ref, change.action
('spindle@1', 'rollback')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from shopfloor.errors import DeploymentError
from shopfloor.model.paths import validate_segment
from shopfloor.model.timestamps import format_ns

__all__ = [
    "DEPLOYMENT_ACTIONS",
    "IMAGE_INPUT",
    "IMAGE_OUTPUTS",
    "MODES",
    "OUTPUTS",
    "SHADOW_SOURCE",
    "Deployment",
    "DeploymentChange",
    "Mode",
    "deploy",
    "image_input",
    "parse_ref",
    "rollback",
    "source_of",
    "stop",
]

Mode = Literal["shadow", "active"]
MODES: tuple[Mode, ...] = ("shadow", "active")

OUTPUTS = ("score", "health_index", "state")
"""The scalar signals a deployment writes on its asset, ``<name>.<output>``."""

IMAGE_OUTPUTS = ("class", "confidence", "latency_ms", "state")
"""The scalar signals a deployment of an image classifier writes, one value per image."""

IMAGE_INPUT = "image:"
"""How :attr:`Deployment.pipeline` names an image signal, ``image:<signal>``: an image
model takes the asset's images themselves, not a pipeline's features."""


def image_input(signal: str) -> str:
    """The :attr:`Deployment.pipeline` of an image model classifying ``signal``.

    >>> image_input("camera")
    'image:camera'
    """
    return f"{IMAGE_INPUT}{signal}"


SHADOW_SOURCE = "shadow:"
"""Provenance prefix of a shadow deployment's records; the alert engine never evaluates them."""


def source_of(name: str, mode: str) -> str:
    """The provenance ``connector`` of deployment ``name``'s records in ``mode``."""
    return f"{SHADOW_SOURCE}{name}" if mode == "shadow" else f"deployment:{name}"


Action = Literal["deploy", "swap", "mode", "rollback", "stop"]
DEPLOYMENT_ACTIONS: tuple[Action, ...] = ("deploy", "swap", "mode", "rollback", "stop")


def parse_ref(ref: str) -> tuple[str, int]:
    """``"M@3"`` → ``("M", 3)``; ``DeploymentError`` when it is not ``name@number``."""
    name, _, version = ref.rpartition("@")
    if not name or not version.isdigit():
        raise DeploymentError(f"model version {ref!r} is not name@number")
    return name, int(version)


@dataclass(frozen=True)
class Deployment:
    """A model version that should score one asset's windows.

    Attributes
    ----------
    name, asset
        What identifies it: its outputs are the asset's signals ``<name>.score``,
        ``<name>.health_index``, ``<name>.state`` and events on ``<name>.events``.
    model, version
        The registered model version it runs.
    mode
        ``shadow`` or ``active``.
    pipeline
        The pipeline (by name) whose features the model takes; for an image model,
        ``image:<signal>``, the asset's image signal it classifies (:func:`image_input`).
    running
        ``False`` once stopped.
    previous
        The versions (``model@version``) it replaced, oldest first: a rollback goes back
        to the last one.
    changed_by, changed_ns, reason
        The last change: who, when (UTC ns), why.
    """

    name: str
    asset: str
    model: str
    version: int
    mode: Mode
    pipeline: str
    running: bool = True
    previous: tuple[str, ...] = ()
    changed_by: str = ""
    changed_ns: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        try:
            validate_segment(self.name, what="deployment name")
        except ValueError as err:
            raise DeploymentError(str(err)) from err
        if self.mode not in MODES:
            raise DeploymentError(
                f"deployment {self.name!r}: mode must be shadow or active, got {self.mode!r}"
            )

    @property
    def key(self) -> tuple[str, str]:
        """``(name, asset)``: at most one deployment each."""
        return self.name, self.asset

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"

    @property
    def image_signal(self) -> str | None:
        """The image signal an image model classifies (``None``: it takes features)."""
        if self.pipeline.startswith(IMAGE_INPUT):
            return self.pipeline.removeprefix(IMAGE_INPUT)
        return None

    @property
    def outputs(self) -> tuple[str, ...]:
        """The scalar signals it writes: :data:`OUTPUTS`, or :data:`IMAGE_OUTPUTS`."""
        return OUTPUTS if self.image_signal is None else IMAGE_OUTPUTS

    @property
    def active(self) -> bool:
        """Whether it runs in active mode (its outputs may raise alerts)."""
        return self.running and self.mode == "active"

    def signal_name(self, output: str) -> str:
        """The name of one of its derived signals (``score``, ``health_index``, ...)."""
        return f"{self.name}.{output}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-able (``previous`` as a list, ``changed`` as ISO text beside the ns)."""
        out = asdict(self)
        out["previous"] = list(self.previous)
        out["ref"] = self.ref
        out["changed"] = format_ns(self.changed_ns)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        """Inverse of :meth:`as_dict` (extra keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        values["previous"] = tuple(values.get("previous", ()))
        values["version"] = int(values["version"])
        return cls(**values)


@dataclass(frozen=True)
class DeploymentChange:
    """One entry of the audit log: who changed which deployment when, from what to what, why."""

    action: Action
    name: str
    asset: str
    at_ns: int
    who: str
    from_ref: str | None
    to_ref: str | None
    reason: str = ""
    mode: Mode | None = None
    id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, with ``at`` as ISO text beside ``at_ns``."""
        return {**asdict(self), "at": format_ns(self.at_ns)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeploymentChange:
        """Inverse of :meth:`as_dict` (extra keys are ignored)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def deploy(
    current: Deployment | None,
    *,
    name: str,
    asset: str,
    model: str,
    version: int,
    mode: Mode,
    pipeline: str,
    who: str,
    at_ns: int,
    reason: str = "",
) -> tuple[Deployment, DeploymentChange | None]:
    """Run ``model@version`` as deployment ``name`` on ``asset``.

    Returns the deployment and the change, or ``None`` for the change when exactly this
    already runs (deploying is idempotent).
    """
    wanted = Deployment(name, asset, model, version, mode, pipeline, True, (), who, at_ns, reason)
    if current is not None and current.key != wanted.key:
        raise DeploymentError(
            f"deployment {current.name!r} on {current.asset!r} cannot become {name!r} on {asset!r}"
        )
    if current is None:
        return wanted, DeploymentChange(
            "deploy", name, asset, at_ns, who, None, wanted.ref, reason, mode
        )
    if current.running and current.ref == wanted.ref and current.mode == mode:
        return current, None
    action: Action
    previous = current.previous
    if not current.running:
        action = "deploy"
        if current.ref != wanted.ref:
            previous = (*previous, current.ref)
    elif current.ref == wanted.ref:
        action = "mode"
    else:
        action = "swap"
        previous = (*previous, current.ref)
    new = replace(wanted, previous=previous)
    from_ref = current.ref if current.running or action == "deploy" else None
    return new, DeploymentChange(action, name, asset, at_ns, who, from_ref, new.ref, reason, mode)


def rollback(
    current: Deployment, *, who: str, at_ns: int, reason: str = ""
) -> tuple[Deployment, DeploymentChange]:
    """Go back to the version ``current`` replaced (the last of :attr:`Deployment.previous`)."""
    if not current.previous:
        raise DeploymentError(
            f"deployment {current.name!r} on {current.asset!r} runs {current.ref} and has no "
            "earlier version to roll back to"
        )
    model, version = parse_ref(current.previous[-1])
    new = replace(
        current,
        model=model,
        version=version,
        running=True,
        previous=current.previous[:-1],
        changed_by=who,
        changed_ns=at_ns,
        reason=reason,
    )
    return new, DeploymentChange(
        "rollback",
        current.name,
        current.asset,
        at_ns,
        who,
        current.ref,
        new.ref,
        reason,
        current.mode,
    )


def stop(
    current: Deployment, *, who: str, at_ns: int, reason: str = ""
) -> tuple[Deployment, DeploymentChange]:
    """Stop scoring; the deployment and its history are kept."""
    if not current.running:
        raise DeploymentError(f"deployment {current.name!r} on {current.asset!r} is stopped")
    new = replace(current, running=False, changed_by=who, changed_ns=at_ns, reason=reason)
    return new, DeploymentChange(
        "stop", current.name, current.asset, at_ns, who, current.ref, None, reason, current.mode
    )
