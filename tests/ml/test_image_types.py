"""The built-in image types beyond the contract: imbalance, too few images, bad images."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from shopfloor.errors import ImageRejected, ModelError, NotAnImage
from shopfloor.features.images import preprocess_batch
from shopfloor.ml.images import classify_encoded
from shopfloor.ml.models import ClassicalImageClassifier, GoodOnlyModel
from shopfloor.testing.model_checks import example_pixels

SMALL = {"size": [24, 24]}


def images_of(model: ClassicalImageClassifier | GoodOnlyModel, n: int, seed: int = 3):
    pixels, labels = example_pixels(n, seed=seed)
    return preprocess_batch(list(pixels), model.preprocess_spec), np.array(labels)


def test_classical_weights_a_rare_class_up() -> None:
    model = ClassicalImageClassifier(preprocess=SMALL)
    x, y = images_of(model, 150)
    keep = (y != "spots") | (np.cumsum(y == "spots") <= 8)  # 8 spots among 100 others
    model.fit(x[keep], y[keep].tolist())
    test_x, test_y = images_of(model, 60, seed=11)
    predicted = np.array(model.predict(test_x))
    spots = test_y == "spots"
    assert (predicted[spots] == "spots").mean() >= 0.9


def test_classical_needs_three_images_per_class() -> None:
    model = ClassicalImageClassifier(preprocess=SMALL)
    x, y = images_of(model, 12)
    y[y == "spots"] = ["spots", "spots", "plain", "plain"]
    with pytest.raises(ModelError, match=r"at least 3 images .* spots \(2\)"):
        model.fit(x, y.tolist())


def test_classical_refuses_images_too_small_for_its_features() -> None:
    model = ClassicalImageClassifier(preprocess={"size": [6, 6]})
    x, y = images_of(model, 12)
    with pytest.raises(ModelError, match="too small for LBP radius"):
        model.fit(x, y.tolist())


def test_texture_parameters_are_checked() -> None:
    with pytest.raises(ModelError, match="lbp_radii"):
        ClassicalImageClassifier(lbp_radii=[0])
    with pytest.raises(ModelError, match="orientations"):
        GoodOnlyModel(orientations=1)
    with pytest.raises(ModelError, match="quantile"):
        GoodOnlyModel(quantile=1.0)
    with pytest.raises(ModelError, match=r"c must be"):
        ClassicalImageClassifier(c=0)


def test_good_only_with_fewer_images_than_neighbours() -> None:
    model = GoodOnlyModel(preprocess=SMALL, k=10)
    x, y = images_of(model, 12)
    model.fit(x[y == "plain"])  # 4 good images, k = 10
    assert np.isfinite(model.score(x)).all()
    with pytest.raises(ModelError, match="at least 2 good images"):
        GoodOnlyModel(preprocess=SMALL).fit(x[:1])


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_bad_image_is_named_and_nothing_is_scored() -> None:
    model = ClassicalImageClassifier(preprocess=SMALL)
    x, y = images_of(model, 24)
    model.fit(x, y.tolist())
    pixels, _ = example_pixels(1)
    with pytest.raises(NotAnImage, match=r"part-2\.png"):
        classify_encoded(model, [png(pixels[0]), b"junk"], names=["part-1.png", "part-2.png"])
    roi = ClassicalImageClassifier(preprocess={"size": [24, 24], "roi": [0, 0, 64, 64]})
    roi.fit(x, y.tolist())
    with pytest.raises(ImageRejected, match=r"part-9\.png: region of interest"):
        classify_encoded(roi, [png(pixels[0])], names=["part-9.png"])


def test_classical_with_spatial_features_and_a_logistic_regression() -> None:
    from shopfloor.ml.base import Artifact, load_model

    model = ClassicalImageClassifier(
        preprocess={"size": [32, 32]}, spatial_grid=2, classifier="logistic", c=0.1
    )
    x, y = images_of(model, 36)
    model.fit(x, y.tolist())
    assert len(model.features(x[:1])[0]) == len(model.texture.names)
    loaded = load_model(Artifact.from_bytes(model.to_artifact().to_bytes()))
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))  # type: ignore[attr-defined]
    assert (np.array(model.predict(x)) == y).mean() > 0.9
    with pytest.raises(ModelError, match="classifier must be svm or logistic"):
        ClassicalImageClassifier(classifier="forest")  # type: ignore[arg-type]
    with pytest.raises(ModelError, match="spatial_grid"):
        GoodOnlyModel(spatial_grid=-1)
