"""``shopfloor train --images`` and ``score --images``: labels, split, registry, bad input."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from shopfloor.cli.main import app
from shopfloor.config import load_project
from shopfloor.services.image_models import labelled_images, split_images
from shopfloor.testing.model_checks import example_pixels

SMALL = '{"preprocess": {"size": [24, 24]}}'


def png(pixels: np.ndarray, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def write_folder(root: Path, n: int = 45, *, seed: int = 3) -> Path:
    pixels, labels = example_pixels(n, seed=seed)
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"part-{i:03d}.png").write_bytes(png(image))
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder(tmp_path_factory.mktemp("images") / "parts")


def invoke(runner: CliRunner, project: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--project", str(project)])
    return result.exit_code, result.output


def test_train_and_score_a_folder(runner: CliRunner, project: Path, images: Path) -> None:
    code, out = invoke(
        runner, project, "train", "--name", "parts", "--images", str(images), "--params", SMALL
    )
    assert code == 0, out
    assert "registered parts@1 (classical)" in out
    assert "split: 27 train, 9 calibration, 9 test (stratified, seed 0)" in out
    assert "report.html" in out
    code, out = invoke(
        runner, project, "score", "--model", "parts@1", "--images", str(images), "--json"
    )
    assert code == 0, out
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 45 and set(rows[0]) == {"file", "class", "confidence"}
    assert rows[0]["file"] == "plain/part-000.png"
    truth = [r["file"].split("/")[0] for r in rows]
    right = sum(r["class"] == t for r, t in zip(rows, truth, strict=True))
    assert right >= 40
    card = json.loads(invoke(runner, project, "models", "show", "parts@1", "--json")[1])
    assert card["task"] == "image_classification"
    assert card["split"]["per_class"]["test"] == {"plain": 3, "spots": 3, "stripes": 3}
    assert card["input"]["images"]["size"] == [24, 24]
    assert set(card["metrics"]["test"]) >= {"accuracy", "recall", "confusion", "uncertain"}
    html = (Path(card["path"]) / "report.html").read_text()
    assert "Confusion matrix" in html and "data:image/png;base64," in html


def test_labels_from_a_csv(runner: CliRunner, project: Path, tmp_path: Path) -> None:
    pixels, labels = example_pixels(30)
    flat = tmp_path / "flat"
    flat.mkdir()
    lines = ["file,class"]
    for i, (image, label) in enumerate(zip(pixels, labels, strict=True)):
        (flat / f"{i}.bmp").write_bytes(png(image, "BMP"))
        lines.append(f"{i}.bmp,{label}")
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    data = labelled_images(flat, csv_path)
    assert data.counts() == {"plain": 10, "spots": 10, "stripes": 10}
    code, out = invoke(
        runner,
        project,
        "train",
        "--name",
        "flat",
        "--images",
        str(flat),
        "--labels",
        str(csv_path),
        "--params",
        SMALL,
        "--split",
        "0.7,0.3",
        "--seed",
        "4",
    )
    assert code == 0, out
    assert "21 train, 9 calibration, 0 test (stratified, seed 4)" in out


def test_split_is_seeded_and_stratified() -> None:
    labels = ["a"] * 50 + ["b"] * 10
    one = split_images(labels, (0.6, 0.2, 0.2), seed=0)
    assert np.array_equal(one.test, split_images(labels, (0.6, 0.2, 0.2), seed=0).test)
    assert not np.array_equal(one.test, split_images(labels, (0.6, 0.2, 0.2), seed=1).test)
    assert sorted(np.concatenate([one.train, one.calibration, one.test]).tolist()) == list(
        range(60)
    )
    assert one.describe(labels)["per_class"]["test"] == {"a": 10, "b": 2}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: (root / "plain" / "notes.txt").write_text("x"), "notes.txt is not an image"),
        (lambda root: (root / "plain" / "x.png").write_text("x"), r"plain/x\.png: not an image"),
        (
            lambda root: (root / "spots" / "cut.jpg").write_bytes(
                png(np.zeros((30, 30, 3), np.uint8), "JPEG")[:200]
            ),
            r"spots/cut\.jpg: truncated or corrupt",
        ),
        (lambda root: (root / "scratches").mkdir(), "class folder scratches/ holds no image"),
        (lambda root: (root / "loose.png").write_bytes(b""), "loose.png is not in a class folder"),
    ],
)
def test_bad_folders_are_named(
    runner: CliRunner, project: Path, tmp_path: Path, setup: Callable[[Path], object], message: str
) -> None:
    root = write_folder(tmp_path / "parts", n=12)
    setup(root)
    code, out = invoke(
        runner, project, "train", "--name", "bad", "--images", str(root), "--params", SMALL
    )
    assert code == 2, out
    assert re.search(message, " ".join(out.split())), out


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["file,class", "a.png,plain", "missing.png,spots"],
            r"labels\.csv:3: file missing\.png not found",
        ),
        (["file,class", "a.png,"], r"labels\.csv:2: a\.png has no class"),
        (["file,class", "a.png,uncertain"], "outcome, not a class"),
        (["file,class", "a.png,plain", "a.png,spots"], "already labelled on line 2"),
        (["name,label", "a.png,plain"], "header 'file,class'"),
    ],
)
def test_bad_csv_rows_are_named_with_their_line(
    runner: CliRunner, project: Path, tmp_path: Path, rows: list[str], message: str
) -> None:
    folder = tmp_path / "flat"
    folder.mkdir()
    (folder / "a.png").write_bytes(png(np.zeros((30, 30, 3), np.uint8)))
    csv_path = tmp_path / "labels.csv"
    csv_path.write_text("\n".join(rows) + "\n")
    code, out = invoke(
        runner,
        project,
        "train",
        "--name",
        "bad",
        "--images",
        str(folder),
        "--labels",
        str(csv_path),
    )
    assert code == 2, out
    assert re.search(message, " ".join(out.split())), out


def test_images_and_history_options_are_exclusive(
    runner: CliRunner, project: Path, images: Path
) -> None:
    code, out = invoke(
        runner, project, "train", "--name", "x", "--images", str(images), "--from", "now-1d"
    )
    assert code == 2 and "mutually exclusive" in out
    code, out = invoke(
        runner, project, "score", "--model", "x", "--images", str(images), "--from", "now-1d"
    )
    assert code == 2 and "mutually exclusive" in out
    code, out = invoke(runner, project, "score", "--model", "x")
    assert code == 2 and "--from" in out


def test_unknown_or_tabular_types_are_refused(
    runner: CliRunner, project: Path, images: Path
) -> None:
    code, out = invoke(
        runner, project, "train", "--name", "x", "--images", str(images), "--model", "pca"
    )
    assert code == 1 and "not an image one" in " ".join(out.split())
    code, out = invoke(
        runner, project, "train", "--name", "x", "--images", str(images), "--model", "resnet"
    )
    assert code == 1 and "unknown image model type" in " ".join(out.split())


def test_cnn_without_its_extra_says_how_to_install(
    runner: CliRunner, project: Path, images: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shopfloor.ml.base import MODEL_TYPES

    monkeypatch.delitem(MODEL_TYPES, "cnn", raising=False)
    monkeypatch.setattr("shopfloor.services.image_models.model_types", lambda: dict(MODEL_TYPES))
    code, out = invoke(
        runner, project, "train", "--name", "x", "--images", str(images), "--model", "cnn"
    )
    assert code == 1 and "pip install 'shopfloor[vision]'" in " ".join(out.split())


def test_project_still_loads(project: Path) -> None:
    assert load_project(project).config.project.name


def test_good_only_learns_the_good_class_and_tests_the_defects(
    runner: CliRunner, project: Path, tmp_path: Path
) -> None:
    root = write_folder(tmp_path / "line", n=60)
    (root / "plain").rename(root / "good")
    code, out = invoke(
        runner,
        project,
        "train",
        "--name",
        "line",
        "--images",
        str(root),
        "--model",
        "good-only",
        "--params",
        SMALL,
        "--json",
    )
    assert code == 0, out
    card = json.loads(out)
    assert card["task"] == "image_anomaly"
    assert card["metrics"]["train_images"] == 12  # the good training images only
    test = card["metrics"]["test"]
    assert test["classes"] == ["defect", "good"]
    assert test["defect_classes"] == {"spots": 20, "stripes": 20}  # every defect, never learned
    assert test["recall"]["defect"] >= 0.9
    assert "quantile 0.99" in card["calibration"]["method"]
    code, out = invoke(runner, project, "score", "--model", "line", "--images", str(root), "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert {r["class"] for r in rows} <= {"good", "defect", "uncertain"}


def test_good_only_needs_a_good_class(runner: CliRunner, project: Path, images: Path) -> None:
    code, out = invoke(
        runner, project, "train", "--name", "x", "--images", str(images), "--model", "good_only"
    )
    assert code == 1 and "learns the class 'good'" in " ".join(out.split())
