"""Models: train on stored history, register, score, evaluate, list, promote and export.

Shared by the command line, the API and Studio. Training builds a dataset from the store
(:mod:`shopfloor.ml.dataset`), fits a model type (:func:`~shopfloor.ml.base.build_model`)
on the healthy windows of its training part, sets thresholds to a false-alarm budget on
the held-back calibration part (:mod:`shopfloor.ml.calibration`, or a false-alarm budget
with :mod:`shopfloor.ml.budget`), measures the test part, registers the artifact with its
model card in the project's registry (``.shopfloor/models``) and writes the run's report
(``report.json``, ``report.html``: :mod:`shopfloor.ml.report`) beside it. Scoring loads a
version (its SHA-256 checked), refuses a pipeline that changed since it was trained, and
gives each window a score, a health index and a state. Evaluation measures a version on
labelled history and writes the same kind of report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.config import Project
from shopfloor.errors import ConfigError, ModelError
from shopfloor.ml.base import AnomalyModel, Classifier, Model, build_model
from shopfloor.ml.budget import FalseAlarmBudget, calibrate_to_budget
from shopfloor.ml.calibration import Thresholds, alert_states, calibrate, health_index
from shopfloor.ml.config import ModelConfig
from shopfloor.ml.dataset import Dataset, Split, build_dataset, split_by_group, split_by_time
from shopfloor.ml.evaluation import (
    classification_metrics,
    detection_metrics,
    run_to_failure_metrics,
)
from shopfloor.ml.explain import band_spectra, feature_contributions, top_windows
from shopfloor.ml.registry import STAGES, ModelRegistry, ModelVersion, Stage
from shopfloor.ml.report import TrainingReport, write_report
from shopfloor.model import Annotation, format_ns
from shopfloor.node.deployments import project_registry
from shopfloor.node.pipelines import project_pipeline
from shopfloor.pipelines import Pipeline
from shopfloor.services.listing import Listing
from shopfloor.services.options import (
    EvaluateOptions,
    ScoreOptions,
    TrainOptions,
    json_object,
)
from shopfloor.services.query import parse_time_range
from shopfloor.services.store import project_store
from shopfloor.store import Store
from shopfloor.store.protocol import AnnotationStore

__all__ = [
    "DEFAULT_MODEL_TYPE",
    "archive_model",
    "card_lines",
    "evaluate_model",
    "evaluated_lines",
    "export_model",
    "exported_lines",
    "list_models",
    "model_registry",
    "models_listing",
    "promote_model",
    "score_model",
    "score_rows",
    "scores_listing",
    "show_model",
    "stage_lines",
    "train_model",
    "trained_lines",
]

DEFAULT_MODEL_TYPE = "robust_zscore"
DEFAULT_SPLIT = "0.7,0.15,0.15"
LABEL_SOURCES = ("store", "none")

Progress = Callable[[int, int], None]


def model_registry(project: Project) -> ModelRegistry:
    """The project's registry, in its state folder beside the pipelines' fitted states."""
    return project_registry(project)


# -- options ------------------------------------------------------------------------------


def _span(start: str | None, end: str | None, names: tuple[str, str]) -> tuple[int, int]:
    span = parse_time_range(start, end or "now", names=names)
    if span.start_ns is None or span.end_ns is None:
        raise ConfigError(f"{names[0]}: a start time is needed")
    return span.start_ns, span.end_ns


def _model_config(project: Project, name: str) -> ModelConfig | None:
    for config in project.config.models:
        if config.name == name:
            return config
    return None


def _params(text: str | None, default: dict[str, Any]) -> dict[str, Any]:
    return dict(default) if text is None else json_object(text)


def _split(dataset: Dataset, spec: str) -> Split:
    """``--split``: fractions, cut times, or ``group:COLUMN``."""
    spec = spec.strip()
    if spec.startswith("group:"):
        return split_by_group(dataset, spec.removeprefix("group:"))
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    try:
        fractions = [float(p) for p in parts]
    except ValueError:
        cuts = [_span(p, "now", ("--split", "--split"))[0] for p in parts]
        return split_by_time(dataset, cuts_ns=cuts)
    return split_by_time(dataset, fractions=fractions)


async def _annotations(store: Store, source: str, pipeline: Pipeline) -> list[Annotation]:
    if source not in LABEL_SOURCES:
        raise ConfigError(f"--labels {source!r}: use {' or '.join(LABEL_SOURCES)}")
    if source == "none":
        return []
    if not isinstance(store, AnnotationStore):
        raise ConfigError(f"--labels store: the store {type(store).__name__} keeps no labels")
    return await store.list_annotations()


def _healthy(dataset: Dataset) -> npt.NDArray[np.bool_]:
    return np.array([label in (None, "healthy") for label in dataset.labels], dtype=bool)


def _budget(o: TrainOptions, config: ModelConfig | None) -> FalseAlarmBudget | None:
    """``--false-alarm-budget``, else the ``models:`` entry's budget per day, else none."""
    if o.false_alarm_budget is not None:
        try:
            return FalseAlarmBudget.parse(o.false_alarm_budget)
        except ModelError as err:
            raise ConfigError(f"--false-alarm-budget: {err}") from err
    if config is not None and config.false_alarm_budget_per_day is not None:
        return FalseAlarmBudget(config.false_alarm_budget_per_day, "day")
    return None


