"""Pipeline steps: small, composable, each with a JSON spec and (if fitted) a state.

- ``features``: a :class:`~shopfloor.features.FeatureSet` over the windows, one column per
  feature and channel (``rms.x``), shaft speed from a context signal or the asset.
- ``scaler``: centre and scale every column (standard or robust), fitted on a baseline,
  optionally per operating regime so a change of speed is not a change of health.
- ``model``: the robust ``zscore`` anomaly score (median / MAD, numpy only) fitted on a
  baseline; adds a ``<name>`` column. Other model types (Isolation Forest, PCA, ...) are
  declared in the project file's ``models:`` section, fed by the pipeline's features.

A new step kind is a class with ``kind``, ``spec()``, ``needs_fit``, ``fit()``,
``transform()``, ``columns()``, ``get_state()`` and ``set_state()``, registered in
:data:`STEP_KINDS`, with examples in ``shopfloor.testing.step_checks.STEP_EXAMPLES``: the
step checks (chunk invariance, input untouched, declared columns, finite scores, NaN input,
state round trip) then run over it in ``tests/pipelines/test_step_checks.py``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from shopfloor.errors import NotFittedError, PipelineConfigError, PipelineError
from shopfloor.features import FeatureSet
from shopfloor.model import Asset, BearingGeometry
from shopfloor.model.units import conversion_factor
from shopfloor.pipelines.frames import FeatureFrame, WindowBatch
from shopfloor.pipelines.params import MOVED_TO_MODELS, moved_model_message

__all__ = [
    "DIMENSIONLESS",
    "STEP_KINDS",
    "FeaturesStep",
    "ModelStep",
    "ScalerStep",
    "Step",
    "build_step",
]

DIMENSIONLESS = "1"
"""Unit of scaled values and scores (pint's dimensionless ``1``, shown as such)."""


class Step(Protocol):
    """One stage of a pipeline."""

    kind: str
    needs_fit: bool

    def spec(self) -> dict[str, Any]:
        """JSON-able parameters (hashed into the pipeline's identity)."""

    def fit(self, data: FeatureFrame) -> None:
        """Learn from baseline data (no-op for stateless steps)."""

    def transform(self, data: Any) -> FeatureFrame:
        """Windows or a frame in, a frame out."""

    def columns(self, upstream: dict[str, str]) -> dict[str, str]:
        """Output column → unit, given the upstream columns (empty for windows)."""

    def get_state(self) -> dict[str, Any]:
        """What ``fit`` learned, JSON-able."""

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``fit`` learned."""


def _floats(values: npt.ArrayLike) -> list[float | None]:
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(values, float)]


class FeaturesStep:
    """Vibration features of each window (see ``docs/features.md``).

    Parameters (YAML ``features: {...}``): those of ``FeatureSet`` plus ``speed`` (a
    context signal in rpm or Hz giving the shaft speed of each window) and ``bearing``
    (``asset``, the default when the asset has one, or an explicit geometry).
    """

    kind = "features"
    needs_fit = False

    def __init__(self, params: dict[str, Any], asset: Asset, context_units: dict[str, str]):
        params = dict(params)
        self.speed = params.pop("speed", None)
        bearing = params.pop("bearing", "asset")
        if bearing == "asset":
            params["bearing"] = asset.bearing
        elif bearing is None or isinstance(bearing, BearingGeometry):
            params["bearing"] = bearing
        else:
            try:
                params["bearing"] = BearingGeometry.model_validate(bearing)
            except ValueError as err:
                raise PipelineError(f"features step: bearing {bearing!r}: {err}") from err
        if "features" in params and isinstance(params["features"], str):
            params["features"] = [params["features"]]
        for key in ("bands_hz", "bands_orders"):
            if key in params:
                params[key] = [tuple(b) for b in params[key]]
        if isinstance(params.get("envelope_band"), list):
            params["envelope_band"] = tuple(params["envelope_band"])
        if isinstance(params.get("velocity_band_hz"), list):
            params["velocity_band_hz"] = tuple(params["velocity_band_hz"])
        try:
            self.feature_set = FeatureSet(**params)
        except (TypeError, ValueError) as err:
            raise PipelineError(f"features step: {err}") from err
        if self.speed is None and self.feature_set.nominal_shaft_hz is None:
            needing = [n for n in self.feature_set.feature_names if FeatureSet._needs_shaft(n)]
            if needing:
                raise PipelineError(
                    f"features step: feature {needing[0]!r} needs the shaft speed: give "
                    "'speed' (a context signal in rpm or Hz) or 'nominal_shaft_hz'"
                )
        self._speed_factor = 1.0
        if self.speed is not None:
            if self.speed not in context_units:
                raise PipelineError(
                    f"features step: speed signal {self.speed!r} must be listed in the "
                    f"pipeline's context (context: {', '.join(context_units) or 'none'})"
                )
            unit = context_units[self.speed] or "Hz"
            try:
                self._speed_factor = conversion_factor(unit, "Hz")
            except ValueError as err:
                raise PipelineError(f"features step: speed signal {self.speed!r}: {err}") from err

    def spec(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {"kind": self.kind, "speed": self.speed, "feature_set": self.feature_set.spec()}

    def fit(self, data: FeatureFrame) -> None:
        """Nothing to learn."""

    def transform(self, data: Any) -> FeatureFrame:
        """Apply the step."""
        if not isinstance(data, WindowBatch):
            raise PipelineError("the features step must come first: it takes windows")
        shaft = None
        if self.speed is not None:
            shaft = data.context[self.speed] * self._speed_factor
        values = self.feature_set.compute(data.data, data.sample_rate_hz, shaft)
        units = self.feature_set.units
        columns: dict[str, npt.NDArray[np.float64]] = {}
        col_units: dict[str, str] = {}
        for name, array in values.items():
            for c, channel in enumerate(data.channels):
                column = f"{name}.{channel}" if len(data.channels) > 1 else name
                columns[column] = array[:, c]
                col_units[column] = units[name]
        return FeatureFrame(
            data.t0_ns, data.t1_ns, columns, col_units, dict(data.context), list(data.regime)
        )

    def columns(
        self, upstream: dict[str, str], channels: list[str] | None = None
    ) -> dict[str, str]:
        """Output column → unit."""
        out: dict[str, str] = {}
        units = self.feature_set.units
        channels = channels or [""]
        for name in self.feature_set.feature_names:
            for channel in channels:
                out[f"{name}.{channel}" if len(channels) > 1 else name] = units[name]
        return out

    def get_state(self) -> dict[str, Any]:
        """What ``fit`` learned."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Stateless."""


class ScalerStep:
    """Centre and scale each column: ``standard`` (mean, std) or ``robust`` (median, IQR).

    With ``by_regime: true`` each operating regime gets its own centre and scale, learned
    from the baseline windows of that regime.
    """

    kind = "scaler"
    needs_fit = True

    def __init__(self, params: dict[str, Any]) -> None:
        unknown = set(params) - {"method", "by_regime"}
        if unknown:
            raise PipelineError(f"scaler step: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.method = params.get("method", "robust")
        if self.method not in ("standard", "robust"):
            raise PipelineError(
                f"scaler step: method must be standard or robust, got {self.method!r}"
            )
        self.by_regime = bool(params.get("by_regime", False))
        self._stats: dict[str, dict[str, tuple[float, float]]] | None = None

    def spec(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {"kind": self.kind, "method": self.method, "by_regime": self.by_regime}

    def _center_scale(self, x: npt.NDArray[np.float64]) -> tuple[float, float]:
        x = x[np.isfinite(x)]
        if x.size == 0:
            return math.nan, math.nan
        if self.method == "standard":
            center, scale = float(np.mean(x)), float(np.std(x))
        else:
            q1, center, q3 = (float(v) for v in np.percentile(x, [25, 50, 75]))
            scale = (q3 - q1) / 1.349
        return center, scale if scale > 0 else 1.0

    def fit(self, data: FeatureFrame) -> None:
        """Learn from baseline data."""
        if len(data) == 0:
            raise PipelineError("scaler step: no baseline windows to learn from")
        groups = self._groups(data)
        self._stats = {
            group: {name: self._center_scale(values[rows]) for name, values in data.columns.items()}
            for group, rows in groups.items()
        }

    def _groups(self, data: FeatureFrame) -> dict[str, npt.NDArray[np.bool_]]:
        if not self.by_regime:
            return {"*": np.ones(len(data), dtype=bool)}
        labels = np.array([r or "" for r in data.regime], dtype=object)
        return {str(label): labels == label for label in dict.fromkeys(labels.tolist())}

    def transform(self, data: Any) -> FeatureFrame:
        """Apply the step."""
        if self._stats is None:
            raise NotFittedError("scaler step is not fitted: fit the pipeline on a baseline")
        if not isinstance(data, FeatureFrame):
            raise PipelineError("the scaler step takes features, not windows")
        columns = {name: np.full(len(data), np.nan) for name in data.columns}
        for group, rows in self._groups(data).items():
            stats = self._stats.get(group)
            if stats is None:
                continue  # a regime never seen in the baseline: unknown, NaN
            for name, values in data.columns.items():
                center, scale = stats.get(name, (math.nan, math.nan))
                columns[name][rows] = (values[rows] - center) / scale
        units = dict.fromkeys(columns, DIMENSIONLESS)
        return FeatureFrame(data.t0_ns, data.t1_ns, columns, units, data.context, data.regime)

    def columns(self, upstream: dict[str, str]) -> dict[str, str]:
        """Output column → unit."""
        return dict.fromkeys(upstream, DIMENSIONLESS)

    def get_state(self) -> dict[str, Any]:
        """What ``fit`` learned."""
        if self._stats is None:
            return {}
        return {g: {n: _floats(cs) for n, cs in s.items()} for g, s in self._stats.items()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``fit`` learned."""
        self._stats = {
            g: {
                n: (math.nan if cs[0] is None else cs[0], math.nan if cs[1] is None else cs[1])
                for n, cs in s.items()
            }
            for g, s in state.items()
        }


MAD_TO_SIGMA = 1.4826
"""Median absolute deviation → standard deviation, for normally distributed data."""

IQR_TO_SIGMA = 1.349
"""Interquartile range / this = standard deviation, for normally distributed data."""


class _ZScore:
    r"""Largest absolute robust z-score over the columns.

    Centre and scale are the baseline's median and MAD of each column,
    :math:`z_j = (x_j - \operatorname{median}_j) / (1.4826\,\operatorname{MAD}_j)`
    (else IQR / 1.349, else 1 for a constant column), so outliers in the baseline do not
    inflate the scale, and a robust scaler upstream is not undone by a mean and standard
    deviation.
    """

    def fit(self, x: npt.NDArray[np.float64]) -> None:
        """Learn from baseline data."""
        x = np.where(np.isfinite(x), x, np.nan)
        center = np.full(x.shape[1], np.nan)
        scale = np.ones(x.shape[1])
        known = np.isfinite(x).any(axis=0)
        if known.any():
            xs = x[:, known]
            med = np.nanmedian(xs, axis=0)
            mad = MAD_TO_SIGMA * np.nanmedian(np.abs(xs - med), axis=0)
            q1, q3 = np.nanpercentile(xs, [25, 75], axis=0)
            iqr = (q3 - q1) / IQR_TO_SIGMA
            center[known] = med
            scale[known] = np.where(mad > 0, mad, np.where(iqr > 0, iqr, 1.0))
        self.center_ = center
        self.scale_ = scale

    def score(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Largest finite ``|z|`` of each row; NaN for a row with none (nothing known)."""
        if not x.shape[1]:
            return np.zeros(x.shape[0])
        z = np.abs((x - self.center_) / self.scale_)
        finite = np.isfinite(z)
        score = np.where(finite, z, 0.0).max(axis=1)
        return np.where(finite.any(axis=1), score, np.nan)

    def state(self) -> dict[str, Any]:
        return {"center": _floats(self.center_), "scale": _floats(self.scale_)}

    def load(self, state: dict[str, Any]) -> None:
        # a state fitted before the z-score became robust holds "mean" and "std": it keeps
        # scoring as it was fitted until the pipeline is fitted again
        center = state["center"] if "center" in state else state["mean"]
        scale = state["scale"] if "scale" in state else state["std"]
        self.center_ = np.array([math.nan if v is None else v for v in center])
        self.scale_ = np.array([1.0 if v is None else v for v in scale])


class ModelStep:
    """An anomaly score over the feature columns; adds one column named ``output``.

    ``type: zscore`` (the only type) scores the largest robust ``|z|`` against the
    baseline's median and MAD. Model types that need a serialised estimator (e.g.
    ``isolation_forest``) are refused with a :class:`PipelineConfigError` naming the
    project file's ``models:`` section, where they are trained, versioned and stored as
    safe artifacts.
    """

    kind = "model"
    needs_fit = True
    TYPES: ClassVar[tuple[str, ...]] = ("zscore",)

    def __init__(self, params: dict[str, Any]) -> None:
        unknown = set(params) - {"type", "params", "columns", "output"}
        if unknown:
            raise PipelineError(f"model step: unknown parameter(s) {', '.join(sorted(unknown))}")
        self.type = params.get("type", "zscore")
        if self.type in MOVED_TO_MODELS:
            raise PipelineConfigError(moved_model_message(str(self.type)))
        if self.type not in self.TYPES:
            raise PipelineError(
                f"model step: type must be one of {', '.join(self.TYPES)}, got {self.type!r}"
            )
        self.params = dict(params.get("params", {}))
        self.input_columns: list[str] | None = params.get("columns")
        self.output = str(params.get("output", "anomaly_score"))
        self._model: _ZScore | None = None
        self._fitted_columns: list[str] | None = None

    def spec(self) -> dict[str, Any]:
        """JSON-able parameters."""
        return {
            "kind": self.kind,
            "type": self.type,
            "params": self.params,
            "columns": self.input_columns,
            "output": self.output,
        }

    def _x(self, data: FeatureFrame) -> npt.NDArray[np.float64]:
        names = self._fitted_columns or self.input_columns or list(data.columns)
        missing = [n for n in names if n not in data.columns]
        if missing:
            raise PipelineError(f"model step: missing input column(s) {', '.join(missing)}")
        return data.matrix(names)

    def fit(self, data: FeatureFrame) -> None:
        """Learn from baseline data."""
        self._fitted_columns = self.input_columns or list(data.columns)
        x = self._x(data)
        if x.shape[0] < 2:
            raise PipelineError(f"model step: {x.shape[0]} baseline window(s); need at least 2")
        model = _ZScore()
        model.fit(x)
        self._model = model

    def transform(self, data: Any) -> FeatureFrame:
        """Apply the step."""
        if self._model is None:
            raise NotFittedError("model step is not fitted: fit the pipeline on a baseline")
        if not isinstance(data, FeatureFrame):
            raise PipelineError("the model step takes features, not windows")
        x = self._x(data)
        score = np.asarray(self._model.score(x), dtype=np.float64)
        if x.shape[1]:
            # a window with no finite input (a regime the baseline never saw) is unknown,
            # never healthy
            score = np.where(np.isfinite(x).any(axis=1), score, np.nan)
        columns = dict(data.columns)
        columns[self.output] = score
        units = dict(data.units)
        units[self.output] = DIMENSIONLESS
        return FeatureFrame(data.t0_ns, data.t1_ns, columns, units, data.context, data.regime)

    def columns(self, upstream: dict[str, str]) -> dict[str, str]:
        """Output column → unit."""
        return {**upstream, self.output: DIMENSIONLESS}

    def get_state(self) -> dict[str, Any]:
        """What ``fit`` learned (plain JSON numbers)."""
        if self._model is None:
            return {}
        return {"columns": self._fitted_columns, "zscore": self._model.state()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``fit`` learned."""
        if not state:
            return
        if "zscore" not in state:
            raise PipelineError(
                "model step: the fitted state holds no z-score (a pickled estimator is never "
                "loaded): fit the pipeline again"
            )
        self._fitted_columns = state["columns"]
        model = _ZScore()
        model.load(state["zscore"])
        self._model = model


StepBuilder = Callable[[dict[str, Any], Asset, dict[str, str]], Step]

STEP_KINDS: dict[str, StepBuilder] = {
    "features": FeaturesStep,
    "scaler": lambda p, asset, units: ScalerStep(p),
    "model": lambda p, asset, units: ModelStep(p),
}
"""Step kind (the YAML key) → builder."""


def build_step(
    kind: str, params: dict[str, Any], asset: Asset, context_units: dict[str, str]
) -> Step:
    """Build a step from its YAML form; ``PipelineError`` names unknown kinds."""
    builder = STEP_KINDS.get(kind)
    if builder is None:
        raise PipelineError(f"unknown step {kind!r} (known: {', '.join(STEP_KINDS)})")
    return builder(params, asset, context_units)
