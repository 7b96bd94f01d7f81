"""The ``cnn`` model type: torch trains it, onnxruntime alone scores it.

The contract suite runs over ``cnn`` in ``test_model_contract.py``; these tests add what
is particular to it: the ONNX graph computes what the torch network computes, a saved
model scores with torch unimportable, training is calibrated, stops early, reports its
progress and refuses what it cannot train on.
"""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from shopfloor.errors import ModelError
from shopfloor.features.images import preprocess_batch
from shopfloor.ml.base import Artifact, build_model, load_model
from shopfloor.ml.models import cnn, cnn_graph
from shopfloor.ml.models.cnn import CnnClassifier
from shopfloor.ml.onnxio import OnnxGraph
from shopfloor.testing.model_checks import IMAGE_CLASSES, example_pixels

torch = pytest.importorskip("torch", reason="training a cnn needs the vision extra")

from shopfloor.ml.models import cnn_training  # noqa: E402  (needs torch)

SMALL = {"size": [16, 16], "grayscale": True}
TINY = {"preprocess": SMALL, "channels": [4, 8], "epochs": 3, "batch_size": 16, "n_threads": 1}
SRC = Path(__file__).resolve().parents[2] / "src"


def images_of(model: CnnClassifier, n: int = 48) -> tuple[np.ndarray, list[str]]:
    pixels, labels = example_pixels(n)
    return preprocess_batch(list(pixels), model.preprocess_spec), labels


def fitted(**params: object) -> tuple[CnnClassifier, np.ndarray, list[str]]:
    model = CnnClassifier(**{**TINY, **params})  # type: ignore[arg-type]
    images, labels = images_of(model)
    return model.fit(images, labels), images, labels


@pytest.mark.parametrize("module", [cnn, cnn_graph, cnn_training], ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0


@pytest.mark.parametrize(("views", "size"), [(1, (20, 24)), (4, (20, 24)), (8, (24, 24))])
def test_onnx_graph_computes_what_the_torch_network_computes(
    views: int, size: tuple[int, int]
) -> None:
    options = cnn_training.TrainingOptions(channels=(4, 8, 8), convs_per_block=2, views=views)
    torch.manual_seed(0)
    network = cnn_training._network(3, 5, options)
    for module in network:
        if isinstance(module, torch.nn.BatchNorm2d):  # stats that folding must carry
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    network.eval()
    mean, std = torch.tensor([0.4, 0.5, 0.6]), torch.tensor([0.2, 0.25, 0.3])
    weights = cnn_training._weights(
        network, mean.reshape(1, 3, 1, 1), std.reshape(1, 3, 1, 1), options, 1.7
    )
    rng = np.random.default_rng(0)
    images = rng.random((6, *size, 3)).astype(np.float32)  # 20 → 10 → 5 → 2: pooling floors
    graph = OnnxGraph(cnn_graph.cnn_to_onnx(weights))
    out = graph.run(images.astype(np.float64))
    with torch.inference_mode():
        x = torch.from_numpy(images).permute(0, 3, 1, 2)
        normalized = (x - mean.reshape(1, 3, 1, 1)) / std.reshape(1, 3, 1, 1)
        seen = cnn_training.views_of(normalized, views)
        assert len(seen) == views
        logits = torch.stack([network(v) for v in seen]).mean(dim=0)
        expected = torch.softmax(logits / 1.7, dim=1).numpy()
        embedding = torch.stack([network[:-2](v) for v in seen]).mean(dim=0)
    np.testing.assert_allclose(out[cnn_graph.PROBABILITIES], expected, atol=1e-5)
    np.testing.assert_allclose(out[cnn_graph.EMBEDDING], embedding.numpy(), atol=1e-4)


@pytest.mark.parametrize(
    ("linear_shape", "temperature", "match"),
    [((3, 5), 1.0, "classifier weight"), ((3, 4), 0.0, "temperature")],
)
def test_graph_weights_are_checked(
    linear_shape: tuple[int, int], temperature: float, match: str
) -> None:
    with pytest.raises(ModelError, match=match):
        cnn_graph.CnnWeights(
            mean=np.zeros(1, np.float32),
            std=np.ones(1, np.float32),
            convs=[(np.zeros((4, 1, 3, 3), np.float32), np.zeros(4, np.float32))],
            convs_per_block=1,
            linear=(np.zeros(linear_shape, np.float32), np.zeros(3, np.float32)),
            temperature=temperature,
        )


def test_save_load_gives_identical_probabilities(tmp_path: Path) -> None:
    model, images, _ = fitted()
    path = tmp_path / "cnn.zip"
    path.write_bytes(model.to_artifact().to_bytes())
    loaded = load_model(Artifact.from_bytes(path.read_bytes()))
    assert isinstance(loaded, CnnClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(images), model.predict_proba(images))
    assert loaded.temperature_ == model.temperature_
    assert loaded.classes_ == IMAGE_CLASSES


SCORE_WITHOUT_TORCH = """
import importlib.abc, json, sys


class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoTorch())  # as if torch were not installed
import numpy as np
from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, load_model

model = load_model(Artifact.from_bytes(open(sys.argv[1], "rb").read()))
images = np.load(sys.argv[2])
proba = model.predict_proba(images)
try:
    model.clone().fit(images, ["plain", "spots"] * (len(images) // 2))
    error = ""
except ModelError as err:
    error = str(err)
print(json.dumps({"proba": proba.tolist(), "fit_error": error,
                  "torch_loaded": "torch" in sys.modules}))
"""


def test_a_saved_cnn_scores_without_torch(tmp_path: Path) -> None:
    model, images, _ = fitted()
    (tmp_path / "cnn.zip").write_bytes(model.to_artifact().to_bytes())
    np.save(tmp_path / "images.npy", images[:10])
    result = subprocess.run(
        [sys.executable, "-c", SCORE_WITHOUT_TORCH, "cnn.zip", "images.npy"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert not out["torch_loaded"]
    np.testing.assert_array_equal(np.array(out["proba"]), model.predict_proba(images[:10]))
    assert "install the vision extra: pip install 'shopfloor[vision]'" in out["fit_error"]


def test_importing_shopfloor_and_its_models_does_not_import_torch() -> None:
    code = (
        "import sys, shopfloor, shopfloor.ml.models, shopfloor.ml.models.cnn; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_progress_is_reported_every_epoch_and_training_stops_early() -> None:
    seen: list[cnn_training.EpochProgress] = []
    model = CnnClassifier(**{**TINY, "epochs": 30, "patience": 2})
    images, labels = images_of(model)
    model.fit(images, labels, progress=seen.append)
    assert [p.epoch for p in seen] == list(range(1, len(seen) + 1))
    assert len(seen) < 30, "no early stop with patience 2 over 30 epochs"
    assert all(p.epochs == 30 for p in seen)
    assert sum(p.best for p in seen) >= 1
    best = max(p.epoch for p in seen if p.best)
    assert model.best_epoch_ == best
    assert len(seen) - best == 2  # stopped after two epochs without a better one
    assert all(0 <= p.calibration_accuracy <= 1 and np.isfinite(p.loss) for p in seen)


def test_the_calibration_images_given_are_used() -> None:
    model = CnnClassifier(**TINY)
    images, labels = images_of(model, 60)
    seen: list[cnn_training.EpochProgress] = []
    calibration = (images[45:], labels[45:])
    model.fit(images[:45], labels[:45], calibration=calibration, progress=seen.append)
    assert model.fitted
    # the calibration accuracy is counted over the 15 images given
    assert all(round(p.calibration_accuracy * 15, 4).is_integer() for p in seen)
    with pytest.raises(ModelError, match=r"calibration classes \['rust'\]"):
        model.clone().fit(images[:45], labels[:45], calibration=(images[45:47], ["rust", "plain"]))
    with pytest.raises(ModelError, match="3 calibration labels for 2 images"):
        model.clone().fit(images[:45], labels[:45], calibration=(images[45:47], labels[:3]))
    with pytest.raises(ModelError, match="calibration images are"):
        model.clone().fit(images[:45], labels[:45], calibration=(images[45:, :8], labels[45:]))


def test_temperature_calibrates_the_confidence() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, 400)
    logits = rng.normal(0, 1, (400, 3))
    logits[np.arange(400), codes] += 1.0
    overconfident = logits * 8.0
    t = cnn_training.fit_temperature(overconfident, codes)
    assert t > 4.0

    def nll(z: np.ndarray) -> float:
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(400), codes]))

    assert nll(overconfident / t) < nll(overconfident)
    assert cnn_training.fit_temperature(np.zeros((0, 3)), codes[:0]) == 1.0
    low, high = cnn_training.TEMPERATURE_RANGE
    assert low <= cnn_training.fit_temperature(logits * 1e-3, codes) <= high