# -- training -----------------------------------------------------------------------------


async def train_model(
    o: TrainOptions,
    project: Project,
    *,
    who: str,
    progress: Progress | None = None,
    store: Store | None = None,
) -> dict[str, Any]:
    """Train, calibrate and register a new version of model ``o.name``; return its card.

    The history is read from ``store`` when given (a platform running in this process),
    else from the project's store, opened for the training.

    An anomaly model learns from the healthy (or unlabelled) windows of the training part;
    its thresholds are quantiles of its scores on the healthy windows of the calibration
    part (of the training part when there is no calibration part, said in the card). A
    classifier learns the labelled windows of the training part.

    Raises
    ------
    ConfigError
        When an option is wrong (a time, the split, the parameters, a missing pipeline).
    ModelError
        When the model type is unknown or the data cannot train it.
    """
    if o.images is not None:
        from shopfloor.services.image_models import train_image_model

        return await train_image_model(o, project, who=who, progress=progress)
    config = _model_config(project, o.name)
    pipeline_name = o.pipeline or (config.pipeline if config else None)
    if pipeline_name is None:
        raise ConfigError(
            f"--pipeline: which pipeline's features does model {o.name!r} take? (no models: "
            f"entry named {o.name!r} in {project.file.name})"
        )
    start = o.from_ or (config.training.start if config and config.training else None)
    end = o.to or (config.training.end if config and config.training else None)
    ranges = [_span(start, end, ("--from", "--to"))]
    for text in o.ranges:
        lo, sep, hi = text.partition("/")
        if not sep:
            raise ConfigError(f"--range {text!r}: give START/END")
        ranges.append(_span(lo, hi, ("--range", "--range")))
    model_type = o.model or (config.type if config else DEFAULT_MODEL_TYPE)
    params = _params(o.params, config.params if config else {})
    model = build_model(model_type, params)  # an unknown type fails before any reading
    budget = _budget(o, config)
    pipeline, _ = project_pipeline(project, pipeline_name, load_fitted=False)
    if budget is not None:
        try:
            budget.per_window(pipeline.hop_ns)  # more alarms than windows fails before reading
        except ModelError as err:
            raise ConfigError(f"--false-alarm-budget: {err}") from err
    registry = model_registry(project)
    async with project_store(project, store) as source:
        labels = await _annotations(source, o.labels, pipeline)
        dataset = await build_dataset(
            source, pipeline, ranges, annotations=labels, progress=progress
        )
    split = _split(dataset, o.split or DEFAULT_SPLIT)
    train = split.part(dataset, "train")
    calibration = split.part(dataset, "calibration")
    test = split.part(dataset, "test")
    baseline = None
    if isinstance(model, AnomalyModel):
        calibration_card, metrics, baseline = _train_anomaly(
            model, train, calibration, test, pipeline.hop_ns, budget
        )
    elif isinstance(model, Classifier):
        calibration_card, metrics = _train_classifier(model, train, test)
    else:  # pragma: no cover - every model type is one of the two tasks
        raise ModelError(f"model type {model_type!r} is neither anomaly nor classification")
    existing = registry.versions(o.name)
    parent = None
    if existing:
        production = [v for v in existing if v.stage == "production"]
        parent = (production or existing)[-1].card.version
    card = {
        "task": model.task,
        "pipeline": {"name": pipeline.name, "spec_hash": pipeline.spec_hash},
        "input": {"features": dataset.feature_names, "units": dataset.units},
        "dataset": dataset.describe(),
        "split": split.description,
        "metrics": metrics,
        "calibration": calibration_card,
        "lineage": {"dataset_hash": dataset.content_hash},
    }
    version = registry.register(o.name, model.to_artifact(), card, who=who, parent=parent)
    details = {
        "pipeline": card["pipeline"],
        "dataset": card["dataset"],
        "split": card["split"],
        "calibration": calibration_card,
    }
    if isinstance(model, AnomalyModel):
        assert baseline is not None
        report = _anomaly_report("training", version, model, dataset, baseline, metrics, details)
    else:
        report = _report("training", version, metrics, details)
    return {**version.as_dict(), "report": _write(report, version.path, "the training report")}


