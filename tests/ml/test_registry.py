"""The model registry: round trip, concurrent registers, tampered artifacts, stages, export."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from shopfloor.errors import ModelError
from shopfloor.ml.models.robust_zscore import RobustZScore
from shopfloor.ml.registry import ModelRegistry, parse_model_ref

NAMES = ["rms.x", "kurtosis.x"]


def _fitted(seed: int = 0) -> RobustZScore:
    rng = np.random.default_rng(seed)
    return RobustZScore(aggregate="rms").fit(rng.normal(size=(50, 2)), feature_names=NAMES)


def _card(**extra: Any) -> dict[str, Any]:
    return {
        "task": "anomaly",
        "pipeline": {"name": "spindle-health", "spec_hash": "ab" * 32},
        "input": {"features": NAMES, "units": {"rms.x": "g", "kurtosis.x": ""}},
        "dataset": {"hash": "cd" * 32, "ranges": [["2024-01-01", "2024-01-02"]]},
        "split": {"by": "time"},
        "metrics": {},
        "calibration": {"warning": 3.0, "alarm": 5.0},
        **extra,
    }


def test_round_trip_gives_identical_scores(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    model = _fitted()
    first = registry.register("spindle", model.to_artifact(), _card(), who="ana")
    assert first.card.version == 1 and first.stage == "none"
    assert (first.path / "artifact.zip").is_file() and (first.path / "card.json").is_file()
    second = registry.register("spindle", _fitted(1).to_artifact(), _card(), who="ana", parent=1)
    assert second.card.version == 2 and second.card.lineage["parent"] == 1
    loaded, version = registry.load("spindle@1")
    assert version.card.created_by == "ana" and version.card.model_type == "robust_zscore"
    x = np.random.default_rng(5).normal(size=(20, 2))
    assert isinstance(loaded, RobustZScore) and loaded.aggregate == "rms"
    np.testing.assert_array_equal(loaded.score(x, feature_names=NAMES), model.score(x))
    assert [v.card.version for v in registry.versions("spindle")] == [1, 2]
    assert registry.names() == ["spindle"]
    assert registry.get("spindle").card.version == 2  # no production: the newest
    card = json.loads((first.path / "card.json").read_text())
    assert card["artifact"]["sha256"] == first.card.artifact["sha256"]
    assert card["code_version"] and card["created_at"].endswith("Z")


def test_unknown_model_and_version_are_named(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    with pytest.raises(ModelError, match="no model 'nope'"):
        registry.get("nope")
    registry.register("m", _fitted().to_artifact(), _card(), who="ana")
    with pytest.raises(ModelError, match=r"no version 7 \(versions: 1\)"):
        registry.get("m@7")
    with pytest.raises(ModelError, match="not 'latest'"):
        parse_model_ref("m@latest")
    with pytest.raises(ModelError, match="model name"):
        parse_model_ref("../etc")
    with pytest.raises(ModelError, match="no version 3 to derive from"):
        registry.register("m", _fitted().to_artifact(), _card(), who="ana", parent=3)


def _register_many(root: str, count: int, seed: int) -> list[int]:
    registry = ModelRegistry(Path(root))
    artifact = _fitted(seed).to_artifact()
    return [
        registry.register("m", artifact, _card(), who=f"p{seed}").card.version for _ in range(count)
    ]


def test_concurrent_registers_get_distinct_complete_versions(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        results = pool.starmap(_register_many, [(str(tmp_path), 8, 1), (str(tmp_path), 8, 2)])
    versions = sorted(v for part in results for v in part)
    assert versions == list(range(1, 17))
    registry = ModelRegistry(tmp_path)
    for version in registry.versions("m"):  # each one whole and loadable
        registry.load(version.ref)
    assert not [p for p in (tmp_path / "m").iterdir() if p.name.startswith(".tmp")]


def test_a_tampered_artifact_is_refused_naming_file_and_hashes(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    version = registry.register("m", _fitted().to_artifact(), _card(), who="ana")
    path = version.path / "artifact.zip"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as caught:
        registry.load("m@1")
    message = str(caught.value)
    assert str(path) in message and version.card.artifact["sha256"] in message
    assert "refusing" in message


def test_stages_keep_one_production_version(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for _ in range(3):
        registry.register("m", _fitted().to_artifact(), _card(), who="ana")
    assert registry.promote("m@1", "staging", who="bo").stage == "staging"
    assert registry.promote("m@1", "production", who="bo").stage == "production"
    assert registry.get("m").card.version == 1  # production before the newest
    registry.promote("m@2", "production", who="bo")
    stages = {v.card.version: v.stage for v in registry.versions("m")}
    assert stages == {1: "archived", 2: "production", 3: "none"}
    assert registry.get("m@production").card.version == 2
    assert registry.get("m@archived").stage_changed["because"] == "m@2 promoted"
    assert registry.archive("m@2", who="bo").stage == "archived"
    with pytest.raises(ModelError, match="no version in stage 'production'"):
        registry.get("m@production")
    with pytest.raises(ModelError, match="stage 'gold'"):
        registry.promote("m@1", "gold", who="bo")  # type: ignore[arg-type]


def test_mlflow_export_writes_mlmodel_and_the_artifact(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    version = registry.register("m", _fitted().to_artifact(), _card(), who="ana")
    out = registry.export_mlflow("m@1", tmp_path / "export")
    mlmodel = yaml.safe_load((out / "MLmodel").read_text())
    assert mlmodel["flavors"]["shopfloor"]["artifact"] == "artifact.zip"
    assert mlmodel["flavors"]["shopfloor"]["sha256"] == version.card.artifact["sha256"]
    assert [i["name"] for i in json.loads(mlmodel["signature"]["inputs"])] == NAMES
    assert (out / "artifact.zip").read_bytes() == (version.path / "artifact.zip").read_bytes()
    with pytest.raises(ModelError, match="not an empty folder"):
        registry.export_mlflow("m@1", out)
