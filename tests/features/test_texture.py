"""Texture features: shapes and names agree, invariances hold, known patterns give known values."""

from __future__ import annotations

import numpy as np
import pytest

from shopfloor.features.texture import (
    glcm_features,
    gradient_histograms,
    intensity_statistics,
    lbp_histograms,
    texture_feature_names,
    texture_features,
)


def texture(n: int = 3, size: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((n, size, size, 1)).astype(np.float32)


def test_names_match_the_columns() -> None:
    x = texture()
    params = {"radii": (1, 2), "distances": (1, 3), "orientations": 6, "grid": 2}
    assert texture_features(x, **params).shape == (3, len(texture_feature_names(**params)))
    assert texture_features(x).shape == (3, len(texture_feature_names()))
    assert texture_features(x[:0]).shape == (0, len(texture_feature_names()))


def test_lbp_histograms_sum_to_one_and_ignore_brightness_and_quarter_turns() -> None:
    x = texture(size=48)
    h = lbp_histograms(x, radii=(1, 2))
    np.testing.assert_allclose(h.reshape(3, 2, 10).sum(axis=2), 1.0)
    np.testing.assert_allclose(lbp_histograms(x * 0.5 + 0.2, radii=(1, 2)), h, atol=1e-9)
    turned = np.rot90(x, k=1, axes=(1, 2))
    np.testing.assert_allclose(lbp_histograms(turned, radii=(1,)), h[:, :10], atol=0.02)


def test_lbp_of_a_flat_image_is_all_one_pattern() -> None:
    flat = np.full((1, 16, 16, 1), 0.5, np.float32)
    h = lbp_histograms(flat, radii=(1,))
    assert h[0, 8] == pytest.approx(1.0)  # every neighbour ≥ centre: 8 ones


def test_glcm_of_stripes() -> None:
    stripes = np.zeros((1, 32, 32, 1), np.float32)
    stripes[0, :, ::2] = 1.0
    props = glcm_features(stripes, distances=(2,), levels=4)[0]
    contrast, _, homogeneity, energy, correlation, _ = props
    # at distance 2 the horizontal and vertical neighbours are equal; the diagonals too
    assert contrast == pytest.approx(0.0, abs=1e-9)
    assert homogeneity == pytest.approx(1.0)
    assert energy == pytest.approx(np.sqrt(0.5))
    assert correlation == pytest.approx(1.0)


def test_gradient_histogram_of_vertical_edges_points_one_way() -> None:
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))[None, :, :, None]
    h = gradient_histograms(ramp, orientations=9)
    assert h.shape == (1, 11)
    assert h[0, 0] == pytest.approx(1.0)  # all gradients along x: orientation 0
    assert gradient_histograms(ramp, orientations=9, grid=2).shape == (1, 9 * 5 + 2)


def test_intensity_statistics_of_a_flat_image() -> None:
    stats = intensity_statistics(np.full((2, 9, 9, 3), 0.25, np.float32))
    np.testing.assert_allclose(stats[:, :5], 0.25)
    np.testing.assert_allclose(stats[:, 5:], 0.0)


def test_too_small_images_are_refused() -> None:
    with pytest.raises(ValueError, match="too small for LBP radius 3"):
        lbp_histograms(texture(size=8), radii=(3,))
    with pytest.raises(ValueError, match="distance 9"):
        glcm_features(texture(size=8), distances=(9,))
    with pytest.raises(ValueError, match="n, height, width, channels"):
        texture_features(np.zeros((8, 8)))


def test_spatial_features_see_where_things_are() -> None:
    from shopfloor.features.texture import spatial_feature_names, spatial_features

    left = np.zeros((1, 32, 32, 1), np.float32)
    left[0, :, :16] = 1.0
    right = left[:, :, ::-1]
    a, b = spatial_features(left, grid=2), spatial_features(right, grid=2)
    assert a.shape == (1, len(spatial_feature_names(grid=2)))
    means_a, means_b = a[0, -16:].reshape(4, 4), b[0, -16:].reshape(4, 4)
    np.testing.assert_allclose(means_a[:, :2], 1.0)
    np.testing.assert_allclose(means_b[:, :2], 0.0)
    np.testing.assert_allclose(texture_features(left), texture_features(right), atol=1e-9)
    with pytest.raises(ValueError, match="spatial grid"):
        spatial_features(left, grid=9)