PERSISTENCE = {"k": 3, "n": 5}
"""A level is raised when k of the last n windows of a run reach it (see calibration)."""

DEFAULT_ALARM_BUDGET = 1e-4
"""Alarm budget per window without a false-alarm budget (:func:`calibrate`'s default)."""


def _thresholds(
    scores: npt.NDArray[np.float64], held: int, budget: FalseAlarmBudget | None, hop_ns: int
) -> tuple[Thresholds, dict[str, Any], str]:
    """Thresholds from the calibration scores; the card's ``budget`` and ``method``."""
    windows = int(np.isfinite(scores).sum())
    if budget is not None:
        thresholds, alarm = calibrate_to_budget(scores, budget.per_window(hop_ns))
        card = {"given": str(budget), **alarm.to_dict()}
        if budget.per == "day":
            card["alarms_per_day"] = budget.alarms
        return (
            thresholds,
            card,
            f"false-alarm budget {budget}: {alarm.method} (shopfloor.ml.budget)",
        )
    try:
        thresholds = calibrate(scores, alarm_budget=DEFAULT_ALARM_BUDGET)
    except ModelError as err:
        raise ModelError(
            f"{err} (the calibration part has {held} healthy windows): train on a longer "
            "range or give the calibration part a larger share with --split"
        ) from err
    card = {
        "given": None,
        "per_window": DEFAULT_ALARM_BUDGET,
        "method": "empirical quantile and margin",
        "windows": windows,
    }
    return thresholds, card, "false-alarm budget (shopfloor.ml.calibration.calibrate)"


def _train_anomaly(
    model: AnomalyModel,
    train: Dataset,
    calibration: Dataset,
    test: Dataset,
    hop_ns: int,
    budget: FalseAlarmBudget | None,
) -> tuple[dict[str, Any], dict[str, Any], Dataset]:
    healthy = _healthy(train)
    if not healthy.any():
        raise ModelError(
            f"the training part ({len(train)} windows) has no healthy or unlabelled window "
            "to learn a baseline from"
        )
    base = train.subset(healthy)
    model.fit(base.x, regime=base.regime, feature_names=base.feature_names)
    held = calibration.subset(_healthy(calibration))
    scores = model.score(held.x, regime=held.regime, feature_names=held.feature_names)
    thresholds, budget_card, method = _thresholds(scores, len(held), budget, hop_ns)
    calibration_card = {
        "method": method,
        "budget": budget_card,
        "thresholds": thresholds.to_dict(),
        "persistence": PERSISTENCE,
        "hop_ns": hop_ns,
        "windows": int(np.isfinite(scores).sum()),
    }
    metrics: dict[str, Any] = {"train_windows": len(base), "calibration_windows": len(held)}
    if len(test):
        metrics["test"] = _anomaly_metrics(model, calibration_card, test)
    return calibration_card, metrics, base


def _scored(
    model: AnomalyModel, calibration: dict[str, Any], data: Dataset
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.str_], npt.NDArray[np.float64]]:
    """Scores, states (with persistence and hysteresis) and health index of ``data``."""
    thresholds = Thresholds.from_dict(calibration["thresholds"])
    persistence = calibration.get("persistence", PERSISTENCE)
    scores = model.score(data.x, regime=data.regime, feature_names=data.feature_names)
    states = alert_states(
        scores,
        data.t0_ns,
        int(calibration["hop_ns"]),
        thresholds,
        k=int(persistence["k"]),
        n=int(persistence["n"]),
    )
    return scores, states, health_index(scores, thresholds)


