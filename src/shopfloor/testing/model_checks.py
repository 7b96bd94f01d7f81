"""The contract every model type keeps (:data:`~shopfloor.ml.base.MODEL_TYPES`).

Each check takes a registered model type name and states its invariant in its
docstring, as River's ``checks`` and scikit-learn's ``estimator_checks`` do. A type is
built with its ``contract_params`` (small and fast); a type may declare in its
``contract_exemptions`` the checks that do not apply to it, each with the reason.
:func:`check_model` runs every check on one type; ``tests/ml/test_model_contract.py``
runs every check on every registered type, so a new type is checked without a new test.

Example::

    import shopfloor.ml.models  # registers the built-in types
    from shopfloor.ml.base import MODEL_TYPES
    from shopfloor.testing.model_checks import check_model

    for model_type in MODEL_TYPES:
        check_model(model_type)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError, NotFittedError
from shopfloor.features.images import preprocess_batch
from shopfloor.ml.base import (
    MODEL_TYPES,
    UNCERTAIN,
    AnomalyModel,
    Artifact,
    Classifier,
    ImageAnomalyModel,
    ImageClassifier,
    ImageModel,
    Model,
    build_model,
    load_model,
)
from shopfloor.ml.images import classify_encoded, classify_images

__all__ = [
    "IMAGE_CLASSES",
    "MODEL_CHECKS",
    "check_model",
    "example_data",
    "example_pixels",
    "model_checks",
]

FEATURES = ["rms.x", "kurtosis.x", "crest.x"]
SEED = 3


def example_data(
    n_rows: int = 120,
) -> tuple[npt.NDArray[np.float64], list[str | None], list[str]]:
    """A deterministic example: rows × 3 features, two regimes, three classes.

    Returns
    -------
    x, regime, labels
        Features (regime ``"fast"`` is shifted by +5), the regime of each row, and class
        labels that depend on the first feature (``"ok"``, ``"worn"``, ``"broken"``).
    """
    rng = np.random.default_rng(SEED)
    x = rng.normal(size=(n_rows, len(FEATURES)))
    x[:, 1] += 0.5 * x[:, 0]
    regime: list[str | None] = ["slow" if i % 2 else "fast" for i in range(n_rows)]
    fast = np.array([r == "fast" for r in regime], dtype=bool)
    x[fast] += 5.0
    level = x[:, 0] - np.where(fast, 5.0, 0.0)
    labels = ["ok" if v < -0.4 else "worn" if v < 0.4 else "broken" for v in level]
    return x, regime, labels


IMAGE_CLASSES = ["plain", "spots", "stripes"]
"""The classes of :func:`example_pixels` (``plain`` are the good parts)."""


def example_pixels(
    n_images: int = 48, *, size: int = 32, seed: int = SEED
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """Deterministic example images: RGB uint8 ``(n, size, size, 3)`` and their class.

    Classes cycle through :data:`IMAGE_CLASSES`: ``plain`` is a noisy grey texture,
    ``spots`` adds a few bright blobs, ``stripes`` adds dark diagonal stripes; each image
    has its own brightness, so a model has something to learn but it is not trivial.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    pixels = np.empty((n_images, size, size, 3), dtype=np.uint8)
    labels = []
    for i in range(n_images):
        label = IMAGE_CLASSES[i % len(IMAGE_CLASSES)]
        base = 110 + 30 * rng.random() + rng.normal(0, 12, (size, size))
        if label == "spots":
            for _ in range(3):
                cy, cx = rng.uniform(4, size - 4, 2)
                base += 90 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 6.0)
        elif label == "stripes":
            phase = rng.uniform(0, 2 * np.pi)
            base -= 45 * (np.sin((xx + yy) * 0.7 + phase) > 0.3)
        tint = np.array([1.0, 0.97, 0.94])
        pixels[i] = np.clip(base[:, :, None] * tint, 0, 255).astype(np.uint8)
        labels.append(label)
    return pixels, labels


def _example_images(
    model: ImageModel, n_images: int = 48
) -> tuple[npt.NDArray[np.float32], list[str]]:
    pixels, labels = example_pixels(n_images)
    return preprocess_batch(list(pixels), model.preprocess_spec), labels


def _build(model_type: str, **overrides: Any) -> Model:
    cls = MODEL_TYPES[model_type]
    return build_model(model_type, {**cls.contract_params, **overrides})


