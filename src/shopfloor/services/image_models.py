"""Image models: train on a folder of labelled images, register, score a folder.

What ``shopfloor train --images DIR`` and ``shopfloor score --images DIR`` do, shared by
the command line, the evaluation scripts and the API. Labels come from the class
sub-folders of ``DIR`` (``DIR/<class>/<file>``) or from a CSV of ``file,class`` rows
(``file`` relative to ``DIR``). The images are split at random but seeded and stratified
(each class in the same proportions in every part): the model learns the training part,
may use the calibration part to stop early or calibrate its confidence, and the test
part measures it (accuracy, recall per class, confusion matrix, and how many are
``uncertain``). The version is registered in the project's registry like any model, with
its split in the card and its report (``report.json``, ``report.html`` with the
confusion matrix) beside it.

A good-parts-only type (an :class:`~shopfloor.ml.base.ImageAnomalyModel`) learns the
training part's images of the good class; its threshold is calibrated on the calibration
part's good images; every other class is a defect, measured on the test part.

Every image is decoded before anything is learned: a file that is no image, a truncated
one, an empty class folder or a CSV row naming a missing file is a
:class:`~shopfloor.errors.ConfigError` naming them all.
"""

from __future__ import annotations

import csv
import hashlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.config import Project
from shopfloor.errors import ConfigError, ImageRejected, ModelError
from shopfloor.features.images import ImageBatch, preprocess_batch
from shopfloor.ml.base import (
    DEFECT,
    GOOD,
    UNCERTAIN,
    ImageAnomalyModel,
    ImageClassifier,
    ImageModel,
    Model,
    build_model,
    model_types,
)
from shopfloor.ml.evaluation import classification_metrics
from shopfloor.ml.images import ImageOutcome, classify_images
from shopfloor.ml.registry import ModelVersion
from shopfloor.ml.report import TrainingReport, write_report
from shopfloor.node.deployments import project_registry
from shopfloor.services.options import ScoreOptions, TrainOptions, json_object

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_IMAGE_SPLIT",
    "IMAGE_SUFFIXES",
    "ImageSplit",
    "LabelledImages",
    "calibration_error",
    "image_model_of",
    "image_model_type",
    "image_trained_lines",
    "labelled_images",
    "load_images",
    "outcome_metrics",
    "score_images",
    "split_images",
    "train_image_model",
]

DEFAULT_IMAGE_MODEL = "classical"
DEFAULT_IMAGE_SPLIT = "0.6,0.2,0.2"
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
"""File suffixes read as images in a folder; any other file is an error, never skipped."""
VISION_EXTRA = "install the vision extra: pip install 'shopfloor[vision]'"
_MAX_LISTED = 10

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LabelledImages:
    """Image files and their classes, in a fixed order (sorted by file).

    Attributes
    ----------
    root
        The ``--images`` folder; ``files`` are relative to it.
    files, labels
        One class per file.
    source
        ``folders`` or the CSV's path.
    """

    root: Path
    files: list[str]
    labels: list[str]
    source: str

    def counts(self) -> dict[str, int]:
        """Images per class."""
        return dict(sorted(Counter(self.labels).items()))

    def content_hash(self) -> str:
        """SHA-256 over the files' names, classes and bytes (what was learned from)."""
        digest = hashlib.sha256()
        for name, label in zip(self.files, self.labels, strict=True):
            digest.update(f"{name}\0{label}\0".encode())
            digest.update(hashlib.sha256((self.root / name).read_bytes()).digest())
        return digest.hexdigest()


def _folder(path: Path, option: str = "--images") -> Path:
    if not path.is_dir():
        raise ConfigError(f"{option} {path}: no such folder")
    return path


def _listed(problems: Sequence[str]) -> str:
    shown = "; ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    return shown + (f"; and {more} more" if more > 0 else "")