Scored = tuple[npt.NDArray[np.float64], npt.NDArray[np.str_], npt.NDArray[np.float64]]


def _anomaly_metrics(
    model: AnomalyModel, calibration: dict[str, Any], data: Dataset, *, scored: Scored | None = None
) -> dict[str, Any]:
    """Alarm and warning rates on healthy windows, detection on faulty ones, AUROC."""
    scores, states, _ = scored or _scored(model, calibration, data)
    healthy = _healthy(data)
    out: dict[str, Any] = {
        "windows": len(data),
        "unknown": int((states == "unknown").sum()),
    }
    if healthy.any():
        out["healthy_windows"] = int(healthy.sum())
        out["healthy_alarm_rate"] = float((states[healthy] == "alarm").mean())
        out["healthy_warning_rate"] = float((states[healthy] != "normal").mean())
    faulty = ~healthy
    if faulty.any():
        out["fault_windows"] = int(faulty.sum())
        out["fault_alarm_rate"] = float((states[faulty] == "alarm").mean())
        y = faulty[np.isfinite(scores)]
        if 0 < y.sum() < y.size:
            detection = detection_metrics(faulty, scores)
            out["auroc"], out["pr_auc"] = detection.auroc, detection.pr_auc
    return out


def _train_classifier(
    model: Classifier, train: Dataset, test: Dataset
) -> tuple[dict[str, Any], dict[str, Any]]:
    labelled = np.array([label is not None for label in train.labels], dtype=bool)
    if not labelled.any():
        raise ModelError(
            f"a classifier learns from labelled windows; the training part ({len(train)} "
            "windows) has none (add labels with `shopfloor labels add`)"
        )
    part = train.subset(labelled)
    model.fit(part.x, [str(v) for v in part.labels], feature_names=part.feature_names)
    metrics: dict[str, Any] = {"train_windows": len(part)}
    if len(test):
        metrics["test"] = _classifier_metrics(model, test)
    return {"method": "none", "classes": list(model.classes_)}, metrics


def trained_lines(card: dict[str, Any]) -> list[str]:
    """What :func:`train_model` did, in words."""
    if str(card["task"]).startswith("image_"):
        from shopfloor.services.image_models import image_trained_lines

        return image_trained_lines(card)
    dataset, metrics, cal = card["dataset"], card["metrics"], card["calibration"]
    lines = [
        f"registered {card['name']}@{card['version']} ({card['model_type']}) on "
        f"{metrics.get('train_windows', 0)} windows of pipeline {card['pipeline']['name']}; "
        f"dataset {dataset['hash'][:12]}…",
    ]
    if "thresholds" in cal:
        th = cal["thresholds"]
        lines.append(
            f"thresholds: warning {th['warning']:.4g}, alarm {th['alarm']:.4g} (set on "
            f"{cal['windows']} held-back healthy windows)"
        )
    budget = cal.get("budget")
    if budget and budget.get("given"):
        lines.append(
            f"false-alarm budget {budget['given']} = {budget['per_window']:.3g} per window: "
            f"{budget['method']} on {budget['windows']} windows"
        )
    test = metrics.get("test")
    if test:
        lines.append("test: " + ", ".join(f"{k} {_text(v)}" for k, v in test.items()))
    lines.extend(_report_lines(card.get("report")))
    return lines


def _report_lines(paths: dict[str, str] | None) -> list[str]:
    return [f"report: {paths['json']}", f"report: {paths['html']}"] if paths else []


# -- reports ------------------------------------------------------------------------------


def _report(
    kind: str, version: ModelVersion, metrics: dict[str, Any], details: dict[str, Any]
) -> TrainingReport:
    """A report of ``version`` without per-window series (classifiers)."""
    card = version.card
    return TrainingReport(
        name=version.ref,
        model_type=card.model_type,
        metrics=metrics,
        params=card.params,
        details=details,
        kind=kind,
    )