def _fit(model: Model, x: npt.NDArray[np.float64], *, regimes: bool = True) -> Model:
    if isinstance(model, ImageModel):
        return _fit_images(model)
    _, regime, labels = example_data()
    if isinstance(model, AnomalyModel):
        return model.fit(x, regime=regime if regimes else None, feature_names=FEATURES)
    if isinstance(model, Classifier):
        return model.fit(x, labels, feature_names=FEATURES)
    raise AssertionError(f"{model.model_type}: neither an AnomalyModel nor a Classifier")


def _output(
    model: Model,
    x: npt.NDArray[np.float64],
    *,
    regimes: bool = True,
    names: list[str] | None = None,
) -> Any:
    if isinstance(model, ImageModel):
        images, _ = _example_images(model, x.shape[0])
        return _image_output(model, images)
    _, regime, _ = example_data(x.shape[0])
    names = FEATURES if names is None else names
    if isinstance(model, AnomalyModel):
        return model.score(x, regime=regime if regimes else None, feature_names=names)
    if isinstance(model, Classifier):
        return model.predict_proba(x, feature_names=names)
    raise AssertionError(f"{model.model_type}: neither an AnomalyModel nor a Classifier")


def _fit_images(model: ImageModel) -> ImageModel:
    images, labels = _example_images(model)
    if isinstance(model, ImageClassifier):
        return model.fit(images, labels)
    if isinstance(model, ImageAnomalyModel):
        good = images[[label == "plain" for label in labels]]
        return model.fit(good)
    raise AssertionError(f"{model.model_type}: neither an ImageClassifier nor an ImageAnomalyModel")


def _image_output(model: ImageModel, images: npt.NDArray[np.float32]) -> Any:
    if isinstance(model, ImageAnomalyModel):
        return model.score(images)
    return model.predict_proba(images)


def _fitted(model_type: str, **overrides: Any) -> Model:
    x, _, _ = example_data()
    return _fit(_build(model_type, **overrides), x)


def check_registered(model_type: str) -> None:
    """``build_model(name)`` gives the registered class, whose ``model_type`` is ``name``."""
    model = _build(model_type)
    assert type(model) is MODEL_TYPES[model_type]
    assert model.model_type == model_type
    assert model.task in ("anomaly", "classification", "image_classification", "image_anomaly")
    assert isinstance(model, ImageModel) == model.task.startswith("image_")


def check_params_are_json(model_type: str) -> None:
    """Parameters are plain JSON values kept unchanged (they go into the artifact).

    ``get_params()`` survives a JSON round trip and building the type from it again
    gives equal parameters.
    """
    params = _build(model_type).get_params()
    assert json.loads(json.dumps(params)) == params
    assert build_model(model_type, params).get_params() == params


def check_not_fitted(model_type: str) -> None:
    """Scoring, predicting or saving before ``fit`` raises ``NotFittedError``."""
    model = _build(model_type)
    x, _, _ = example_data(5)
    assert not model.fitted
    for call in (lambda: _output(model, x), model.to_artifact):
        try:
            call()
        except NotFittedError:
            continue
        raise AssertionError(f"{model_type}: used before fit without NotFittedError")


def check_fit_score_shapes(model_type: str) -> None:
    """``fit`` returns the model; one score per row, or rows × classes probabilities.

    Anomaly scores are float64 of shape ``(n,)``, finite on the training data; class
    probabilities are float64 of shape ``(n, len(classes_))``, in [0, 1], rows summing to
    1, and ``predict`` gives a known class per row. Zero rows give zero outputs.
    """
    x, _, _ = example_data()
    model = _build(model_type)
    assert _fit(model, x) is model
    assert model.feature_names_in_ == FEATURES
    out = np.asarray(_output(model, x[:17]))
    assert out.dtype == np.float64
    if isinstance(model, AnomalyModel):
        assert out.shape == (17,)
        assert np.isfinite(out).all(), f"{model_type}: non-finite score on baseline rows"
        assert _output(model, x[:0]).shape == (0,)
    else:
        assert isinstance(model, Classifier)
        assert out.shape == (17, len(model.classes_))
        assert ((out >= 0) & (out <= 1 + 1e-6)).all()
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)
        assert set(model.predict(x[:17], feature_names=FEATURES)) <= set(model.classes_)
        assert model.classes_ == sorted(set(example_data()[2]))
        assert _output(model, x[:0]).shape == (0, len(model.classes_))