def _image_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Image files below ``folder`` (sorted) and the other files (not hidden ones)."""
    images: list[Path] = []
    others: list[Path] = []
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if path.is_file():
            (images if path.suffix.lower() in IMAGE_SUFFIXES else others).append(path)
    return images, others


def labelled_images(folder: Path, labels_csv: Path | None = None) -> LabelledImages:
    """The labelled images of ``folder``: from its class sub-folders, or from a CSV.

    Parameters
    ----------
    folder
        ``DIR/<class>/<image>`` (any depth below the class folder), or any layout when
        ``labels_csv`` is given.
    labels_csv
        A CSV with a header ``file,class``; ``file`` relative to ``folder``.

    Raises
    ------
    ConfigError
        No such folder; a file outside a class folder or not an image file; an empty
        class folder; fewer than two classes; a CSV without the header, with an empty
        or ``uncertain`` class, a file named twice or a file that does not exist (each
        problem named with its line).
    """
    root = _folder(folder)
    if labels_csv is not None:
        return _from_csv(root, labels_csv)
    files: list[str] = []
    labels: list[str] = []
    problems: list[str] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            problems.append(f"{entry.name} is not in a class folder")
            continue
        images, others = _image_files(entry)
        problems += [f"{p.relative_to(root)} is not an image file" for p in others]
        if not images:
            problems.append(f"class folder {entry.name}/ holds no image")
        if entry.name == UNCERTAIN:
            problems.append(f"class folder {entry.name}/: {UNCERTAIN!r} is an outcome, not a class")
        files += [str(p.relative_to(root)) for p in images]
        labels += [entry.name] * len(images)
    if problems:
        raise ConfigError(f"--images {root}: {_listed(problems)}")
    return _checked(LabelledImages(root, files, labels, "folders"))


def _from_csv(root: Path, path: Path) -> LabelledImages:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"--labels {path}: cannot read it: {err.strerror or err}") from err
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["file", "class"]:
        raise ConfigError(f"{path}:1: the first line must be the header 'file,class'")
    files: list[str] = []
    labels: list[str] = []
    seen: dict[str, int] = {}
    problems: list[str] = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 2:
            problems.append(f"{path}:{line}: expected file,class, got {','.join(row)!r}")
            continue
        name, label = row[0].strip(), row[1].strip()
        if not label:
            problems.append(f"{path}:{line}: {name} has no class")
        elif label == UNCERTAIN:
            problems.append(f"{path}:{line}: {UNCERTAIN!r} is an outcome, not a class")
        if name in seen:
            problems.append(f"{path}:{line}: {name} is already labelled on line {seen[name]}")
        elif not (root / name).is_file():
            problems.append(f"{path}:{line}: file {name} not found in {root}")
        elif Path(name).suffix.lower() not in IMAGE_SUFFIXES:
            problems.append(f"{path}:{line}: {name} is not an image file")
        seen.setdefault(name, line)
        files.append(name)
        labels.append(label)
    if problems:
        raise ConfigError(_listed(problems))
    order = sorted(range(len(files)), key=lambda i: files[i])
    return _checked(
        LabelledImages(root, [files[i] for i in order], [labels[i] for i in order], str(path))
    )


def _checked(data: LabelledImages) -> LabelledImages:
    classes = data.counts()
    if len(classes) < 1 or not data.files:
        raise ConfigError(f"--images {data.root}: no labelled image")
    return data


def load_images(
    root: Path,
    files: Sequence[str],
    model: ImageModel,
    *,
    progress: Progress | None = None,
) -> ImageBatch:
    """Decode and preprocess ``files`` (relative to ``root``) with the model's preprocessing.

    Raises
    ------
    ConfigError
        Naming every file that cannot be read, is no image, is truncated or corrupt, or
        is smaller than the region of interest.
    """
    spec = model.preprocess_spec
    out = np.empty((len(files), *spec.shape), dtype=np.float32)
    problems: list[str] = []
    for i, name in enumerate(files):
        try:
            data = (root / name).read_bytes()
            out[i] = preprocess_batch([data], spec, names=[name])[0]
        except ImageRejected as err:
            problems.append(str(err))
        except OSError as err:
            problems.append(f"{name}: cannot read it: {err.strerror or err}")
        if progress is not None:
            progress(i + 1, len(files))
    if problems:
        raise ConfigError(f"--images {root}: {len(problems)} unusable file(s): {_listed(problems)}")
    return out


# -- the split ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSplit:
    """Which images went into which part: indices into a :class:`LabelledImages`."""

    train: npt.NDArray[np.int64]
    calibration: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]
    fractions: tuple[float, float, float]
    seed: int

    def describe(self, labels: Sequence[str]) -> dict[str, Any]:
        """The card's ``split``: method, seed, fractions, and images per class per part."""
        parts = {"train": self.train, "calibration": self.calibration, "test": self.test}
        return {
            "method": "stratified random (seeded)",
            "seed": self.seed,
            "fractions": list(self.fractions),
            **{name: len(idx) for name, idx in parts.items()},
            "per_class": {
                name: dict(sorted(Counter(labels[i] for i in idx).items()))
                for name, idx in parts.items()
            },
        }


