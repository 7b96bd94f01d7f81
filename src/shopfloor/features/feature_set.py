"""A declarative, composable set of vibration features: :class:`FeatureSet`.

The pipeline layer wraps one ``FeatureSet`` as a step and runs the same object on stored
history and on live data, so :meth:`FeatureSet.compute` is deterministic and each window is
computed on its own: 10 windows at once give what 10 calls with one window give.

Parameters are ``__init__`` keywords stored unchanged (as in scikit-learn), so the object
can be cloned (:meth:`FeatureSet.get_params`), described as JSON (:meth:`FeatureSet.spec`)
and hashed.
"""

from __future__ import annotations

import difflib
import fnmatch
import hashlib
import inspect
import json
import math
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from shopfloor.errors import PipelineError
from shopfloor.features._arrays import FloatArray, as_positive, check_band, check_rate, safe_divide
from shopfloor.features.bearing import (
    DEFECTS,
    defect_amplitudes,
    defect_frequencies_hz,
    medians_at,
    sideband_amplitudes,
    sideband_ratio,
)
from shopfloor.features.envelope import (
    envelope_spectrum_from_coefficients,
    kurtogram_from_coefficients,
    kurtogram_levels,
)
from shopfloor.features.severity import (
    acceleration_to_m_s2,
    check_machine_class,
    iso10816_zone,
    velocity_rms_from_coefficients,
)
from shopfloor.features.spectrum import (
    Spectrum,
    band_power_from_spectrum,
    spectral_moments,
    window_values,
)
from shopfloor.features.speed import estimate_shaft_speed
from shopfloor.features.time_domain import TimeStats
from shopfloor.model import BearingGeometry

__all__ = ["FEATURES_VERSION", "FeatureSet"]

FEATURES_VERSION = 1
"""Version of the feature definitions; part of :meth:`FeatureSet.spec`, so a change to a
formula changes every pipeline hash that uses it. Bump it with any change of a value."""

_TIME_FEATURES = (
    "mean",
    "rms",
    "peak",
    "peak_to_peak",
    "crest_factor",
    "kurtosis",
    "skewness",
    "shape_factor",
    "impulse_factor",
    "clearance_factor",
    "zero_crossing_rate",
)
_SPECTRAL_FEATURES = ("spectral_centroid", "spectral_spread", "spectral_kurtosis")
# Samples per chunk of windows in compute(): 16 windows of 1 s at 25.6 kHz.
_CHUNK_SAMPLES = 1 << 19
# Local noise floor of the ``.snr`` features: median within ±10 % (at least ±8 bins).
_FLOOR_WIDTH = 0.1
_FLOOR_MIN_BINS = 8.0
_ENVELOPE_BAND_FEATURES = (
    "envelope.band_low_hz",
    "envelope.band_high_hz",
    "envelope.band_kurtosis",
)


def _format_edge(value: float) -> str:
    return f"{value:g}"


