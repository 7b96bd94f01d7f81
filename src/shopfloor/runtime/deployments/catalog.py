"""From a deployment to something that can score: the model, its card, its pipeline.

:class:`DeploymentCatalog` resolves ``M@V`` / ``M@production`` in the registry and checks,
before anything scores, that the model fits where it should run (refusing with
:class:`~shopfloor.errors.DeploymentRefused`, naming what differs):

1. the artifact is the one registered (its SHA-256 against the card's, by the registry);
2. the model's pipeline still exists and its spec hash is the one the model was trained
   on (the features would otherwise mean something else);
3. on the target asset, that pipeline can be built on the asset's own signals and gives
   the same specification apart from the asset (same sources, kinds, rates, units,
   channels, windows and steps);
4. its features step gives the model's input schema: every feature name the model takes,
   each in the unit it was trained on.

An image classifier takes no pipeline: its input is one of the asset's image signals
(the encoded images themselves; its preprocessing is stored with the model). The check
is then that the signal exists on the target asset and is of kind ``image``: the one
named (``image:<signal>`` in the deployment, or the card's ``input.signal``), else the
asset's only image signal.

The same checks run when a person deploys (``shopfloor deploy``) and when the runtime
loads a deployment (at start and at each swap): a model or project changed in between is
refused at load, and the runtime says so in its health.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shopfloor.errors import DeploymentRefused, ModelError, PipelineError
from shopfloor.ml.base import AnomalyModel, Classifier, ImageModel, Model
from shopfloor.ml.registry import ModelRegistry, ModelVersion
from shopfloor.model import Asset, SignalKind, SignalRef
from shopfloor.model.deployment import Deployment, image_input
from shopfloor.pipelines import FeaturesStep, Pipeline, PipelineConfig
from shopfloor.runtime.deployments.images import is_image_model

__all__ = ["DeploymentCatalog", "ImageRunnable", "Runnable"]


@dataclass(frozen=True, eq=False)
class Runnable:
    """A deployment with its loaded model (hash checked) and its pipeline on its asset."""

    deployment: Deployment
    model: Model
    version: ModelVersion
    pipeline: Pipeline

    @property
    def group(self) -> tuple[str, str]:
        """``(asset, spec hash)``: deployments with the same one share their windows."""
        return self.pipeline.asset.path, self.pipeline.spec_hash


@dataclass(frozen=True, eq=False)
class ImageRunnable:
    """A deployment of an image model (hash checked) with the image signal it classifies."""

    deployment: Deployment
    model: ImageModel
    version: ModelVersion
    signal: SignalRef

    @property
    def group(self) -> tuple[str, str]:
        """``(asset, image:<signal>)``: deployments on the same images share their reading."""
        return self.signal.asset, image_input(self.signal.name)


def _spec_diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """The keys whose values differ, with both values (``asset`` left out)."""
    keys = sorted((set(a) | set(b)) - {"asset"})
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


class DeploymentCatalog:
    """Resolves and checks deployments against a registry and the project's pipelines.

    Parameters
    ----------
    registry
        The project's model registry.
    pipelines, assets
        The project's pipeline configurations and assets (with their signals).
    """

    def __init__(
        self,
        registry: ModelRegistry,
        pipelines: Sequence[PipelineConfig],
        assets: Sequence[Asset],
    ) -> None:
        self.registry = registry
        self._pipelines = {p.name: p for p in pipelines}
        self._assets = {a.path: a for a in assets}

    def version(self, ref: str) -> ModelVersion:
        """The version ``ref`` names (``M@3``, ``M@production``, ``M@latest`` or ``M``)."""
        name, _, which = ref.partition("@")
        if which == "latest":
            versions = self.registry.versions(name)
            if not versions:
                self.registry.get(name)  # raises, listing the models there are
            return versions[-1]
        return self.registry.get(ref)

    def input_of(self, version: ModelVersion, asset: str, current: str | None = None) -> str:
        """What ``version`` takes on ``asset``: a pipeline name, or ``image:<signal>``.

        ``current`` is the input a deployment already has (an image signal it keeps). The
        rest of the checks are :meth:`load`'s.
        """
        if is_image_model(version.card):
            wanted = None
            if current is not None and current.startswith(image_input("")):
                wanted = current.removeprefix(image_input(""))
            return image_input(self.image_signal(version, asset, wanted).name)
        return str(version.card.pipeline.get("name"))

    def image_signal(self, version: ModelVersion, asset: str, wanted: str | None) -> SignalRef:
        """The image signal ``version`` classifies on ``asset`` (see the module docstring)."""
        target = self._assets.get(asset)
        if target is None:
            raise DeploymentRefused(
                f"no asset {asset!r} in the project (assets: {', '.join(self._assets) or 'none'})"
            )
        images = [s.name for s in target.signals if s.kind == SignalKind.IMAGE]
        name = wanted or version.card.input.get("signal")
        if name is None:
            if len(images) != 1:
                raise DeploymentRefused(
                    f"{version.ref} classifies images, and asset {asset!r} has "
                    + (
                        f"several image signals ({', '.join(images)}): name one"
                        if images
                        else "no image signal (declare one with kind: image)"
                    )
                )
            name = images[0]
        signal = next((s for s in target.signals if s.name == name), None)
        if signal is None or signal.kind != SignalKind.IMAGE:
            what = "no signal" if signal is None else f"signal {name!r} is {signal.kind}, not"
            raise DeploymentRefused(
                f"{version.ref} classifies images and asset {asset!r} has {what} "
                + (f"{name!r} " if signal is None else "")
                + f"an image signal (image signals: {', '.join(images) or 'none'})"
            )
        return SignalRef(asset, str(name))

    def pipeline(self, version: ModelVersion, asset: str) -> Pipeline:
        """The model's pipeline on ``asset``, checked against the card (see module docs)."""
        card = version.card
        name = str(card.pipeline.get("name"))
        config = self._pipelines.get(name)
        if config is None:
            raise DeploymentRefused(
                f"{version.ref} takes the features of pipeline {name!r}, which the project no "
                f"longer has (pipelines: {', '.join(self._pipelines) or 'none'})"
            )
        try:
            home = Pipeline.from_project(config, list(self._assets.values()))
        except PipelineError as err:
            raise DeploymentRefused(
                f"{version.ref}: pipeline {name!r} cannot be built: {err}"
            ) from err
        trained = str(card.pipeline.get("spec_hash"))
        if home.spec_hash != trained:
            raise DeploymentRefused(
                f"pipeline {name!r} changed since {version.ref} was trained (spec hash "
                f"{trained[:12]}…, now {home.spec_hash[:12]}…): train the model again"
            )
        target_asset = self._assets.get(asset)
        if target_asset is None:
            raise DeploymentRefused(
                f"no asset {asset!r} in the project (assets: {', '.join(self._assets) or 'none'})"
            )
        if asset == home.asset.path:
            target = home
        else:
            try:
                target = Pipeline(config.model_copy(update={"asset": asset}), target_asset)
            except PipelineError as err:
                raise DeploymentRefused(
                    f"{version.ref} cannot run on {asset!r}: its pipeline {name!r} does not fit "
                    f"the asset's signals: {err}"
                ) from err
            diff = _spec_diff(home.spec(), target.spec())
            if diff:
                raise DeploymentRefused(
                    f"{version.ref} cannot run on {asset!r}: pipeline {name!r} on it differs "
                    f"from {home.asset.path!r}, where the model was trained: {'; '.join(diff)}"
                )
        self._check_inputs(version, target)
        return target

    @staticmethod
    def _check_inputs(version: ModelVersion, pipeline: Pipeline) -> None:
        card = version.card
        first = pipeline.steps[0] if pipeline.steps else None
        if not isinstance(first, FeaturesStep):
            raise DeploymentRefused(f"pipeline {pipeline.name!r} has no features step")
        given = first.columns({}, pipeline.channels)
        wanted_units = dict(card.input.get("units", {}))
        missing = [f for f in card.feature_names if f not in given]
        if missing:
            raise DeploymentRefused(
                f"{version.ref} takes features {missing} that pipeline {pipeline.name!r} on "
                f"{pipeline.asset.path!r} does not give (it gives {sorted(given)})"
            )
        units = [
            f"{f}: model {wanted_units[f]!r}, live {given[f]!r}"
            for f in card.feature_names
            if f in wanted_units and wanted_units[f] != given[f]
        ]
        if units:
            raise DeploymentRefused(
                f"{version.ref} on {pipeline.asset.path!r}: units differ ({'; '.join(units)})"
            )

    def load(self, deployment: Deployment) -> Runnable | ImageRunnable:
        """Load the deployment's model (artifact hash checked) and check it fits its asset.

        Raises
        ------
        DeploymentRefused
            When the artifact was changed, or the model does not fit the asset's pipeline
            and signals (see the module docstring).
        """
        try:
            model, version = self.registry.load(deployment.ref)
        except ModelError as err:
            raise DeploymentRefused(f"deployment {deployment.name!r}: {err}") from err
        if is_image_model(version.card):
            if not isinstance(model, ImageModel):  # pragma: no cover - the card says so
                raise DeploymentRefused(f"{deployment.ref} is no image model ({model.task})")
            signal = self.image_signal(version, deployment.asset, deployment.image_signal)
            return ImageRunnable(deployment, model, version, signal)
        if deployment.image_signal is not None:
            raise DeploymentRefused(
                f"deployment {deployment.name!r} classifies images, and {deployment.ref} "
                "takes features: deploy it under another name"
            )
        if not isinstance(model, AnomalyModel | Classifier):  # pragma: no cover - the two tasks
            raise DeploymentRefused(
                f"{deployment.ref} is neither an anomaly model nor a classifier"
            )
        pipeline = self.pipeline(version, deployment.asset)
        return Runnable(deployment, model, version, pipeline)