def _fractions(text: str) -> tuple[float, float, float]:
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError as err:
        raise ConfigError(
            f"--split {text!r}: give train,calibration,test fractions (e.g. 0.6,0.2,0.2)"
        ) from err
    if len(values) == 2:
        values.append(0.0)
    if len(values) != 3 or any(v < 0 for v in values) or values[0] <= 0:
        raise ConfigError(
            f"--split {text!r}: give train,calibration,test fractions (e.g. 0.6,0.2,0.2)"
        )
    total = sum(values)
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"--split {text!r}: the fractions add up to {total:g}, not 1")
    return values[0], values[1], values[2]


def split_images(
    labels: Sequence[str], fractions: tuple[float, float, float], seed: int
) -> ImageSplit:
    """A seeded split keeping each class's proportions in every part.

    Each class's images are shuffled (``numpy.random.default_rng(seed)``, classes in
    sorted order) and cut at the rounded cumulative fractions; every class keeps at least
    one training image.
    """
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    array = np.asarray(labels)
    for label in sorted(set(labels)):
        idx = np.flatnonzero(array == label)
        idx = idx[rng.permutation(len(idx))]
        n = len(idx)
        n_train = max(1, round(fractions[0] * n))
        n_cal = min(n - n_train, round(fractions[1] * n))
        parts[0] += idx[:n_train].tolist()
        parts[1] += idx[n_train : n_train + n_cal].tolist()
        parts[2] += idx[n_train + n_cal :].tolist()
    train, cal, test = (np.array(sorted(p), dtype=np.int64) for p in parts)
    return ImageSplit(train, cal, test, fractions, seed)


# -- training -----------------------------------------------------------------------------


def image_model_type(name: str | None) -> str:
    """``--model`` for images → a registered image type (``good-only`` is ``good_only``).

    Raises
    ------
    ModelError
        Unknown type (``cnn`` without torch: how to install it), or not an image type.
    """
    model_type = (name or DEFAULT_IMAGE_MODEL).replace("-", "_")
    types = model_types()
    image_types = sorted(n for n, cls in types.items() if issubclass(cls, ImageModel))
    if model_type not in types:
        if model_type == "cnn":
            raise ModelError(f"model type 'cnn' is not available here: {VISION_EXTRA}")
        raise ModelError(
            f"--model {name!r}: unknown image model type (known: {', '.join(image_types)})"
        )
    if model_type not in image_types:
        raise ModelError(
            f"--model {name!r} is a {types[model_type].task} model type, not an image one "
            f"(image types: {', '.join(image_types)})"
        )
    return model_type