def check_deterministic(model_type: str) -> None:
    """The same data (and the same ``random_state``, where the type has one) give the same model.

    Two models fitted separately score bit-identically.
    """
    x, _, _ = example_data()
    seed = {"random_state": 7} if "random_state" in _build(model_type).get_params() else {}
    a = _fit(_build(model_type, **seed), x)
    b = _fit(_build(model_type, **seed), x)
    np.testing.assert_array_equal(_output(a, x), _output(b, x))


def check_clone(model_type: str) -> None:
    """``clone()`` gives a new, unfitted model of the same type with equal parameters."""
    model = _fitted(model_type)
    twin = model.clone()
    assert type(twin) is type(model) and twin is not model
    assert twin.get_params() == model.get_params()
    assert not twin.fitted
    try:
        twin.to_artifact()
    except NotFittedError:
        return
    raise AssertionError(f"{model_type}: a clone is fitted")


def check_input_not_mutated(model_type: str) -> None:
    """``fit`` and scoring leave the input matrix (with NaN in it) untouched."""
    x, _, _ = example_data()
    x[3, 1] = np.nan
    x[5, :] = np.nan
    before = x.copy()
    model = _fit(_build(model_type), x)
    np.testing.assert_array_equal(x, before)
    _output(model, x)
    np.testing.assert_array_equal(x, before)


def check_missing_values(model_type: str) -> None:
    """NaN inputs are handled: a row without any finite value scores NaN (unknown).

    A row with some NaN still gets a finite score (anomaly) or probabilities (classifier);
    an anomaly row with no finite value scores NaN, never healthy.
    """
    x, _, _ = example_data()
    model = _fitted(model_type)
    test = x[:4].copy()
    test[1, 0] = np.nan
    test[2, :] = np.nan
    out = np.asarray(_output(model, test))
    if isinstance(model, AnomalyModel):
        assert np.isfinite(out[[0, 1, 3]]).all()
        assert np.isnan(out[2]), f"{model_type}: a row without a finite value is not NaN"
    else:
        assert np.isfinite(out).all()


def check_unknown_regime(model_type: str) -> None:
    """An anomaly model fitted per regime scores a regime it never saw as NaN (unknown).

    Fitted without regimes, the same model is regime-agnostic and scores every row.
    """
    model = _build(model_type)
    if not isinstance(model, AnomalyModel):
        return
    x, _, _ = example_data()
    model.fit(x, regime=example_data()[1], feature_names=FEATURES)
    score = model.score(x[:3], regime=["fast", "idle", "slow"], feature_names=FEATURES)
    assert np.isfinite(score[[0, 2]]).all()
    assert np.isnan(score[1]), f"{model_type}: an unseen regime scored {score[1]}, not NaN"
    agnostic = _fit(_build(model_type), x, regimes=False)
    assert isinstance(agnostic, AnomalyModel)
    assert np.isfinite(
        agnostic.score(x[:3], regime=["fast", "idle", "slow"], feature_names=FEATURES)
    ).all()


def check_feature_names(model_type: str) -> None:
    """A matrix with other feature names, or another column count, is refused (ModelError)."""
    model = _fitted(model_type)
    x, _, _ = example_data(4)
    refused = 0
    for matrix, names in ((x, FEATURES[::-1]), (x[:, :2], None)):
        try:
            _output(model, matrix, names=names)
        except ModelError:
            refused += 1
    assert refused == 2, f"{model_type}: a feature mismatch was accepted"


def check_artifact_round_trip(model_type: str) -> None:
    """Save → bytes → load gives a fitted model with identical outputs, bit for bit.

    ``to_artifact`` → ``Artifact.to_bytes`` → ``Artifact.from_bytes`` → ``load_model``
    scores (or predicts) exactly as the fitted model, including NaN rows; the same model
    packs to the same bytes twice; the loaded model keeps parameters and feature names.
    """
    x, _, _ = example_data()
    model = _fitted(model_type)
    test = x.copy()
    test[0, :] = np.nan
    data = model.to_artifact().to_bytes()
    assert model.to_artifact().to_bytes() == data
    loaded = load_model(Artifact.from_bytes(data))
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    if isinstance(model, ImageModel):
        assert isinstance(loaded, ImageModel)
        assert loaded.input_shape_ == model.input_shape_
        assert loaded.classes_ == model.classes_
    else:
        assert loaded.feature_names_in_ == model.feature_names_in_
    np.testing.assert_array_equal(_output(loaded, test), _output(model, test))
    if isinstance(model, Classifier):
        assert isinstance(loaded, Classifier)
        assert loaded.classes_ == model.classes_


