"""The report of a training run or an evaluation: one JSON document and one HTML page.

The page carries its plots as base64 PNG (matplotlib, Agg backend, imported only when a
page is drawn) and no external resource at all (no CDN, no script, no font): it opens the
same offline, in a mail attachment or from the registry.

Plots, each when its data is given: the health index (or score) over time with its
thresholds, the feature contributions of a window, and a normal against an anomalous
spectrum.

Examples
--------
>>> import numpy as np
>>> r = TrainingReport(name="spindle", model_type="pca", metrics={"auroc": 0.97})
>>> '"auroc": 0.97' in r.to_json()
True
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from shopfloor.errors import ModelError

__all__ = ["Spectra", "TrainingReport", "confusion_figure", "write_report"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Spectra:
    """A normal and an anomalous spectrum on one frequency grid, for comparison."""

    freqs_hz: FloatArray
    normal: FloatArray
    anomalous: FloatArray
    unit: str = ""

    def __post_init__(self) -> None:
        shapes = {np.shape(self.freqs_hz), np.shape(self.normal), np.shape(self.anomalous)}
        if len(shapes) != 1 or np.ndim(self.freqs_hz) != 1:
            raise ModelError(
                f"spectra need one 1-D grid and two spectra of its length, got shapes "
                f"{sorted(shapes)}"
            )


@dataclass(frozen=True)
class TrainingReport:
    """What a training run produced and how well it did.

    Parameters
    ----------
    name, model_type
        Model name and type.
    metrics
        JSON-able metrics (e.g. ``RunToFailureMetrics.to_dict()``).
    params, details
        Model parameters and anything else worth keeping (dataset, split), JSON-able.
    times_s, health
        Time of each window (s) and its health index or score, for the time plot.
    thresholds
        Named levels drawn across the time plot (``{"warning": 60, "alarm": 40}``).
    health_label
        Y-axis label of the time plot.
    contributions
        Feature name → contribution to the score of a window (e.g. |z| per feature).
    spectra
        A normal and an anomalous spectrum.
    confusion
        ``(classes, matrix)``: a confusion matrix (rows true, columns predicted), drawn
        as a table of counts shaded by each row's share.
    kind
        ``training`` or ``evaluation`` (the page's title).
    """

    name: str
    model_type: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)
    times_s: FloatArray | None = None
    health: FloatArray | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    health_label: str = "health index"
    contributions: Mapping[str, float] = field(default_factory=dict)
    spectra: Spectra | None = None
    confusion: tuple[list[str], list[list[int]]] | None = None
    kind: str = "training"

    def __post_init__(self) -> None:
        if (self.times_s is None) != (self.health is None):
            raise ModelError("times_s and health go together: give both or neither")
        if self.times_s is not None and self.health is not None:
            t_shape, h_shape = np.asarray(self.times_s).shape, np.asarray(self.health).shape
            if t_shape != h_shape:
                raise ModelError(f"times_s has shape {t_shape} but health has {h_shape}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able content (series as lists, NaN as None)."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "model_type": self.model_type,
            "metrics": _jsonable(self.metrics),
            "params": _jsonable(self.params),
            "details": _jsonable(self.details),
            "thresholds": _jsonable(self.thresholds),
            "contributions": _jsonable(self.contributions),
        }
        if self.times_s is not None and self.health is not None:
            out["series"] = {
                "times_s": _jsonable(self.times_s),
                self.health_label: _jsonable(self.health),
            }
        if self.spectra is not None:
            out["spectra"] = {
                "freqs_hz": _jsonable(self.spectra.freqs_hz),
                "normal": _jsonable(self.spectra.normal),
                "anomalous": _jsonable(self.spectra.anomalous),
                "unit": self.spectra.unit,
            }
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text (sorted keys, strict: no NaN)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1, allow_nan=False)

    def to_html(self) -> str:
        """One self-contained HTML page: tables and base64 PNG plots, no external URL."""
        title = f"{self.kind.capitalize()} report: {self.name} ({self.model_type})"
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
            "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px}"
            "img{max-width:100%}</style>",
            "</head><body>",
            f"<h1>{html.escape(title)}</h1>",
        ]
        for heading, table in (
            ("Metrics", self.metrics),
            ("Parameters", self.params),
            ("Details", self.details),
        ):
            if table:
                parts += [f"<h2>{heading}</h2>", _table(table)]
        for heading, png in self._figures():
            parts += [
                f"<h2>{html.escape(heading)}</h2>",
                f'<img alt="{html.escape(heading)}" src="data:image/png;base64,{png}">',
            ]
        parts.append("</body></html>")
        return "\n".join(parts) + "\n"

    def _figures(self) -> list[tuple[str, str]]:
        figures: list[tuple[str, str]] = []
        if (
            self.times_s is None
            and not self.contributions
            and self.spectra is None
            and self.confusion is None
        ):
            return figures
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        if self.times_s is not None and self.health is not None:
            fig, ax = plt.subplots(figsize=(8, 3))
            times = np.asarray(self.times_s, dtype=np.float64)
            span = float(np.nanmax(times) - np.nanmin(times)) if times.size else 0.0
            unit, seconds = next(
                (u, s)
                for u, s in (("d", 86400.0), ("h", 3600.0), ("min", 60.0), ("s", 1.0))
                if span >= 2 * s or s == 1.0
            )
            ax.plot(times / seconds, self.health, lw=0.8, color="black")
            for i, (label, level) in enumerate(self.thresholds.items()):
                ax.axhline(level, color=f"C{i + 1}", lw=1.0, label=f"{label} ({level:g})")
            if self.thresholds:
                ax.legend(fontsize=8)
            ax.set_xlabel(f"time ({unit})")
            ax.set_ylabel(self.health_label)
            figures.append(("Health over time", _png(fig, plt)))
        if self.contributions:
            items = sorted(self.contributions.items(), key=lambda kv: -abs(kv[1]))[:20]
            fig, ax = plt.subplots(figsize=(8, 0.3 * len(items) + 1))
            ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="C0")
            ax.set_xlabel("contribution")
            ax.tick_params(labelsize=8)
            figures.append(("Feature contributions", _png(fig, plt)))
        if self.spectra is not None:
            s = self.spectra
            fig, ax = plt.subplots(figsize=(8, 3))
            ax.semilogy(s.freqs_hz, s.normal, lw=0.7, label="normal")
            ax.semilogy(s.freqs_hz, s.anomalous, lw=0.7, label="anomalous")
            ax.set_xlabel("frequency (Hz)")
            ax.set_ylabel(s.unit or "amplitude")
            ax.legend(fontsize=8)
            figures.append(("Normal vs anomalous spectrum", _png(fig, plt)))
        if self.confusion is not None:
            classes, matrix = self.confusion
            fig = confusion_figure(classes, matrix, plt)
            figures.append(("Confusion matrix", _png(fig, plt)))
        return figures


def confusion_figure(classes: list[str], matrix: list[list[int]], plt: Any) -> Any:
    """A matplotlib figure of a confusion matrix: counts, shaded by each row's share.

    Rows are the true classes, columns the predicted ones (``plt`` is ``matplotlib.pyplot``).
    """
    counts = np.asarray(matrix, dtype=np.float64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    size = 1.2 + 0.6 * len(classes)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                str(int(counts[i, j])),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if share[i, j] > 0.5 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    return fig


def write_report(report: TrainingReport, folder: Path, stem: str = "report") -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.html`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / f"{stem}.json", folder / f"{stem}.html"
    json_path.write_text(report.to_json() + "\n")
    html_path.write_text(report.to_html())
    return json_path, html_path


def _png(fig: Any, plt: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table(values: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>"
        for k, v in values.items()
    )
    return f"<table>{rows}</table>"


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(_jsonable(value))
    return str(value)


def _jsonable(value: Any) -> Any:
    """Numpy arrays and scalars to lists and numbers; NaN and infinities to None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
