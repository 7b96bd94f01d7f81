"""NEU steel surface defects: six classes, through ``train --images`` and ``score --images``.

Run from the repository root::

    .venv/bin/python eval/neu_classify.py                  # every image type available
    .venv/bin/python eval/neu_classify.py --model classical --no-write

Protocol (fixed before any run; nothing is chosen on the test part):

* Data: ``../shared/data/neu`` (1,152 grayscale 200×200 JPEGs, 192 per class: crazing,
  inclusion, patches, pitted_surface, rolled-in_scale, scratches), labels from its
  ``labels.csv``.
* Split: the platform's seeded stratified split, 60 % train / 20 % calibration / 20 %
  test, seed 0 (690 / 228 / 234 images; every class 115 / 38 / 39). Model choices
  (input size, features, SVM C, CNN epochs) were compared on the calibration part only.
* Each model type is trained with the same service a user's ``shopfloor train --name M
  --images DIR --labels CSV --model TYPE`` runs, in a throw-away project (its registry,
  card and report as for any model), with the type's default parameters. The test
  images are then classified by the same service as ``shopfloor score --model M
  --images TESTDIR`` (decoding and preprocessing included), and compared with their
  labels: accuracy of the most probable class, recall per class, confusion matrix, the
  share below the confidence threshold (``uncertain``), and the training time
  (``fit`` alone, this machine, shared with other work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_md import table_head, write_section  # noqa: E402

from shopfloor.config import load_project  # noqa: E402
from shopfloor.config.template import write_example_project  # noqa: E402
from shopfloor.ml.base import ImageClassifier, model_types  # noqa: E402
from shopfloor.ml.evaluation import classification_metrics  # noqa: E402
from shopfloor.services.image_models import labelled_images, split_images  # noqa: E402
from shopfloor.services.models import score_model, train_model  # noqa: E402
from shopfloor.services.options import ScoreOptions, TrainOptions  # noqa: E402

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "neu"
COMMAND = ".venv/bin/python eval/neu_classify.py"
SECTION_TITLE = "## NEU surface defects: image classification"
SPLIT = "0.6,0.2,0.2"
SEED = 0


@dataclass(frozen=True)
class Result:
    model_type: str
    card: dict[str, Any]
    classes: list[str]
    accuracy: float
    recall: dict[str, float]
    confusion: list[list[int]]
    uncertain: float
    train_seconds: float
    score_seconds: float
    test_images: int


def available_types() -> list[str]:
    types = model_types()
    return [t for t in ("classical", "cnn") if t in types and issubclass(types[t], ImageClassifier)]


def copy_test_part(data_dir: Path, dest: Path, labels: Path | None = None) -> dict[str, str]:
    """Copy the split's test images to ``dest``; their relative name → class.

    ``labels``: the CSV of ``file,class`` rows (default: the class sub-folders).
    """
    data = labelled_images(data_dir, labels)
    fractions = tuple(float(v) for v in SPLIT.split(","))
    split = split_images(data.labels, fractions, SEED)  # type: ignore[arg-type]
    truth = {}
    for i in split.test.tolist():
        name = data.files[i]
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / name, dest / name)
        truth[name] = data.labels[i]
    return truth


def evaluate(
    model_type: str,
    data_dir: Path,
    work: Path,
    truth: dict[str, str],
    *,
    labels: Path | None = None,
    params: dict[str, Any] | None = None,
    prefix: str = "neu",
) -> Result:
    """Train ``model_type`` as ``train --images`` does, score the test folder as ``score``."""
    project = load_project(work / "project")
    name = f"{prefix}-{model_type.replace('_', '-')}"
    train = TrainOptions(
        name=name,
        images=data_dir,
        labels="store" if labels is None else str(labels),
        model=model_type,
        params=None if params is None else json.dumps(params),
        split=SPLIT,
        seed=SEED,
    )
    card = asyncio.run(train_model(train, project, who="eval"))
    started = time.perf_counter()
    scoring = ScoreOptions(model=f"{name}@{card['version']}", images=work / "test")
    rows = asyncio.run(score_model(scoring, project))
    score_seconds = time.perf_counter() - started
    predicted = {row["file"]: row for row in rows}
    assert set(predicted) == set(truth), "the scored test folder differs from the split"
    names = sorted(truth)
    classes = sorted(set(truth.values()))
    best = [_best(predicted[n]) for n in names]
    m = classification_metrics([truth[n] for n in names], best, labels=classes)
    if card["task"] == "image_classification":
        # the card measured the same test part inside train: the two must agree (a
        # good-parts-only card also tests the defects of the other parts)
        assert abs(card["metrics"]["test"]["accuracy"] - m.accuracy) < 1e-12, (
            card["metrics"]["test"]["accuracy"],
            m.accuracy,
        )
    return Result(
        model_type=model_type,
        card=card,
        classes=classes,
        accuracy=m.accuracy,
        recall=m.recall,
        confusion=m.confusion,
        uncertain=sum(predicted[n]["class"] == "uncertain" for n in names) / len(names),
        train_seconds=float(card["metrics"]["train_seconds"]),
        score_seconds=score_seconds,
        test_images=len(names),
    )


def _best(row: dict[str, Any]) -> str:
    """The row's class; an uncertain row counts as its best class (in the card too)."""
    return str(row.get("best", row["class"])) if row["class"] == "uncertain" else str(row["class"])