def test_training_is_class_weighted() -> None:
    """A class five times rarer than the others is still learned."""
    model = CnnClassifier(**{**TINY, "epochs": 12})
    images, labels = images_of(model, 150)
    keep = [i for i, label in enumerate(labels) if label != "spots" or i % 5 == 1]
    model.fit(images[keep], [labels[i] for i in keep])
    test, test_labels = images_of(model, 240)
    predicted = model.predict(test[150:])
    spots = [p for p, t in zip(predicted, test_labels[150:], strict=True) if t == "spots"]
    assert spots.count("spots") / len(spots) > 0.5


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"channels": []}, "channels"),
        ({"channels": [4, 0]}, "channels"),
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 1}, "batch_size"),
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"dropout": 1.0}, "dropout"),
        ({"calibration_fraction": 0.9}, "calibration_fraction"),
        ({"augmentation": {"rotation_deg": 90}}, "augmentation"),
        ({"n_threads": 0}, "n_threads"),
        ({"views": 2}, "views"),
        ({"crop": 0}, "crop"),
    ],
)
def test_bad_parameters_are_refused_by_name(params: dict[str, object], match: str) -> None:
    with pytest.raises(ModelError, match=match):
        build_model("cnn", params)


def test_eight_views_need_square_images() -> None:
    model = CnnClassifier(**{**TINY, "preprocess": {"size": [16, 24]}, "views": 8})
    images, labels = images_of(model)
    with pytest.raises(ModelError, match="square"):
        model.fit(images, labels)
    four = CnnClassifier(**{**TINY, "preprocess": {"size": [16, 24]}, "views": 4})
    assert four.fit(images, labels).predict_proba(images[:3]).shape == (3, 3)


def test_training_on_random_crops_scores_whole_images() -> None:
    model, images, labels = fitted(preprocess={"size": [24, 24]}, crop=16)
    assert model.predict_proba(images).shape == (48, 3)
    with pytest.raises(ModelError, match="crop 28 must be between 4"):
        CnnClassifier(**{**TINY, "preprocess": {"size": [24, 24]}, "crop": 28}).fit(images, labels)


def test_images_too_small_for_the_blocks_are_refused() -> None:
    model = CnnClassifier(preprocess={"size": [8, 8]}, channels=[4, 4, 4, 4], epochs=1)
    images, labels = images_of(model)
    with pytest.raises(ModelError, match=r"8×8 pixels are too small for 4 blocks"):
        model.fit(images, labels)
    assert not model.fitted


def test_training_leaves_torch_settings_as_they_were() -> None:
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()
    fitted(n_threads=1)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), state)