def _anomaly_report(
    kind: str,
    version: ModelVersion,
    model: AnomalyModel,
    data: Dataset,
    reference: Dataset | None,
    metrics: dict[str, Any],
    details: dict[str, Any],
    *,
    scored: Scored | None = None,
) -> TrainingReport:
    """Health index over time with the thresholds, contributions and spectra of ``data``.

    ``reference`` holds the healthy windows that default contributions and the normal
    spectrum are measured against; without it (no such window), neither is drawn.
    """
    report = _report(kind, version, metrics, details)
    if not len(data):
        return report
    calibration = version.card.calibration
    scores, _, health = scored or _scored(model, calibration, data)
    th = Thresholds.from_dict(calibration["thresholds"])
    warning, alarm = health_index(np.array([th.warning, th.alarm]), th).tolist()
    contributions: dict[str, float] = {}
    spectra = None
    top = top_windows(scores)
    if reference is not None and len(reference) and top.size:
        contributions = feature_contributions(
            model,
            data.x,
            regime=data.regime,
            baseline=reference.x,
            baseline_regime=reference.regime,
            scores=scores,
        )
        spectra = band_spectra(data.feature_names, data.units, reference.x, data.x[top])
    return replace(
        report,
        details={
            **details,
            "series_start": format_ns(int(data.t0_ns[0])),
            "top_windows": [format_ns(int(data.t0_ns[i])) for i in top[:20]],
        },
        times_s=(data.t0_ns - data.t0_ns[0]) / 1e9,
        health=health,
        thresholds={"warning": warning, "alarm": alarm},
        contributions=contributions,
        spectra=spectra,
    )


def _write(report: TrainingReport, folder: Path, what: str) -> dict[str, str]:
    """Write ``report.json`` and ``report.html`` into ``folder``; their paths."""
    try:
        json_path, html_path = write_report(report, folder)
    except OSError as err:
        raise ConfigError(f"cannot write {what} into {folder}: {err}") from err
    return {"json": str(json_path), "html": str(html_path)}


# -- scoring ------------------------------------------------------------------------------


def _loaded(project: Project, ref: str) -> tuple[Model, ModelVersion, Pipeline]:
    """The model (hash checked) and its pipeline, refused when the pipeline changed."""
    model, version = model_registry(project).load(ref)
    card = version.card
    pipeline, _ = project_pipeline(project, str(card.pipeline["name"]), load_fitted=False)
    if pipeline.spec_hash != card.pipeline["spec_hash"]:
        raise ModelError(
            f"pipeline {pipeline.name!r} changed since {version.ref} was trained (spec hash "
            f"{str(card.pipeline['spec_hash'])[:12]}…, now {pipeline.spec_hash[:12]}…): "
            "train the model again"
        )
    return model, version, pipeline


def _check_features(dataset: Dataset, version: ModelVersion) -> None:
    if dataset.feature_names != version.card.feature_names:
        raise ModelError(
            f"{version.ref} takes features {version.card.feature_names}, the pipeline gives "
            f"{dataset.feature_names}"
        )