class FeatureSet:
    """Vibration features of windows shaped ``(n_windows, n_channels, n_samples)``.

    Parameters
    ----------
    features
        Names or ``fnmatch`` patterns of the features to compute, in output order (a
        pattern expands in catalogue order; duplicates are dropped). None selects the whole
        catalogue allowed by the other parameters, except ``shaft_hz``. See
        ``docs/features.md`` for every name, formula and unit. Examples: ``"rms"``,
        ``"envelope.bpfo*"``, ``"band_power_hz.*"``.
    unit
        Unit of the input signal: ``"g"`` or an acceleration unit pint understands.
    window
        Window of the spectra (``scipy.signal.get_window`` name).
    bands_hz
        ``(low, high)`` bands in Hz for ``band_power_hz.<low>-<high>`` (low inclusive).
    bands_orders
        ``(low, high)`` bands in orders of shaft speed for ``band_power_orders.<low>-<high>``.
    n_peaks
        Number of spectral peaks reported (``spectral_peak_hz.<i>``,
        ``spectral_peak_amplitude.<i>``).
    bearing
        Geometry for the defect-frequency features ``envelope.<bpfo|bpfi|bsf|ftf>...``.
    envelope_band
        ``"auto"`` (fast kurtogram per window) or a fixed ``(low, high)`` band in Hz.
    envelope_min_bandwidth_hz
        Narrowest band the kurtogram may choose (about 3× the highest defect frequency to
        be seen).
    envelope_squared
        Squared envelope spectrum (the default; units squared, exact at the reduced rate)
        or, when False, the spectrum of the envelope itself (unit of the signal).
    n_harmonics
        Defect-frequency harmonics reported (``envelope.bpfo``, ``envelope.bpfo.h2``, ...)
        and used for the BPFI sideband check.
    tolerance
        Relative half-width of the search band around each defect frequency.
    velocity_band_hz
        Band of the ISO 10816 velocity RMS.
    machine_class
        ISO 10816-1 machine class, ``"I"``, ``"II"``, ``"III"`` or ``"IV"``, for ``iso_zone``.
    nominal_shaft_hz
        When set and :meth:`compute` gets no ``shaft_hz``, the speed is estimated from each
        window's spectrum near this value (:func:`~shopfloor.features.estimate_shaft_speed`).

    Examples
    --------
    >>> fs = 25600.0
    >>> t = np.arange(25600) / fs
    >>> windows = np.sin(2 * np.pi * 160 * t)[None, None, :] * np.array([[[1.0], [2.0]]])
    >>> fset = FeatureSet(["rms", "crest_factor"])
    >>> out = fset.compute(windows, fs)
    >>> out["rms"].round(4)
    array([[0.7071, 1.4142]])
    >>> fset.units
    {'rms': 'g', 'crest_factor': ''}
    """

    def __init__(
        self,
        features: Sequence[str] | None = None,
        *,
        unit: str = "g",
        window: str = "hann",
        bands_hz: Sequence[tuple[float, float]] = (),
        bands_orders: Sequence[tuple[float, float]] = (),
        n_peaks: int = 3,
        bearing: BearingGeometry | None = None,
        envelope_band: str | tuple[float, float] = "auto",
        envelope_min_bandwidth_hz: float = 500.0,
        envelope_squared: bool = True,
        n_harmonics: int = 3,
        tolerance: float = 0.02,
        velocity_band_hz: tuple[float, float] = (10.0, 1000.0),
        machine_class: str = "II",
        nominal_shaft_hz: float | None = None,
    ) -> None:
        self.features = features
        self.unit = unit
        self.window = window
        self.bands_hz = bands_hz
        self.bands_orders = bands_orders
        self.n_peaks = n_peaks
        self.bearing = bearing
        self.envelope_band = envelope_band
        self.envelope_min_bandwidth_hz = envelope_min_bandwidth_hz
        self.envelope_squared = envelope_squared
        self.n_harmonics = n_harmonics
        self.tolerance = tolerance
        self.velocity_band_hz = velocity_band_hz
        self.machine_class = machine_class
        self.nominal_shaft_hz = nominal_shaft_hz
        self._validate()

    # -- parameters -----------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """Return the ``__init__`` parameters as given (scikit-learn protocol)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> FeatureSet:
        """Set ``__init__`` parameters by name and return ``self`` (scikit-learn protocol)."""
        known = self._param_names()
        for name, value in params.items():
            if name not in known:
                raise ValueError(f"FeatureSet has no parameter {name!r} (known: {known})")
            setattr(self, name, value)
        self._validate()
        return self

    def clone(self) -> FeatureSet:
        """Return a new, equal ``FeatureSet`` built from the same parameters."""
        return type(self)(**self.get_params())

    def spec(self) -> dict[str, Any]:
        """Return a JSON-able description: the class, ``FEATURES_VERSION`` and parameters.

        Equal specs mean equal outputs; the pipeline layer hashes it (see :meth:`digest`).
        :meth:`from_spec` builds the object back.
        """
        params = self.get_params()
        out: dict[str, Any] = {}
        for name, value in params.items():
            if name == "bearing":
                out[name] = None if value is None else value.model_dump(mode="json")
            elif name in ("bands_hz", "bands_orders"):
                out[name] = [[float(lo), float(hi)] for lo, hi in value]
            elif name in ("velocity_band_hz",):
                out[name] = [float(v) for v in value]
            elif name == "envelope_band":
                out[name] = value if isinstance(value, str) else [float(v) for v in value]
            elif name == "features":
                out[name] = None if value is None else [str(v) for v in value]
            else:
                out[name] = value
        return {"type": "shopfloor.features.FeatureSet", "version": FEATURES_VERSION, "params": out}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FeatureSet:
        """Build a ``FeatureSet`` from :meth:`spec` output (refuses another version)."""
        if spec.get("type") != "shopfloor.features.FeatureSet":
            raise PipelineError(
                f"spec type must be 'shopfloor.features.FeatureSet', got {spec.get('type')!r}"
            )
        if spec.get("version") != FEATURES_VERSION:
            raise PipelineError(
                f"spec version {spec.get('version')!r} differs from this library's "
                f"FEATURES_VERSION {FEATURES_VERSION}: its features would not be the same"
            )
        params = dict(spec["params"])
        if params.get("bearing") is not None:
            params["bearing"] = BearingGeometry(**params["bearing"])
        for name in ("bands_hz", "bands_orders"):
            params[name] = [tuple(b) for b in params.get(name, [])]
        if "velocity_band_hz" in params:
            params["velocity_band_hz"] = tuple(params["velocity_band_hz"])
        if isinstance(params.get("envelope_band"), list):
            params["envelope_band"] = tuple(params["envelope_band"])
        return cls(**params)

    def digest(self) -> str:
        """Return the SHA-256 of :meth:`spec` as canonical JSON (hex)."""
        blob = json.dumps(self.spec(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def __repr__(self) -> str:
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        given = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if not _same(value, defaults[name])
        ]
        return f"FeatureSet({', '.join(given)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSet) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(self.digest())

    def _validate(self) -> None:
        acceleration_to_m_s2(self.unit)
        window_values(self.window, 16)
        for name in ("bands_hz", "bands_orders"):
            for band in getattr(self, name):
                check_band(band, name=f"{name} entry")
        if not isinstance(self.n_peaks, int) or self.n_peaks < 1:
            raise ValueError(f"n_peaks must be a positive integer, got {self.n_peaks!r}")
        if not isinstance(self.n_harmonics, int) or self.n_harmonics < 1:
            raise ValueError(f"n_harmonics must be a positive integer, got {self.n_harmonics!r}")
        if self.bearing is not None and not isinstance(self.bearing, BearingGeometry):
            raise ValueError(f"bearing must be a BearingGeometry or None, got {self.bearing!r}")
        if isinstance(self.envelope_band, str):
            if self.envelope_band != "auto":
                raise ValueError(
                    f"envelope_band must be 'auto' or a (low, high) band in Hz, "
                    f"got {self.envelope_band!r}"
                )
        else:
            check_band(self.envelope_band, name="envelope_band")
        if not (
            isinstance(self.envelope_min_bandwidth_hz, int | float)
            and math.isfinite(self.envelope_min_bandwidth_hz)
            and self.envelope_min_bandwidth_hz > 0
        ):
            raise ValueError(
                "envelope_min_bandwidth_hz must be a positive number, "
                f"got {self.envelope_min_bandwidth_hz!r}"
            )
        if not (isinstance(self.tolerance, int | float) and 0 <= self.tolerance < 0.5):
            raise ValueError(f"tolerance must be a fraction in [0, 0.5), got {self.tolerance!r}")
        check_band(self.velocity_band_hz, name="velocity_band_hz")
        check_machine_class(self.machine_class)
        if self.nominal_shaft_hz is not None:
            as_positive(self.nominal_shaft_hz, "nominal_shaft_hz")
        if self.features is not None and isinstance(self.features, str):
            raise ValueError(
                f"features must be a sequence of names, got the string {self.features!r}; "
                "wrap it in a list"
            )
        _ = self.feature_names  # resolve now, so a wrong name fails at construction

    # -- catalogue ------------------------------------------------------------------------

    @property
    def _amp_unit(self) -> str:
        return self.unit

    @property
    def _sq_unit(self) -> str:
        return "g_0**2" if self.unit.strip() == "g" else f"({self.unit})**2"

    @property
    def _env_unit(self) -> str:
        return self._sq_unit if self.envelope_squared else self._amp_unit

    def _catalog(self) -> dict[str, str]:
        """Every feature these parameters allow, in canonical order, with its unit."""
        u, u2 = self._amp_unit, self._sq_unit
        cat: dict[str, str] = {}
        for name in _TIME_FEATURES:
            cat[name] = (
                u
                if name in ("mean", "rms", "peak", "peak_to_peak")
                else ("Hz" if name == "zero_crossing_rate" else "")
            )
        cat.update(spectral_centroid="Hz", spectral_spread="Hz", spectral_kurtosis="")
        for i in range(1, self.n_peaks + 1):
            cat[f"spectral_peak_hz.{i}"] = "Hz"
            cat[f"spectral_peak_amplitude.{i}"] = u
        for lo, hi in self.bands_hz:
            cat[f"band_power_hz.{_format_edge(lo)}-{_format_edge(hi)}"] = u2
        for lo, hi in self.bands_orders:
            cat[f"band_power_orders.{_format_edge(lo)}-{_format_edge(hi)}"] = u2
        cat.update(velocity_rms="mm/s", iso_zone="", shaft_hz="Hz")
        cat.update(dict.fromkeys(_ENVELOPE_BAND_FEATURES, ""))
        cat["envelope.band_low_hz"] = cat["envelope.band_high_hz"] = "Hz"
        if self.bearing is not None:
            ue = self._env_unit
            for d in DEFECTS:
                cat[f"envelope.{d}"] = ue
                for h in range(2, self.n_harmonics + 1):
                    cat[f"envelope.{d}.h{h}"] = ue
                cat[f"envelope.{d}.snr"] = ""
            cat["envelope.bpfi.sidebands"] = ue
            cat["envelope.bpfi.sideband_ratio"] = ""
        return cat

    def catalog(self) -> dict[str, str]:
        """Every feature name these parameters allow, in canonical order, with its unit.

        Examples
        --------
        >>> list(FeatureSet(["rms"]).catalog())[:3]
        ['mean', 'rms', 'peak']
        """
        return self._catalog()

    def selector_problem(self, selector: str) -> str | None:
        """Why ``selector`` matches no feature with these parameters; None when it matches.

        Names a missing parameter (a bearing feature without a bearing geometry) or, for an
        unknown name, the closest known one.

        Examples
        --------
        >>> FeatureSet(["rms"]).selector_problem("kurtosys")
        "unknown feature 'kurtosys' (did you mean 'kurtosis'?)"
        >>> FeatureSet(["rms"]).selector_problem("envelope.bpfo") is None
        False
        >>> FeatureSet(["rms"]).selector_problem("spectral_*") is None
        True
        """
        catalog = self._catalog()
        if any(fnmatch.fnmatchcase(name, selector) for name in catalog):
            return None
        message = self._unknown_feature_message(selector)
        if not message.startswith("unknown feature"):
            return message
        close = difflib.get_close_matches(selector, list(catalog), n=1, cutoff=0.6)
        if close:
            return f"unknown feature {selector!r} (did you mean {close[0]!r}?)"
        return message

    @staticmethod
    def _needs_shaft(name: str) -> bool:
        parts = name.split(".")
        return (
            name == "shaft_hz"
            or parts[0] == "band_power_orders"
            or (parts[0] == "envelope" and parts[1] in DEFECTS)
        )

    @property
    def feature_names(self) -> list[str]:
        """The names of :meth:`compute`'s outputs, in order (stable for given parameters)."""
        catalog = self._catalog()
        if self.features is None:
            return [name for name in catalog if name != "shaft_hz"]
        names: list[str] = []
        for selector in self.features:
            matched = [n for n in catalog if fnmatch.fnmatchcase(n, selector)]
            if not matched:
                raise PipelineError(self._unknown_feature_message(selector))
            names.extend(n for n in matched if n not in names)
        return names

    def _unknown_feature_message(self, selector: str) -> str:
        if (
            selector.startswith("envelope.")
            and self.bearing is None
            and any(selector.startswith(f"envelope.{d}") for d in DEFECTS)
        ):
            return f"feature {selector!r} needs bearing=BearingGeometry(...), got bearing=None"
        if selector.startswith("band_power_orders") and not self.bands_orders:
            return f"feature {selector!r} needs bands_orders, got {self.bands_orders!r}"
        if selector.startswith("band_power_hz") and not self.bands_hz:
            return f"feature {selector!r} needs bands_hz, got {self.bands_hz!r}"
        return f"unknown feature {selector!r}; known with these parameters: " + ", ".join(
            self._catalog()
        )

    @property
    def units(self) -> dict[str, str]:
        """Unit of each output (a string pint understands; ``""`` is dimensionless)."""
        catalog = self._catalog()
        return {name: catalog[name] for name in self.feature_names}

    # -- computation ----------------------------------------------------------------------

    def compute(
        self,
        windows: ArrayLike,
        sample_rate_hz: float,
        shaft_hz: ArrayLike | None = None,
    ) -> dict[str, FloatArray]:
        """Return the features of each window and channel.

        Parameters
        ----------
        windows
            Shaped ``(n_windows, n_channels, n_samples)``, or ``(n_windows, n_samples)``
            for one channel, in the unit given by ``unit``.
        sample_rate_hz
            Sample rate.
        shaft_hz
            Shaft speed in Hz: a scalar, one per window ``(n_windows,)`` or one per window
            and channel. Needed by ``shaft_hz``, ``band_power_orders.*`` and the
            defect-frequency features unless ``nominal_shaft_hz`` is set.

        Returns
        -------
        dict
            ``feature_names`` in order, each a float64 array ``(n_windows, n_channels)``.

        Raises
        ------
        PipelineError
            When a selected feature needs ``shaft_hz`` and none is given or estimated, or
            the windows do not fit a parameter (a band above Nyquist).
        """
        x = np.asarray(windows, dtype=np.float64)
        if x.ndim == 2:
            x = x[:, None, :]
        if x.ndim != 3 or x.shape[-1] < 16:
            raise ValueError(
                "windows must be shaped (n_windows, n_channels, n_samples) or "
                f"(n_windows, n_samples) with n_samples >= 16, got shape {x.shape}"
            )
        fs = check_rate(sample_rate_hz)
        names = self.feature_names
        shaft = self._resolve_shaft(x, fs, shaft_hz, names)
        out = {name: np.empty(x.shape[:2]) for name in names}
        # Chunks of windows keep the temporaries small (cache-sized, no page faults on
        # long histories); every window is computed on its own either way.
        step = max(1, _CHUNK_SAMPLES // (x.shape[1] * x.shape[2]))
        for start in range(0, x.shape[0], step):
            part = slice(start, start + step)
            ctx = _Context(self, x[part], fs, None if shaft is None else shaft[part])
            for name in names:
                out[name][part] = ctx.value(name)
        return out

    def _resolve_shaft(
        self, x: FloatArray, fs: float, shaft_hz: ArrayLike | None, names: list[str]
    ) -> FloatArray | None:
        needing = [n for n in names if self._needs_shaft(n)]
        if not needing:
            return None
        shape = x.shape[:2]
        if shaft_hz is None:
            if self.nominal_shaft_hz is None:
                listed = ", ".join(repr(n) for n in needing[:5])
                more = f" and {len(needing) - 5} more" if len(needing) > 5 else ""
                raise PipelineError(
                    f"feature {listed}{more} needs the shaft speed, got shaft_hz=None: pass "
                    "shaft_hz to compute() or set nominal_shaft_hz to estimate it"
                )
            nominal = float(self.nominal_shaft_hz)
            if nominal * 1.1 * 5 >= fs / 2:
                raise PipelineError(
                    f"nominal_shaft_hz={nominal} is too high for sample_rate_hz={fs}"
                )
            return estimate_shaft_speed(x, fs, nominal, window=self.window)
        try:
            speed = as_positive(shaft_hz, "shaft_hz")
        except ValueError as err:
            raise PipelineError(str(err)) from err
        if speed.ndim == 1:
            speed = speed[:, None]
        try:
            return np.broadcast_to(speed, shape).astype(np.float64)
        except ValueError:
            raise PipelineError(
                f"shaft_hz must be a scalar, (n_windows,) or (n_windows, n_channels) = {shape}, "
                f"got shape {np.shape(shaft_hz)}"
            ) from None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return False


class _Context:
    """Lazily computed intermediate results for one :meth:`FeatureSet.compute` call."""

    def __init__(
        self, fset: FeatureSet, x: FloatArray, fs: float, shaft: FloatArray | None
    ) -> None:
        self.p = fset
        self.x = x
        self.fs = fs
        self.shaft = shaft
        self.n = x.shape[-1]
        self.stats = TimeStats(x)
        self._handlers: dict[str, Callable[[], FloatArray]] = {
            "mean": lambda: self.stats.mean,
            "rms": lambda: self.stats.rms,
            "peak": lambda: self.stats.peak,
            "peak_to_peak": lambda: self.stats.max - self.stats.min,
            "crest_factor": self.stats.crest_factor,
            "kurtosis": self.stats.kurtosis,
            "skewness": self.stats.skewness,
            "shape_factor": self.stats.shape_factor,
            "impulse_factor": self.stats.impulse_factor,
            "clearance_factor": self.stats.clearance_factor,
            "zero_crossing_rate": lambda: self.stats.zero_crossings() * fs / (self.n - 1),
            "spectral_centroid": lambda: self.moments[0],
            "spectral_spread": lambda: self.moments[1],
            "spectral_kurtosis": lambda: self.moments[2],
            "velocity_rms": lambda: self.velocity,
            "iso_zone": lambda: iso10816_zone(self.velocity, fset.machine_class),
            "shaft_hz": self._shaft,
            "envelope.band_low_hz": lambda: self.envelope_band[0],
            "envelope.band_high_hz": lambda: self.envelope_band[1],
            "envelope.band_kurtosis": lambda: self.envelope_band[2],
            "envelope.bpfi.sidebands": lambda: np.mean(self.sidebands[1], axis=-1),
            "envelope.bpfi.sideband_ratio": lambda: sideband_ratio(*self.sidebands),
        }

    def _shaft(self) -> FloatArray:
        assert self.shaft is not None  # FeatureSet._resolve_shaft checked it
        return self.shaft

    def value(self, name: str) -> FloatArray:
        handler = self._handlers.get(name)
        if handler is not None:
            return handler()
        group, _, rest = name.partition(".")
        if group == "spectral_peak_hz":
            return self.peaks[0][..., int(rest) - 1]
        if group == "spectral_peak_amplitude":
            return self.peaks[1][..., int(rest) - 1]
        if group in ("band_power_hz", "band_power_orders"):
            return self._band_power(group, rest)
        if group == "envelope":
            defect, _, detail = rest.partition(".")
            if detail == "snr":
                return self.snr(defect)
            harmonic = int(detail[1:]) if detail else 1
            return self.defect_peaks[defect][..., harmonic - 1]
        raise PipelineError(f"no rule computes feature {name!r}")  # pragma: no cover

    # spectra -------------------------------------------------------------------------------

    @cached_property
    def spectrum(self) -> Spectrum:
        return Spectrum.of(self.x, self.fs, self.p.window)

    @cached_property
    def hann_spectrum(self) -> Spectrum:
        if self.p.window == "hann":
            return self.spectrum
        return Spectrum.of(self.x, self.fs, "hann")

    @cached_property
    def raw_coefficients(self) -> np.ndarray:
        """Unwindowed rfft, shared by the velocity, the kurtogram and the envelope."""
        import scipy.fft

        return np.asarray(scipy.fft.rfft(self.x, axis=-1), dtype=np.complex128)

    @cached_property
    def moments(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        return spectral_moments(self.spectrum.freqs_hz, self.spectrum.power)

    @cached_property
    def peaks(self) -> tuple[FloatArray, FloatArray]:
        return self.spectrum.peaks(self.p.n_peaks)

    def _band_power(self, group: str, rest: str) -> FloatArray:
        bands = self.p.bands_hz if group == "band_power_hz" else self.p.bands_orders
        lo, hi = next(
            (float(a), float(b)) for a, b in bands if f"{_format_edge(a)}-{_format_edge(b)}" == rest
        )
        if group == "band_power_orders":
            low, high = lo * self._shaft(), hi * self._shaft()
        else:
            if lo >= self.fs / 2:
                raise PipelineError(
                    f"band {group}.{rest} starts at or above Nyquist ({self.fs / 2} Hz)"
                )
            low, high = np.asarray(lo), np.asarray(hi)
        return band_power_from_spectrum(self.spectrum.freqs_hz, self.spectrum.power, low, high)

    @cached_property
    def velocity(self) -> FloatArray:
        low, high = check_band(self.p.velocity_band_hz)
        if low >= self.fs / 2:
            raise PipelineError(
                f"velocity_band_hz={self.p.velocity_band_hz!r} starts above Nyquist "
                f"({self.fs / 2} Hz)"
            )
        return velocity_rms_from_coefficients(
            self.hann_spectrum.coefficients,
            self.n,
            self.fs,
            (low, high),
            acceleration_to_m_s2(self.p.unit),
        )

    # envelope ------------------------------------------------------------------------------

    @cached_property
    def envelope_band(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Low and high edge of each window's envelope band, and its spectral kurtosis."""
        if self.p.envelope_band == "auto":
            levels = kurtogram_levels(self.n, self.fs, self.p.envelope_min_bandwidth_hz)
            if not levels:
                raise PipelineError(
                    f"envelope_min_bandwidth_hz={self.p.envelope_min_bandwidth_hz} leaves no "
                    f"kurtogram band at sample_rate_hz={self.fs} with {self.n} samples"
                )
            kgram = kurtogram_from_coefficients(self.raw_coefficients, self.n, self.fs, levels)
            return kgram.best_band()
        low, high = self._fixed_band()
        return low, high, self._envelope[2]

    def _fixed_band(self) -> tuple[FloatArray, FloatArray]:
        lo, hi = check_band(self.p.envelope_band)  # type: ignore[arg-type]
        if lo >= self.fs / 2:
            raise PipelineError(
                f"envelope_band={self.p.envelope_band!r} starts above Nyquist ({self.fs / 2} Hz)"
            )
        shape = self.x.shape[:-1]
        return np.full(shape, lo), np.full(shape, hi)

    @cached_property
    def _envelope(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        auto = self.p.envelope_band == "auto"
        band = self.envelope_band[:2] if auto else self._fixed_band()
        return envelope_spectrum_from_coefficients(
            self.raw_coefficients,
            self.n,
            self.fs,
            band,
            squared=self.p.envelope_squared,
            window=self.p.window,
        )

    @property
    def envelope_spectrum(self) -> tuple[FloatArray, FloatArray]:
        return self._envelope[0], self._envelope[1]

    @cached_property
    def defect_hz(self) -> dict[str, FloatArray]:
        assert self.p.bearing is not None  # the catalogue has no such feature otherwise
        return defect_frequencies_hz(self.p.bearing, self._shaft())

    @cached_property
    def defect_peaks(self) -> dict[str, FloatArray]:
        assert self.p.bearing is not None  # the catalogue has no such feature otherwise
        freqs, amp = self.envelope_spectrum
        return defect_amplitudes(
            freqs,
            amp,
            self.p.bearing,
            self._shaft(),
            n_harmonics=self.p.n_harmonics,
            tolerance=self.p.tolerance,
        )

    @cached_property
    def noise_floors(self) -> FloatArray:
        freqs, amp = self.envelope_spectrum
        targets = np.stack([self.defect_hz[d] for d in DEFECTS], axis=-1)
        half = np.maximum(_FLOOR_WIDTH * targets, _FLOOR_MIN_BINS * (freqs[1] - freqs[0]))
        return medians_at(freqs, amp, targets, half)

    def snr(self, defect: str) -> FloatArray:
        floor = self.noise_floors[..., DEFECTS.index(defect)]
        return safe_divide(self.defect_peaks[defect][..., 0], floor)

    @cached_property
    def sidebands(self) -> tuple[FloatArray, FloatArray]:
        freqs, amp = self.envelope_spectrum
        return sideband_amplitudes(
            freqs,
            amp,
            self.defect_hz["bpfi"],
            self._shaft(),
            n_harmonics=self.p.n_harmonics,
            tolerance=self.p.tolerance,
        )
