r"""Physics-informed bearing fault classifier: ``bearing_defect``.

A local bearing defect strikes once per passing rolling element, so the envelope spectrum
of the vibration shows a line at the defect frequency (BPFO outer race, BPFI inner race,
BSF ball, FTF cage), its harmonics, and sidebands where the defect moves through the load
zone (±shaft speed around BPFI, ±FTF around BSF). Which line stands out says which part is
damaged, whatever the speed, the bearing or the size of the defect.

:func:`bearing_defect_features` turns windows of vibration into those strengths with the
product's feature library (:mod:`shopfloor.features`): for each defect ``d`` and harmonic
``h``, :math:`\log_{10}` of the local SNR (largest bin near :math:`h f_d`, over the median
of the spectrum within ±10 % of it), in two envelope bands (a wide band below
:math:`0.4 f_s` and the fast kurtogram's most impulsive band below it), plus the
sideband SNRs. Ratios to a local floor carry no unit and no amplitude, and frequencies
follow the shaft speed and the geometry, so the features mean the same on another
machine. :class:`BearingDefectClassifier` is a small multinomial logistic regression on
them (scikit-learn), stored as ONNX (skl2onnx) and always evaluated by onnxruntime, so a
reloaded model gives identical probabilities.

Examples
--------
>>> from shopfloor.model import BearingGeometry
>>> names = bearing_defect_feature_names()
>>> names[:2], len(names)
(['wide.bpfo.h1', 'wide.bpfo.h2'], 28)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
import scipy.fft
import scipy.signal
from numpy.typing import ArrayLike

from shopfloor.errors import ModelError
from shopfloor.features import (
    DEFECTS,
    envelope_spectrum,
    fast_kurtogram,
    local_noise_floor,
    peak_near,
    sideband_amplitudes,
)
from shopfloor.features.bearing import defect_frequencies_hz
from shopfloor.ml.base import Artifact, Classifier, FloatMatrix, register_model
from shopfloor.model import BearingGeometry

__all__ = [
    "BearingDefectClassifier",
    "bearing_defect_feature_names",
    "bearing_defect_features",
]

N_HARMONICS = 3
TOLERANCE = 0.02
FLOOR_WIDTH = 0.1
FLOOR_MIN_BINS = 8.0
TOP_FRACTION = 0.4
"""Envelope bands stay below ``0.4 × rate``: above it the anti-alias filter shapes the
spectrum."""
BANDS = ("wide", "kurtogram")
_MIN_SNR = 1e-3


def bearing_defect_feature_names() -> list[str]:
    """Names of :func:`bearing_defect_features`' columns, in order."""
    names: list[str] = []
    for band in BANDS:
        for d in DEFECTS:
            names.extend(f"{band}.{d}.h{h}" for h in range(1, N_HARMONICS + 1))
        names.extend([f"{band}.bpfi.sidebands", f"{band}.bsf.sidebands"])
    return names