def _number(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


async def score_model(
    o: ScoreOptions, project: Project, *, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Score ``o``'s range with model ``o.model``: one dict per window.

    With ``o.images``, an image model classifies every image of the folder instead
    (:func:`shopfloor.services.image_models.score_images`: ``{"file", "class",
    "confidence"}``).

    Anomaly models give ``{"timestamp", "end", "score", "health_index", "state"}``
    (``score`` and ``health_index`` ``None`` when unknown); classifiers give ``{"timestamp",
    "end", "class", "probabilities"}``.

    Raises
    ------
    ModelError
        When there is no such model, its artifact was changed, or its pipeline changed.
    """
    if o.images is not None:
        import asyncio

        from shopfloor.services.image_models import score_images

        return await asyncio.to_thread(score_images, o, project)
    span = _span(o.from_, o.to, ("--from", "--to"))
    model, version, pipeline = _loaded(project, o.model)
    async with project_store(project) as store:
        dataset = await build_dataset(store, pipeline, [span], progress=progress)
    _check_features(dataset, version)
    return score_rows(model, version, dataset)


def score_rows(model: Model, version: ModelVersion, dataset: Dataset) -> list[dict[str, Any]]:
    """Per-window results of ``model`` (of ``version``) on ``dataset``."""
    starts = [format_ns(int(t)) for t in dataset.t0_ns]
    ends = [format_ns(int(t)) for t in dataset.t1_ns]
    if isinstance(model, Classifier):
        proba = model.predict_proba(dataset.x, feature_names=dataset.feature_names)
        classes = list(model.classes_)
        return [
            {
                "timestamp": starts[i],
                "end": ends[i],
                "class": classes[int(np.argmax(proba[i]))],
                "probabilities": {c: float(p) for c, p in zip(classes, proba[i], strict=True)},
            }
            for i in range(len(dataset))
        ]
    assert isinstance(model, AnomalyModel)
    scores, states, health = _scored(model, version.card.calibration, dataset)
    return [
        {
            "timestamp": starts[i],
            "end": ends[i],
            "score": _number(float(scores[i])),
            "health_index": _number(float(health[i])),
            "state": str(states[i]),
        }
        for i in range(len(dataset))
    ]


async def evaluate_model(o: EvaluateOptions, project: Project) -> dict[str, Any]:
    """Measure model ``o.model`` on ``o``'s labelled range; the JSON report.

    Anomaly models: alarm and warning rates on healthy (or unlabelled) windows, detection
    on faulty ones, AUROC and PR-AUC when both kinds are there, the first alarm; on the
    labelled windows the confusion matrix and recall of healthy against fault (in alarm
    or not) and the recall of each fault type; and, when the range holds fault labels,
    run-to-failure metrics (the failure at the end of the last fault window, alarms due
    from the first one). Classifiers: confusion matrix, accuracy and per-class recall.
    With ``o.report`` a folder, ``report.json`` and ``report.html`` are written there
    (the same kind of report as a training run's) and their paths returned under
    ``report``.
    """
    span = _span(o.from_, o.to, ("--from", "--to"))
    model, version, pipeline = _loaded(project, o.model)
    async with project_store(project) as store:
        labels = await _annotations(store, o.labels, pipeline)
        dataset = await build_dataset(store, pipeline, [span], annotations=labels)
    _check_features(dataset, version)
    out: dict[str, Any] = {
        "model": version.ref,
        "model_type": version.card.model_type,
        "pipeline": pipeline.name,
        "dataset": dataset.describe(),
    }
    details = {"pipeline": version.card.pipeline, "dataset": out["dataset"]}
    if isinstance(model, AnomalyModel):
        calibration = version.card.calibration
        scored = _scored(model, calibration, dataset)
        states = scored[1]
        metrics = _anomaly_metrics(model, calibration, dataset, scored=scored)
        metrics.update(_labelled_metrics(dataset, states))
        alarms = np.flatnonzero(states == "alarm")
        out["metrics"] = metrics
        out["first_alarm"] = format_ns(int(dataset.t0_ns[alarms[0]])) if alarms.size else None
        out["calibration"] = calibration
        details |= {"first_alarm": out["first_alarm"], "calibration": calibration}
        healthy = np.array([label == "healthy" for label in dataset.labels], dtype=bool)
        reference = dataset.subset(healthy if healthy.any() else states == "normal")
        report = _anomaly_report(
            "evaluation", version, model, dataset, reference, metrics, details, scored=scored
        )
    else:
        assert isinstance(model, Classifier)
        out["metrics"] = _classifier_metrics(model, dataset)
        report = _report("evaluation", version, out["metrics"], details)
    if o.report is not None:
        out["report"] = _write(report, o.report, f"--report {o.report}")
    return out


def evaluated_lines(report: dict[str, Any]) -> list[str]:
    """What :func:`evaluate_model` measured, in words."""
    metrics = report["metrics"]
    lines = [
        f"evaluated {report['model']} ({report['model_type']}) on "
        f"{report['dataset']['windows']} windows of pipeline {report['pipeline']}"
    ]
    shown = ("auroc", "pr_auc", "accuracy", "healthy_alarm_rate", "fault_alarm_rate")
    named = {"auroc": "AUROC", "pr_auc": "PR-AUC"}
    found = [f"{named.get(k, k)} {_text(metrics[k])}" for k in shown if k in metrics]
    if found:
        lines.append(", ".join(found))
    labelled = metrics.get("labelled") or metrics
    if "confusion" in labelled:
        lines.append(f"confusion ({', '.join(labelled['labels'])}): {labelled['confusion']}")
        recall = ", ".join(f"{k} {_text(v)}" for k, v in labelled["recall"].items())
        lines.append(f"recall: {recall}")
    rtf = metrics.get("run_to_failure")
    if rtf:
        first = rtf["first_alarm_s"]
        when = "no alarm in time" if first is None else f"first alarm at {_text(first)} s"
        lines.append(
            f"run to failure: {when}, lead time {_text(rtf['lead_time_s'])} s of "
            f"{_text(rtf['life_s'])} s, {rtf['false_alarm_episodes']} false alarm episode(s) "
            "before the fault"
        )
    if "first_alarm" in report:
        lines.append(f"first alarm: {report['first_alarm'] or 'none'}")
    lines.extend(_report_lines(report.get("report")))
    return lines


def _labelled_metrics(data: Dataset, states: npt.NDArray[np.str_]) -> dict[str, Any]:
    """Alarm against label on the labelled windows; run to failure when faults are there."""
    out: dict[str, Any] = {}
    labels = np.array([label or "" for label in data.labels], dtype=object)
    known = (labels != "") & (states != "unknown")
    if known.any():
        truth = ["healthy" if v == "healthy" else "fault" for v in labels[known]]
        predicted = ["fault" if v == "alarm" else "healthy" for v in states[known]]
        labelled = classification_metrics(truth, predicted, labels=["healthy", "fault"])
        by_type = {
            str(kind): float((states[labels == kind] == "alarm").mean())
            for kind in sorted(set(labels[known]) - {"healthy"})
        }
        out["labelled"] = {**labelled.to_dict(), "fault_recall_by_type": by_type}
    faulty = np.flatnonzero(np.char.startswith(labels.astype(str), "fault:"))
    if faulty.size:
        start = int(data.t0_ns[0])
        failure = int(data.t1_ns[faulty].max())
        keep = data.t0_ns <= failure
        rtf = run_to_failure_metrics(
            (data.t0_ns[keep] - start) / 1e9,
            states[keep] == "alarm",
            failure_s=(failure - start) / 1e9,
            due_s=(int(data.t0_ns[faulty[0]]) - start) / 1e9,
        )
        out["run_to_failure"] = {**rtf.to_dict(), "start": format_ns(start)}
    return out


def _classifier_metrics(model: Classifier, data: Dataset) -> dict[str, Any]:
    """Confusion matrix, accuracy and per-class recall on the labelled windows of ``data``."""
    labelled = data.subset(np.array([v is not None for v in data.labels], dtype=bool))
    if not len(labelled):
        return {"windows": 0}
    predicted = model.predict(labelled.x, feature_names=labelled.feature_names)
    metrics = classification_metrics([str(v) for v in labelled.labels], predicted)
    return {"windows": len(labelled), **metrics.to_dict()}


# -- the registry -------------------------------------------------------------------------


def list_models(project: Project) -> list[dict[str, Any]]:
    """Every version of every model: name, version, stage, type, pipeline, when, who."""
    registry = model_registry(project)
    rows = []
    for name in registry.names():
        for v in registry.versions(name):
            rows.append(
                {
                    "name": name,
                    "version": v.card.version,
                    "stage": v.stage,
                    "model_type": v.card.model_type,
                    "pipeline": v.card.pipeline.get("name"),
                    "dataset_hash": str(v.card.dataset.get("hash", ""))[:12],
                    "created_at": v.card.created_at,
                    "created_by": v.card.created_by,
                }
            )
    return rows


def models_listing(project_name: str, rows: list[dict[str, Any]]) -> Listing:
    """:func:`list_models` as a table."""
    columns = ("name", "version", "stage", "model_type", "pipeline", "created_at", "created_by")
    return Listing(
        f"{len(rows)} model version(s) in {project_name}",
        columns,
        [tuple(r[c] for c in columns) for r in rows],
        numbers=("version",),
        whole=("name",),
    )


def show_model(project: Project, ref: str) -> dict[str, Any]:
    """The card of version ``ref`` with its stage (``M``: production, else the newest)."""
    return model_registry(project).get(ref).as_dict()


def stage_lines(card: dict[str, Any]) -> list[str]:
    """What ``models promote`` or ``models archive`` did, in words."""
    return [f"{card['name']}@{card['version']} is now {card['stage']}"]


def exported_lines(result: dict[str, Any]) -> list[str]:
    """What ``models export`` wrote."""
    return [f"exported {result['model']} to {result['exported']} (MLflow format)"]


def scores_listing(rows: list[dict[str, Any]], model: str) -> Listing:
    """:func:`score_model`'s windows as a table."""
    columns = tuple(rows[0]) if rows else ("timestamp",)
    what = "images" if "file" in columns else "windows"
    return Listing(
        f"{len(rows)} {what} scored by {model}", columns, [tuple(r.values()) for r in rows]
    )


def card_lines(card: dict[str, Any]) -> list[str]:
    """A model card (:func:`show_model`) as lines of text, one section after another."""
    pipeline, dataset, lineage = card["pipeline"], card["dataset"], card["lineage"]
    stage = card.get("stage", "none")
    changed = card.get("stage_changed") or {}
    if changed.get("by"):
        stage += f" (set by {changed['by']} at {changed.get('at', '?')})"
    units = card["input"].get("units", {})
    features = [f"{n} [{units[n]}]" if units.get(n) else n for n in card["input"]["features"]]
    sections: list[tuple[str, list[tuple[str, Any]]]] = [
        (
            f"{card['name']}@{card['version']}",
            [
                ("type", f"{card['model_type']} ({card['task']})"),
                ("stage", stage),
                ("created", f"{card['created_at']} by {card['created_by']}"),
                ("code version", card["code_version"]),
                ("artifact", _artifact_text(card.get("artifact", {}))),
            ],
        ),
        ("parameters", list(card["params"].items()) or [("(defaults)", "")]),
        ("pipeline", [("name", pipeline["name"]), ("spec hash", pipeline["spec_hash"])]),
        ("input", [("features", ", ".join(features))]),
        (
            "dataset",
            [
                ("hash", dataset.get("hash")),
                ("asset", dataset.get("asset")),
                ("ranges", "; ".join(" to ".join(r) for r in dataset.get("ranges", []))),
                ("windows", dataset.get("windows")),
                ("labels", dataset.get("labels")),
                ("ignored windows", dataset.get("ignored_windows")),
            ],
        ),
        ("split", list(card["split"].items())),
        ("metrics", list(card["metrics"].items())),
        ("calibration", list(card["calibration"].items())),
        ("lineage", [("parent", lineage.get("parent")), ("dataset", lineage.get("dataset_hash"))]),
    ]
    lines: list[str] = []
    for title, rows in sections:
        lines.append(title)
        width = max((len(k) for k, _ in rows), default=0)
        lines.extend(f"  {k:<{width}}  {_text(v)}" for k, v in rows)
    return lines


def _artifact_text(artifact: dict[str, Any]) -> str:
    if not artifact:
        return "-"
    return (
        f"{artifact.get('file')} ({artifact.get('format')}, {artifact.get('size_bytes')} bytes, "
        f"sha256 {artifact.get('sha256')})"
    )


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_text(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        if any(isinstance(v, list) for v in value):
            return "[" + ", ".join(f"[{_text(v)}]" for v in value) + "]"  # a matrix
        return ", ".join(_text(v) for v in value) or "-"
    return str(value)


def promote_model(project: Project, ref: str, stage: str, *, who: str) -> dict[str, Any]:
    """Set the stage of ``ref``; a new production version archives the previous one."""
    if stage not in STAGES:
        raise ConfigError(f"stage {stage!r}: use one of {', '.join(STAGES)}")
    registry = model_registry(project)
    stage_: Stage = next(s for s in STAGES if s == stage)
    return registry.promote(ref, stage_, who=who).as_dict()


def archive_model(project: Project, ref: str, *, who: str) -> dict[str, Any]:
    """Archive version ``ref``."""
    return model_registry(project).archive(ref, who=who).as_dict()


def export_model(project: Project, ref: str, dest: Path) -> dict[str, Any]:
    """Write version ``ref`` as an MLflow model directory at ``dest``."""
    registry = model_registry(project)
    version = registry.get(ref)
    out = registry.export_mlflow(version.ref, dest)
    return {"model": version.ref, "exported": str(out), "format": "mlflow"}