def plot_confusion(result: Result, path: Path, title: str = "NEU test part") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from shopfloor.ml.report import confusion_figure

    fig = confusion_figure(result.classes, result.confusion, plt)
    fig.suptitle(f"{title}, {result.model_type}: accuracy {result.accuracy:.2%}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def section_text(results: list[Result], images: dict[str, str]) -> str:
    split = results[0].card["split"] if results else {"train": 0, "calibration": 0, "test": 0}
    lines = [
        SECTION_TITLE,
        "",
        f"Reproduce: `{COMMAND}` (data in `../shared/data/neu`, see its README). Protocol in "
        "the script's docstring: the 1,152 NEU-DET images (6 classes × 192), the platform's "
        f"seeded stratified split 60/20/20 (seed 0: {split['train']} train, "
        f"{split['calibration']} calibration, {split['test']} test images), each model "
        "type trained by the service behind `shopfloor train --images DIR --labels "
        "labels.csv --model TYPE` with its default parameters, and the test "
        "images classified by the service behind `shopfloor score --model M --images "
        "TESTDIR`. Choices were made on the calibration part; the test part was scored once "
        "per type. Accuracy counts the most probable class; *uncertain* is the share below "
        "the model's confidence threshold (0.5), which the runtime sends to manual review.",
        "",
        *table_head(
            "| model type | test accuracy | uncertain | worst class recall | training time | "
            "scoring (decode + preprocess + model) |"
        ),
    ]
    for r in results:
        worst = min(r.recall, key=lambda c: r.recall[c])
        lines.append(
            f"| `{r.model_type}` | {r.accuracy:.2%} ({round(r.accuracy * r.test_images)}/"
            f"{r.test_images}) | {r.uncertain:.1%} | {worst} {r.recall[worst]:.2%} | "
            f"{r.train_seconds:.1f} s | {r.test_images / r.score_seconds:.0f} images/s |"
        )
    for r in results:
        lines += [
            "",
            f"### `{r.model_type}`: recall per class and confusion matrix",
            "",
            *table_head("| class | " + " | ".join(r.classes) + " | recall |"),
        ]
        for i, c in enumerate(r.classes):
            lines.append(
                f"| {c} | " + " | ".join(str(v) for v in r.confusion[i]) + f" | {r.recall[c]:.2%} |"
            )
        lines += ["", f"![NEU confusion matrix, {r.model_type}]({images[r.model_type]})"]
    lines += [
        "",
        "Rows are the true classes, columns the predicted ones. Training times are for this "
        "machine (2 cores shared with other work), `fit` alone; scoring is one process, "
        "images one at a time from the folder.",
    ]
    goal = max(r.accuracy for r in results) if results else 0.0
    lines += [
        "",
        f"Goal ≥ 99.5 % for the best type: {'met' if goal >= 0.995 else 'not met'} "
        f"(best {goal:.2%}).",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="NEU folder")
    parser.add_argument(
        "--model", action="append", help="image model type (repeat; default: all available)"
    )
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "docs" / "results.md")
    args = parser.parse_args(argv)
    if not (args.data / "labels.csv").exists():
        print(f"no NEU data in {args.data} (labels.csv missing)", file=sys.stderr)
        return 2
    types = args.model or available_types()
    results = []
    images = {}
    with tempfile.TemporaryDirectory(prefix="neu-eval-") as tmp:
        work = Path(tmp)
        write_example_project(work / "project")
        (work / "test").mkdir()
        labels = args.data / "labels.csv"
        truth = copy_test_part(args.data, work / "test", labels)
        for model_type in types:
            result = evaluate(model_type, args.data, work, truth, labels=labels)
            results.append(result)
            print(
                f"{model_type}: test accuracy {result.accuracy:.4f}, uncertain "
                f"{result.uncertain:.3f}, train {result.train_seconds:.1f} s, recall "
                + ", ".join(f"{c} {v:.3f}" for c, v in result.recall.items()),
                flush=True,
            )
            image = f"img/neu_confusion_{model_type}.png"
            images[model_type] = image
            if not args.no_write:
                plot_confusion(result, args.results.parent / image)
    text = section_text(results, images)
    print(text)
    if not args.no_write:
        write_section(args.results, SECTION_TITLE, text)
        print(f"\nwrote {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