def check_payload_format(model_type: str) -> None:
    """The payload is ONNX where the type ``exports_onnx``, else a pickle-free ``.npz``.

    An ONNX payload parses with ``onnx`` and passes its checker; an ``.npz`` payload
    loads with ``allow_pickle=False``.
    """
    import io

    import onnx

    model = _fitted(model_type)
    artifact = model.to_artifact()
    if model.exports_onnx:
        assert artifact.format == "onnx"
        onnx.checker.check_model(onnx.load_model_from_string(artifact.payload))
    else:
        assert artifact.format == "npz"
        with np.load(io.BytesIO(artifact.payload), allow_pickle=False) as npz:
            assert all(npz[name].dtype != object for name in npz.files)


def check_contributions(model_type: str) -> None:
    """An anomaly type's own ``contributions`` (if any): rows × features, ≥ 0, NaN-free rows.

    A type without (``NotImplementedError``) passes: reports fall back on robust z-scores.
    Rows with a finite score have finite contributions; the input is left untouched.
    """
    model = _fitted(model_type)
    if not isinstance(model, AnomalyModel):
        return
    x, regime, _ = example_data()
    test = x.copy()
    try:
        c = model.contributions(test, regime=regime, feature_names=FEATURES)
    except NotImplementedError:
        return
    np.testing.assert_array_equal(test, x)
    assert c.shape == x.shape
    scored = np.isfinite(model.score(x, regime=regime, feature_names=FEATURES))
    assert np.isfinite(c[scored]).all() and (c[scored] >= 0).all()