def _as_windows(windows: ArrayLike) -> npt.NDArray[np.float64]:
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] < 64:
        raise ModelError(
            f"windows must be shaped (n_windows, n_samples) with n_samples >= 64, got {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ModelError("windows hold NaN or infinite samples")
    return x


def _prewhiten(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Cepstral prewhitening, ``IFFT(X / |X|)``, of each tapered window.

    Flattening the spectrum removes the discrete lines (shaft, gears) and lets the
    impulses of a defect dominate every band. A short Tukey taper first keeps the
    window's circular edge step from turning into an impulse of its own.
    """
    tapered = (x - x.mean(axis=-1, keepdims=True)) * scipy.signal.windows.tukey(x.shape[-1], 0.1)
    coef = np.asarray(scipy.fft.rfft(tapered, axis=-1), dtype=np.complex128)
    mag = np.abs(coef)
    tiny = np.finfo(np.float64).tiny + 1e-12 * np.max(mag, axis=-1, keepdims=True)
    coef = coef / np.maximum(mag, tiny)
    coef[:, 0] = 0.0
    return np.asarray(scipy.fft.irfft(coef, n=x.shape[-1], axis=-1), dtype=np.float64)


def _kurtogram_band(
    x: npt.NDArray[np.float64], fs: float, min_bandwidth_hz: float, top_hz: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Most impulsive kurtogram band of each window among those ending below ``top_hz``."""
    try:
        kgram = fast_kurtogram(x, fs, min_bandwidth_hz=min_bandwidth_hz)
    except ValueError:
        n = x.shape[0]
        return np.zeros(n), np.full(n, top_hz)
    lows = np.concatenate(
        [np.arange(n) * bw for n, bw in zip(kgram.n_bands, kgram.bandwidth_hz, strict=True)]
    )
    highs = lows + np.concatenate(
        [np.full(n, bw) for n, bw in zip(kgram.n_bands, kgram.bandwidth_hz, strict=True)]
    )
    stacked = np.concatenate(kgram.kurtosis, axis=-1)
    allowed = highs <= top_hz + 1e-9
    filled = np.where(np.isnan(stacked) | ~allowed, -np.inf, stacked)
    best = np.argmax(filled, axis=-1)
    return lows[best], highs[best]


def _log_snr(
    freqs: npt.NDArray[np.float64], ses: npt.NDArray[np.float64], target_hz: ArrayLike
) -> npt.NDArray[np.float64]:
    peak, _ = peak_near(freqs, ses, target_hz, tolerance=TOLERANCE, min_bins=1.0)
    floor = local_noise_floor(freqs, ses, target_hz, width=FLOOR_WIDTH, min_bins=FLOOR_MIN_BINS)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(floor > 0, peak / floor, np.nan)
    return np.asarray(np.log10(np.maximum(np.nan_to_num(snr, nan=1.0), _MIN_SNR)), np.float64)


def _band_features(
    freqs: npt.NDArray[np.float64],
    ses: npt.NDArray[np.float64],
    defect_hz: dict[str, npt.NDArray[np.float64]],
    shaft: npt.NDArray[np.float64],
) -> list[npt.NDArray[np.float64]]:
    columns: list[npt.NDArray[np.float64]] = []
    for d in DEFECTS:
        columns.extend(_log_snr(freqs, ses, h * defect_hz[d]) for h in range(1, N_HARMONICS + 1))
    for center, spacing in (("bpfi", shaft), ("bsf", defect_hz["ftf"])):
        _, sidebands = sideband_amplitudes(
            freqs, ses, defect_hz[center], spacing, n_harmonics=N_HARMONICS, tolerance=TOLERANCE
        )
        floor = np.stack(
            [
                local_noise_floor(
                    freqs, ses, h * defect_hz[center], width=FLOOR_WIDTH, min_bins=FLOOR_MIN_BINS
                )
                for h in range(1, N_HARMONICS + 1)
            ],
            axis=-1,
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.nanmean(np.where(floor > 0, sidebands / floor, np.nan), axis=-1)
        columns.append(np.log10(np.maximum(np.nan_to_num(ratio, nan=1.0), _MIN_SNR)))
    return columns


def bearing_defect_features(
    windows: ArrayLike,
    sample_rate_hz: float,
    shaft_hz: ArrayLike,
    bearing: BearingGeometry,
    *,
    prewhiten: bool = True,
) -> tuple[FloatMatrix, list[str]]:
    """Strength of each bearing defect frequency in the envelope spectrum of each window.

    Parameters
    ----------
    windows
        Vibration windows shaped ``(n_windows, n_samples)`` (one channel), any unit.
    sample_rate_hz
        Sample rate.
    shaft_hz
        Shaft speed in Hz, a scalar or one per window.
    bearing
        Geometry of the bearing watched.
    prewhiten
        Cepstral prewhitening of each window first (recommended: it removes shaft and
        gear lines that would otherwise dominate the envelope).

    Returns
    -------
    features, names
        ``(n_windows, 28)`` float64 matrix (no NaN: a band outside the spectrum reads as
        SNR 1, no line) and :func:`bearing_defect_feature_names`.

    Raises
    ------
    ModelError
        When the windows, the rate or the speed are unusable (naming the value).
    """
    x = _as_windows(windows)
    fs = float(sample_rate_hz)
    if not (math.isfinite(fs) and fs > 0):
        raise ModelError(f"sample_rate_hz must be a positive number, got {sample_rate_hz!r}")
    shaft = np.broadcast_to(np.asarray(shaft_hz, dtype=np.float64), x.shape[:1]).copy()
    if not np.all(np.isfinite(shaft) & (shaft > 0)):
        raise ModelError(f"shaft_hz must be positive and finite, got {shaft_hz!r}")
    defect_hz = defect_frequencies_hz(bearing, shaft)
    top_hz = TOP_FRACTION * fs
    highest = float(np.max(N_HARMONICS * defect_hz["bpfi"] + shaft))
    if highest * 1.2 >= fs / 2:
        raise ModelError(
            f"sample_rate_hz={fs} is too low for the defect frequencies of shaft_hz up to "
            f"{float(shaft.max())} (highest line {highest:.0f} Hz)"
        )
    if prewhiten:
        x = _prewhiten(x)
    columns: list[npt.NDArray[np.float64]] = []
    n = x.shape[0]
    freqs, ses = envelope_spectrum(x, fs, (np.zeros(n), np.full(n, top_hz)))
    columns.extend(_band_features(freqs, ses, defect_hz, shaft))
    low, high = _kurtogram_band(x, fs, max(3.0 * highest / N_HARMONICS, 3.0 * 50.0), top_hz)
    freqs, ses = envelope_spectrum(x, fs, (low, high))
    columns.extend(_band_features(freqs, ses, defect_hz, shaft))
    return np.stack(columns, axis=-1), bearing_defect_feature_names()


@register_model
class BearingDefectClassifier(Classifier):
    """Which bearing part is damaged, from :func:`bearing_defect_features`.

    A multinomial logistic regression on standardised features (scikit-learn), exported
    to ONNX (skl2onnx, float64) at fit time; probabilities always come from onnxruntime,
    before and after a save, so they are identical. A missing (NaN or infinite) feature
    value takes the median of that feature in the training rows.

    Parameters
    ----------
    c
        Inverse regularisation strength of the logistic regression.
    class_weight
        ``"balanced"`` (weights inverse to class frequency) or ``None``.
    max_iter
        Iterations of the solver.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(3, 1, (20, 2))]
    >>> model = BearingDefectClassifier().fit(x, ["none"] * 20 + ["outer_race"] * 20)
    >>> model.classes_, model.predict(np.array([[3.0, 3.0]]))
    (['none', 'outer_race'], ['outer_race'])
    """

    model_type: ClassVar[str] = "bearing_defect"
    exports_onnx: ClassVar[bool] = True

    def __init__(
        self, c: float = 1.0, class_weight: str | None = "balanced", max_iter: int = 2000
    ) -> None:
        self.c = c
        self.class_weight = class_weight
        self.max_iter = max_iter

    def _validate(self) -> None:
        if not (isinstance(self.c, int | float) and math.isfinite(self.c) and self.c > 0):
            raise ModelError(f"bearing_defect: c must be a positive number, got {self.c!r}")
        if self.class_weight not in (None, "balanced"):
            raise ModelError(
                f"bearing_defect: class_weight must be 'balanced' or None, "
                f"got {self.class_weight!r}"
            )
        if not (isinstance(self.max_iter, int) and self.max_iter > 0):
            raise ModelError(
                f"bearing_defect: max_iter must be a positive integer, got {self.max_iter!r}"
            )

    def fit(
        self,
        x: FloatMatrix,
        y: Sequence[str],
        *,
        feature_names: Sequence[str] | None = None,
    ) -> Self:
        """Learn from feature rows ``x`` (see :func:`bearing_defect_features`) and labels."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self._validate()
        matrix = self._set_features(x, feature_names)
        self.fill_ = _column_medians(matrix)
        matrix = _filled(matrix, self.fill_)
        labels = [str(v) for v in y]
        if len(labels) != matrix.shape[0]:
            raise ModelError(
                f"bearing_defect: {matrix.shape[0]} rows but {len(labels)} labels in y"
            )
        if len(set(labels)) < 2:
            raise ModelError(
                f"bearing_defect: y must hold at least two classes, got {sorted(set(labels))}"
            )
        pipeline = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=self.c, class_weight=self.class_weight, max_iter=self.max_iter),
        )
        pipeline.fit(matrix, labels)
        self.classes_ = [str(v) for v in pipeline.classes_]
        self.onnx_ = _to_onnx(pipeline, matrix.shape[1])
        self._session: Any = None
        return self

    def predict_proba(
        self, x: FloatMatrix, *, feature_names: Sequence[str] | None = None
    ) -> npt.NDArray[np.float64]:
        """Rows × :attr:`classes_` probabilities (computed by onnxruntime)."""
        matrix = _filled(self._check_features(x, feature_names), self.fill_)
        if matrix.shape[0] == 0:
            return np.empty((0, len(self.classes_)))
        if getattr(self, "_session", None) is None:
            self._session = _session(self.onnx_)
        outputs = self._session.run(["probabilities"], {"x": matrix})
        return np.asarray(outputs[0], dtype=np.float64)

    def to_artifact(self) -> Artifact:
        """The ONNX graph, with the classes and feature names as metadata."""
        self.check_fitted()
        return Artifact(
            model_type=self.model_type,
            params=self.get_params(),
            format="onnx",
            payload=self.onnx_,
            meta={
                "classes": self.classes_,
                "feature_names": self.feature_names_in_,
                "fill": [float(v) for v in self.fill_],
            },
        )

    @classmethod
    def from_artifact(cls, artifact: Artifact) -> Self:
        """Rebuild from :meth:`to_artifact`; the same ONNX graph, identical outputs."""
        if artifact.model_type != cls.model_type or artifact.format != "onnx":
            raise ModelError(
                f"artifact of {artifact.model_type!r} ({artifact.format}) is not a "
                f"{cls.model_type} ONNX model"
            )
        try:
            model = cls(**artifact.params)
            model.classes_ = [str(v) for v in artifact.meta["classes"]]
            model.feature_names_in_ = [str(v) for v in artifact.meta["feature_names"]]
            model.fill_ = np.asarray(artifact.meta["fill"], dtype=np.float64)
        except (KeyError, TypeError) as err:
            raise ModelError(f"{cls.model_type} artifact is incomplete: {err}") from err
        model.onnx_ = artifact.payload
        model._session = _session(artifact.payload)
        return model


def _session(payload: bytes) -> Any:
    """An onnxruntime session on one thread (sums always in the same order)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(
            payload, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as err:  # onnxruntime raises its own untyped errors
        raise ModelError(f"bearing_defect artifact holds no valid ONNX model: {err}") from err


def _column_medians(matrix: FloatMatrix) -> npt.NDArray[np.float64]:
    """Median of each column's finite values (0 for a column with none)."""
    finite = np.where(np.isfinite(matrix), matrix, np.nan)
    counts = np.count_nonzero(np.isfinite(matrix), axis=0)
    with np.errstate(all="ignore"):
        medians = np.array(
            [np.median(finite[np.isfinite(finite[:, j]), j]) if counts[j] else 0.0
             for j in range(matrix.shape[1])]
        )  # fmt: skip
    return np.asarray(medians, dtype=np.float64)


def _filled(matrix: FloatMatrix, fill: npt.NDArray[np.float64]) -> FloatMatrix:
    """A copy with each NaN or infinite value replaced by its column's training median."""
    return np.where(np.isfinite(matrix), matrix, fill[None, :])


def _to_onnx(pipeline: Any, n_features: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    graph = to_onnx(
        pipeline,
        initial_types=[("x", DoubleTensorType([None, n_features]))],
        options={"zipmap": False},
    )
    return bytes(graph.SerializeToString())