def _check_train_options(o: TrainOptions) -> None:
    given = [
        flag
        for flag, value in (
            ("--pipeline", o.pipeline),
            ("--from", o.from_),
            ("--to", o.to),
            ("--range", o.ranges or None),
            ("--false-alarm-budget", o.false_alarm_budget),
        )
        if value is not None
    ]
    if given:
        raise ConfigError(
            f"--images and {', '.join(given)} are mutually exclusive: a model learns either "
            "from a folder of images or from stored history"
        )


def _labels_csv(o: TrainOptions) -> Path | None:
    return None if o.labels in ("store", "folders") else Path(o.labels)


async def train_image_model(
    o: TrainOptions,
    project: Project,
    *,
    who: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train an image model on ``o.images``, register a version; its card and report paths.

    See the module docstring. ``progress(done, total)`` follows the decoding of the
    images. The card's ``metrics`` hold the test part's accuracy, recall per class,
    confusion matrix, uncertain share, and the training time in seconds.

    Raises
    ------
    ConfigError
        An option is wrong or mixed with history options, or an image or label is bad.
    ModelError
        The model type is unknown (or ``cnn`` without the vision extra), or cannot learn
        from these images.
    """
    import asyncio

    if o.images is None:
        raise ConfigError("--images: which folder of images?")
    _check_train_options(o)
    model_type = image_model_type(o.model)
    model = build_model(model_type, {} if o.params is None else json_object(o.params))
    assert isinstance(model, ImageModel)
    data = labelled_images(o.images, _labels_csv(o))
    split = split_images(data.labels, _fractions(o.split or DEFAULT_IMAGE_SPLIT), o.seed)
    return await asyncio.to_thread(_train, o.name, model, data, split, project, who, progress)


def _train(
    name: str,
    model: ImageModel,
    data: LabelledImages,
    split: ImageSplit,
    project: Project,
    who: str,
    progress: Progress | None,
) -> dict[str, Any]:
    images = load_images(data.root, data.files, model, progress=progress)
    labels = np.asarray(data.labels)
    started = time.perf_counter()
    if isinstance(model, ImageAnomalyModel):
        metrics, calibration = _fit_anomaly(model, images, labels, split)
    else:
        assert isinstance(model, ImageClassifier)
        metrics, calibration = _fit_classifier(model, images, labels, split)
    metrics["train_seconds"] = round(time.perf_counter() - started, 3)
    registry = project_registry(project)
    existing = registry.versions(name)
    parent = None
    if existing:
        production = [v for v in existing if v.stage == "production"]
        parent = (production or existing)[-1].card.version
    dataset = {
        "hash": data.content_hash(),
        "folder": str(data.root),
        "labels": data.source,
        "images": len(data.files),
        "classes": data.counts(),
    }
    card = {
        "task": model.task,
        "pipeline": {"name": None, "spec_hash": None},
        "input": {"features": [], "images": model.preprocess, "shape": list(model.input_shape_)},
        "dataset": dataset,
        "split": split.describe(data.labels),
        "metrics": metrics,
        "calibration": calibration,
        "lineage": {"dataset_hash": dataset["hash"]},
    }
    version = registry.register(name, model.to_artifact(), card, who=who, parent=parent)
    report = _report(version, metrics, {"dataset": dataset, "split": card["split"]})
    try:
        json_path, html_path = write_report(report, version.path)
    except OSError as err:
        raise ConfigError(f"cannot write the training report into {version.path}: {err}") from err
    return {**version.as_dict(), "report": {"json": str(json_path), "html": str(html_path)}}


def _fit_classifier(
    model: ImageClassifier,
    images: ImageBatch,
    labels: npt.NDArray[np.str_],
    split: ImageSplit,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if len(set(labels[split.train].tolist())) < 2:
        raise ModelError(
            f"a classifier needs at least 2 classes, the images hold {sorted(set(labels))}"
        )
    calibration = None
    if len(split.calibration):
        calibration = (images[split.calibration], labels[split.calibration].tolist())
    model.fit(images[split.train], labels[split.train].tolist(), calibration=calibration)
    metrics: dict[str, Any] = {"train_images": len(split.train)}
    card: dict[str, Any] = {"classes": list(model.classes_), "min_confidence": model.min_confidence}
    if len(split.calibration):
        metrics["calibration"] = outcome_metrics(
            labels[split.calibration].tolist(),
            classify_images(model, images[split.calibration]),
            model.classes_,
        )
    if len(split.test):
        metrics["test"] = outcome_metrics(
            labels[split.test].tolist(), classify_images(model, images[split.test]), model.classes_
        )
    return metrics, card


def _fit_anomaly(
    model: ImageAnomalyModel,
    images: ImageBatch,
    labels: npt.NDArray[np.str_],
    split: ImageSplit,
) -> tuple[dict[str, Any], dict[str, Any]]:
    if GOOD not in set(labels.tolist()):
        raise ModelError(
            f"a good-parts-only model learns the class {GOOD!r}; the images hold "
            f"{sorted(set(labels.tolist()))} (name the good parts' folder or class {GOOD!r})"
        )
    train = split.train[labels[split.train] == GOOD]
    held = split.calibration[labels[split.calibration] == GOOD]
    # defects never teach a good-parts-only model: the training part's defects are tested too
    defects_in_train = split.train[labels[split.train] != GOOD]
    model.fit(images[train])
    quantile = float(model.get_params().get("quantile", 0.99))
    if len(held):
        model.calibrate(images[held], quantile=quantile)
        method = f"quantile {quantile} of {len(held)} held-back good images' scores"
    else:
        method = "set by fit on the training images (no calibration part)"
    truth = np.where(labels == GOOD, GOOD, DEFECT)
    test = np.concatenate(
        [split.test, defects_in_train, split.calibration[truth[split.calibration] == DEFECT]]
    )
    metrics: dict[str, Any] = {"train_images": len(train), "calibration_images": len(held)}
    if len(test):
        metrics["test"] = outcome_metrics(
            truth[test].tolist(), classify_images(model, images[test]), model.classes_
        )
        metrics["test"]["defect_classes"] = dict(
            sorted(Counter(labels[test][truth[test] == DEFECT].tolist()).items())
        )
    card = {
        "method": method,
        "threshold": model.threshold_,
        "scale": model.scale_,
        "min_confidence": model.min_confidence,
        "classes": list(model.classes_),
    }
    return metrics, card


def outcome_metrics(
    truth: Sequence[str], outcomes: Sequence[ImageOutcome], classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, recall per class and confusion matrix of the best classes; the uncertain share.

    ``accuracy`` counts the most probable class of every image (as if nothing were
    uncertain); ``uncertain`` is the share below ``min_confidence``, and
    ``confident_accuracy`` the accuracy of the others; ``calibration_error`` how far the
    confidences are from the accuracies (:func:`calibration_error`).
    """
    best = [o.best for o in outcomes]
    order = sorted(set(classes) | set(truth))
    m = classification_metrics(truth, best, labels=order)
    confident = [i for i, o in enumerate(outcomes) if o.label != UNCERTAIN]
    out: dict[str, Any] = {
        "images": len(truth),
        "accuracy": m.accuracy,
        "recall": m.recall,
        "classes": order,
        "confusion": m.confusion,
        "uncertain": (len(truth) - len(confident)) / len(truth) if truth else 0.0,
    }
    if confident:
        out["confident_accuracy"] = float(np.mean([truth[i] == best[i] for i in confident]))
    out["calibration_error"] = calibration_error(
        [o.confidence for o in outcomes], [t == b for t, b in zip(truth, best, strict=True)]
    )
    return out


def calibration_error(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Expected calibration error: the mean |accuracy − confidence| over confidence bins.

    Bins of width ``1 / bins`` over [0, 1], each weighted by its share of the images; 0 for
    a perfectly calibrated model.

    Examples
    --------
    >>> calibration_error([0.9, 0.9, 0.6, 0.6], [True, True, True, False])
    0.1
    """
    conf = np.asarray(confidence, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    if conf.size == 0:
        return 0.0
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in np.unique(index):
        inside = index == b
        total += inside.mean() * abs(hits[inside].mean() - conf[inside].mean())
    return round(float(total), 6)


def _report(
    version: ModelVersion, metrics: dict[str, Any], details: dict[str, Any]
) -> TrainingReport:
    test = metrics.get("test") or {}
    confusion = None
    if test.get("confusion"):
        confusion = (list(test["classes"]), [list(r) for r in test["confusion"]])
    return TrainingReport(
        name=version.ref,
        model_type=version.card.model_type,
        metrics=metrics,
        params=version.card.params,
        details=details,
        confusion=confusion,
    )


def image_trained_lines(card: dict[str, Any]) -> list[str]:
    """What :func:`train_image_model` did, in words."""
    metrics, split, dataset = card["metrics"], card["split"], card["dataset"]
    lines = [
        f"registered {card['name']}@{card['version']} ({card['model_type']}) on "
        f"{metrics.get('train_images', 0)} images of {dataset['folder']} "
        f"({len(dataset['classes'])} classes); dataset {dataset['hash'][:12]}…",
        f"split: {split['train']} train, {split['calibration']} calibration, "
        f"{split['test']} test (stratified, seed {split['seed']}); "
        f"trained in {metrics['train_seconds']:.1f} s",
    ]
    test = metrics.get("test")
    if test:
        recall = ", ".join(f"{k} {v:.3f}" for k, v in test["recall"].items())
        lines.append(
            f"test: accuracy {test['accuracy']:.4f} on {test['images']} images, "
            f"uncertain {test['uncertain']:.1%}; recall {recall}"
        )
    report = card.get("report")
    if report:
        lines += [f"report: {report['json']}", f"report: {report['html']}"]
    return lines


# -- scoring ------------------------------------------------------------------------------


def score_images(o: ScoreOptions, project: Project) -> list[dict[str, Any]]:
    """Classify every image of ``o.images`` with model ``o.model``: one dict per image.

    ``{"file": path relative to the folder, "class": class or "uncertain",
    "confidence": probability of the most probable class}``, in file order; an
    ``uncertain`` row also names that most probable class (``"best"``), for the review.

    Raises
    ------
    ConfigError
        No such folder, a file that is not an image (named), or history options given.
    ModelError
        No such model, its artifact changed, or it is not an image model.
    """
    if o.images is None:
        raise ConfigError("--images: which folder of images?")
    if o.from_ is not None:
        raise ConfigError("--images and --from are mutually exclusive")
    root = _folder(o.images)
    model = image_model_of(project_registry(project).load(o.model)[0], o.model)
    files, others = _image_files(root)
    if others:
        problems = [f"{p.relative_to(root)} is not an image file" for p in others]
        raise ConfigError(f"--images {root}: {_listed(problems)}")
    names = [str(p.relative_to(root)) for p in files]
    images = load_images(root, names, model)
    rows: list[dict[str, Any]] = []
    for name, outcome in zip(names, classify_images(model, images), strict=True):
        row: dict[str, Any] = {
            "file": name,
            "class": outcome.label,
            "confidence": round(outcome.confidence, 6),
        }
        if outcome.label == UNCERTAIN:
            row["best"] = outcome.best
        rows.append(row)
    return rows


def image_model_of(model: Model, ref: str) -> ImageModel:
    """``model`` (registered as ``ref``) as an image model, else ``ModelError``."""
    if not isinstance(model, ImageModel):
        raise ModelError(
            f"{ref} is a {model.task} model ({model.model_type}): it scores stored history "
            "(--from/--to), not --images"
        )
    return model