def check_image_fit_predict_shapes(model_type: str) -> None:
    """An image model: ``fit`` returns it; probabilities are images × classes, rows sum to 1.

    A classifier learns the sorted example classes; an anomaly model's classes are
    ``defect`` and ``good``, and its scores are float64 ``(n,)``, finite, higher for the
    example defects than for most good images. Zero images give zero rows.
    """
    model = _build(model_type)
    assert isinstance(model, ImageModel)
    images, labels = _example_images(model)
    assert _fit_images(model) is model
    assert model.input_shape_ == tuple(model.preprocess_spec.shape)
    proba = model.predict_proba(images[:17])
    assert proba.dtype == np.float64 and proba.shape == (17, len(model.classes_))
    assert ((proba >= 0) & (proba <= 1 + 1e-6)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    assert set(model.predict(images[:17])) <= set(model.classes_)
    assert model.predict_proba(images[:0]).shape == (0, len(model.classes_))
    if isinstance(model, ImageClassifier):
        assert model.classes_ == IMAGE_CLASSES
    else:
        assert isinstance(model, ImageAnomalyModel)
        assert model.classes_ == ["defect", "good"]
        score = model.score(images)
        assert score.dtype == np.float64 and score.shape == (len(images),)
        assert np.isfinite(score).all()
        good = np.array([label == "plain" for label in labels])
        assert np.median(score[~good]) > np.median(score[good]), (
            f"{model_type}: defects do not score above good parts"
        )
        assert model.score(images[:0]).shape == (0,)


def check_image_input_not_mutated(model_type: str) -> None:
    """``fit`` and scoring leave the image batch untouched."""
    model = _build(model_type)
    assert isinstance(model, ImageModel)
    images, labels = _example_images(model)
    before = images.copy()
    if isinstance(model, ImageClassifier):
        model.fit(images, labels)
    else:
        assert isinstance(model, ImageAnomalyModel)
        model.fit(images)
    np.testing.assert_array_equal(images, before)
    _image_output(model, images)
    model.predict_proba(images)
    np.testing.assert_array_equal(images, before)


def check_image_shape_refused(model_type: str) -> None:
    """Images of another shape than the preprocessing makes are refused (ModelError).

    At ``fit`` (the preprocessing says what the model takes) and when scoring.
    """
    model = _build(model_type)
    assert isinstance(model, ImageModel)
    images, labels = _example_images(model)
    wrong = images[:, :-2, :, :]
    refused = 0
    try:
        if isinstance(model, ImageClassifier):
            model.fit(wrong, labels)
        else:
            assert isinstance(model, ImageAnomalyModel)
            model.fit(wrong)
    except ModelError:
        refused += 1
    fitted = _fit_images(model)
    for bad in (wrong, images[0]):
        try:
            fitted.predict_proba(bad)
        except ModelError:
            refused += 1
    assert refused == 3, f"{model_type}: images of the wrong shape were accepted"


def check_image_encoded_scoring(model_type: str) -> None:
    """Encoded images score as their preprocessed pixels do, through the stored preprocessing.

    :func:`~shopfloor.ml.images.classify_encoded` on PNG bytes, with the model loaded
    from its artifact, gives the outcomes :func:`~shopfloor.ml.images.classify_images`
    gives on the same images preprocessed by hand; below ``min_confidence`` the outcome
    is ``uncertain`` with the best class beside it.
    """
    import io

    from PIL import Image

    model = _build(model_type)
    assert isinstance(model, ImageModel)
    _fit_images(model)
    pixels, _ = example_pixels(12)
    encoded = []
    for image in pixels:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    loaded = load_model(Artifact.from_bytes(model.to_artifact().to_bytes()))
    assert isinstance(loaded, ImageModel)
    assert loaded.preprocess == model.preprocess
    by_bytes = classify_encoded(loaded, encoded, names=[f"part-{i}.png" for i in range(12)])
    by_hand = classify_images(model, preprocess_batch(list(pixels), model.preprocess_spec))
    assert by_bytes == by_hand
    for outcome in by_hand:
        assert 0.0 <= outcome.confidence <= 1.0 + 1e-9
        assert outcome.best in model.classes_
        if outcome.confidence >= model.min_confidence:
            assert outcome.label == outcome.best
        else:
            assert outcome.label == UNCERTAIN
    strict = _build(model_type, min_confidence=1.0)
    assert isinstance(strict, ImageModel)
    _fit_images(strict)
    assert {o.label for o in classify_encoded(strict, encoded) if o.confidence < 1.0} <= {UNCERTAIN}


MODEL_CHECKS: list[Callable[[str], None]] = [
    check_registered,
    check_params_are_json,
    check_not_fitted,
    check_fit_score_shapes,
    check_deterministic,
    check_clone,
    check_input_not_mutated,
    check_missing_values,
    check_unknown_regime,
    check_feature_names,
    check_artifact_round_trip,
    check_payload_format,
    check_contributions,
    check_image_fit_predict_shapes,
    check_image_input_not_mutated,
    check_image_shape_refused,
    check_image_encoded_scoring,
]
"""Every contract check, in the order :func:`check_model` runs them."""

_TABULAR_ONLY = {
    check_fit_score_shapes,
    check_input_not_mutated,
    check_missing_values,
    check_unknown_regime,
    check_feature_names,
    check_contributions,
}
"""Checks on matrices of features: image types have their own (``check_image_*``)."""
_IMAGE_ONLY = {
    check_image_fit_predict_shapes,
    check_image_input_not_mutated,
    check_image_shape_refused,
    check_image_encoded_scoring,
}


def _applies(check: Callable[[str], None], cls: type[Model]) -> bool:
    image = issubclass(cls, ImageModel)
    return check not in (_TABULAR_ONLY if image else _IMAGE_ONLY)


def model_checks(model_type: str) -> list[Callable[[str], None]]:
    """The checks that apply to ``model_type`` (those not in its ``contract_exemptions``)."""
    cls = MODEL_TYPES[model_type]
    unknown = set(cls.contract_exemptions) - {c.__name__ for c in MODEL_CHECKS}
    if unknown:
        raise ModelError(f"{model_type}: exemptions name unknown checks {sorted(unknown)}")
    return [
        check
        for check in MODEL_CHECKS
        if check.__name__ not in cls.contract_exemptions and _applies(check, cls)
    ]


def check_model(model_type: str) -> None:
    """Run every applicable contract check on a registered model type."""
    if model_type not in MODEL_TYPES:
        raise ModelError(f"unknown model type {model_type!r} (known: {sorted(MODEL_TYPES)})")
    for check in model_checks(model_type):
        check(model_type)
