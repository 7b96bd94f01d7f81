"""Vibration features: numpy/scipy only, vectorized over windows and channels.

Signals are arrays shaped ``(..., n_samples)`` with time on the last axis, their sample
rate and unit passed beside them; each feature returns one value per window, shaped
``(...)``. :class:`FeatureSet` bundles a declared selection for the pipeline layer.

Modules: :mod:`~shopfloor.features.time_domain` (statistics),
:mod:`~shopfloor.features.spectrum` (spectra, bands, peaks),
:mod:`~shopfloor.features.envelope` (band-pass, Hilbert envelope, fast kurtogram),
:mod:`~shopfloor.features.bearing` (defect frequencies and their amplitudes),
:mod:`~shopfloor.features.severity` (ISO 10816 velocity RMS and zones),
:mod:`~shopfloor.features.speed` (shaft speed), :mod:`~shopfloor.features.order_tracking`
(angle-domain resampling) and :mod:`~shopfloor.features.feature_set`.
See ``docs/features.md`` for every feature's formula and unit.

Images have their own modules, imported by name: :mod:`~shopfloor.features.images`
(decoding, colour, region of interest, resizing, normalization, augmentation) and
:mod:`~shopfloor.features.texture` (LBP, co-occurrence, gradient and intensity features).
"""

from shopfloor.features.bearing import (
    DEFECTS,
    defect_amplitudes,
    defect_frequencies_hz,
    local_noise_floor,
    peak_near,
    sideband_amplitudes,
)
from shopfloor.features.envelope import (
    Kurtogram,
    analytic_band,
    envelope,
    envelope_spectrum,
    fast_kurtogram,
    kurtogram_levels,
)
from shopfloor.features.feature_set import FEATURES_VERSION, FeatureSet
from shopfloor.features.order_tracking import order_spectrum, resample_to_angle, shaft_angle
from shopfloor.features.severity import (
    ISO10816_BOUNDARIES_MM_S,
    ISO_ZONES,
    iso10816_zone,
    velocity_rms,
)
from shopfloor.features.spectrum import (
    Spectrum,
    amplitude_spectrum,
    band_power,
    band_power_from_spectrum,
    find_spectral_peaks,
    power_spectrum,
    spectral_centroid,
    spectral_kurtosis,
    spectral_moments,
    spectral_peaks,
    spectral_spread,
    welch_psd,
)
from shopfloor.features.speed import (
    estimate_shaft_speed,
    shaft_speed_from_tacho,
    speed_profile_from_tacho,
)
from shopfloor.features.time_domain import (
    clearance_factor,
    crest_factor,
    impulse_factor,
    kurtosis,
    mean,
    peak,
    peak_to_peak,
    rms,
    shape_factor,
    skewness,
    zero_crossing_rate,
)

__all__ = [
    "DEFECTS",
    "FEATURES_VERSION",
    "ISO10816_BOUNDARIES_MM_S",
    "ISO_ZONES",
    "FeatureSet",
    "Kurtogram",
    "Spectrum",
    "amplitude_spectrum",
    "analytic_band",
    "band_power",
    "band_power_from_spectrum",
    "clearance_factor",
    "crest_factor",
    "defect_amplitudes",
    "defect_frequencies_hz",
    "envelope",
    "envelope_spectrum",
    "estimate_shaft_speed",
    "fast_kurtogram",
    "find_spectral_peaks",
    "impulse_factor",
    "iso10816_zone",
    "kurtogram_levels",
    "kurtosis",
    "local_noise_floor",
    "mean",
    "order_spectrum",
    "peak",
    "peak_near",
    "peak_to_peak",
    "power_spectrum",
    "resample_to_angle",
    "rms",
    "shaft_angle",
    "shaft_speed_from_tacho",
    "shape_factor",
    "sideband_amplitudes",
    "skewness",
    "spectral_centroid",
    "spectral_kurtosis",
    "spectral_moments",
    "spectral_peaks",
    "spectral_spread",
    "speed_profile_from_tacho",
    "velocity_rms",
    "welch_psd",
    "zero_crossing_rate",
]
