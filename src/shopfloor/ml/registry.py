"""The model registry: every version of every model kept, explained and reloadable.

A folder of plain files under the project's state directory::

    <root>/<name>/<version>/artifact.zip   the fitted model (:class:`~shopfloor.ml.base.Artifact`)
    <root>/<name>/<version>/card.json      its model card (:class:`ModelCard`)
    <root>/<name>/<version>/stage.json     its stage and who set it when (absent: ``none``)

Versions of a name are numbered 1, 2, 3, ... A version is written complete in a hidden
temporary folder, then renamed into place: the rename either takes the number or fails
because another register took it first, in which case the next number is tried. Two
processes registering at once get two versions, never a half-written one.

The card records the SHA-256 of ``artifact.zip``; every load checks it, and a changed
artifact is refused (:class:`~shopfloor.errors.ModelError` naming the file and both
hashes) before a byte of it is unpacked.

Stages: ``none`` → ``staging`` → ``production`` → ``archived``. A name has at most one
production version: promoting one archives the one before (under a lock file, so two
promotions at once cannot leave two).

Examples
--------
>>> registry = ModelRegistry(Path("/tmp/models"))  # doctest: +SKIP
>>> registry.register("spindle", artifact, card_fields, who="ana")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, cast, get_args

from shopfloor import __version__
from shopfloor.errors import ModelError
from shopfloor.ml.base import Artifact, Model, load_model
from shopfloor.model import format_ns, now_ns, validate_segment

__all__ = ["STAGES", "ModelCard", "ModelRegistry", "ModelVersion", "Stage", "parse_model_ref"]

Stage = Literal["none", "staging", "production", "archived"]
STAGES: tuple[Stage, ...] = get_args(Stage)

ARTIFACT = "artifact.zip"
CARD = "card.json"
STAGE = "stage.json"
_VERSION = re.compile(r"^[1-9][0-9]*$")
_MAX_TRIES = 1000


@dataclass(frozen=True)
class ModelCard:
    """What a model version is, where it came from and how good it was.

    Attributes
    ----------
    name, version
        The model's name and its version number (set by the registry).
    model_type, task, params
        The model type (``robust_zscore``...), ``anomaly`` or ``classification``, and the
        keywords it was built with.
    pipeline
        ``{"name": ..., "spec_hash": ...}``: the pipeline whose features it takes.
    input
        ``{"features": [names], "units": {name: unit}}``: the columns, in order.
    dataset
        ``{"hash": ..., "asset": ..., "ranges": [[from, to], ...], "windows": n, ...}``.
    split
        How the windows were split (by time or group), with the counts of each part.
    metrics, calibration
        Results on the held-back parts; thresholds and how they were chosen.
    lineage
        ``{"parent": version or None, "dataset_hash": ...}``.
    code_version, created_by, created_at
        ``shopfloor.__version__``, the OS user or API token, UTC ISO time.
    artifact
        ``{"file": "artifact.zip", "sha256": ..., "size_bytes": ..., "format": ...}``.
    """

    name: str
    version: int
    model_type: str
    task: str
    params: dict[str, Any]
    pipeline: dict[str, Any]
    input: dict[str, Any]
    dataset: dict[str, Any]
    split: dict[str, Any]
    metrics: dict[str, Any]
    calibration: dict[str, Any]
    lineage: dict[str, Any]
    code_version: str
    created_by: str
    created_at: str
    artifact: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "model card") -> ModelCard:
        """Read :meth:`as_dict`; ``ModelError`` naming ``source`` and the missing keys."""
        names = set(cls.__dataclass_fields__)
        missing = sorted(n for n in names if n not in data and n != "artifact")
        if missing:
            raise ModelError(f"{source} lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def feature_names(self) -> list[str]:
        """The input columns, in order."""
        return list(self.input.get("features", []))


@dataclass(frozen=True)
class ModelVersion:
    """One registered version: its card, its stage and its folder."""

    card: ModelCard
    stage: Stage
    path: Path
    stage_changed: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.card.name}@{self.card.version}"

    def as_dict(self) -> dict[str, Any]:
        """The card with the stage and the folder, JSON-able."""
        return {
            **self.card.as_dict(),
            "stage": self.stage,
            "stage_changed": self.stage_changed,
            "path": str(self.path),
        }


def parse_model_ref(ref: str) -> tuple[str, int | Stage | None]:
    """``M``, ``M@3`` or ``M@production`` → ``(name, version, stage or None)``.

    Raises
    ------
    ModelError
        When the name is not a valid name, or what follows ``@`` is neither a version
        number nor a stage.
    """
    name, _, after = ref.partition("@")
    _check_name(name)
    if not after:
        return name, None
    if _VERSION.match(after):
        return name, int(after)
    if after in STAGES:
        return name, after
    raise ModelError(
        f"model {ref!r}: after '@' comes a version number or a stage "
        f"({', '.join(STAGES)}), not {after!r}"
    )


def _check_name(name: str) -> str:
    try:
        return validate_segment(name, what="model name")
    except ValueError as err:
        raise ModelError(str(err)) from err


def sha256_of(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


class ModelRegistry:
    """Model versions in a folder (see the module's docstring for the layout).

    Parameters
    ----------
    root
        The registry's folder (the project's ``.shopfloor/models``); created on the
        first register.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing --------------------------------------------------------------------------

    def register(
        self,
        name: str,
        artifact: Artifact,
        card: dict[str, Any],
        *,
        who: str,
        parent: int | None = None,
    ) -> ModelVersion:
        """Add a version of ``name``: the artifact and its card, written atomically.

        Parameters
        ----------
        name
            The model's name (one path segment).
        artifact
            The fitted model.
        card
            The card's fields except ``name``, ``version``, ``code_version``,
            ``created_by``, ``created_at``, ``artifact`` and ``lineage.parent``, which
            the registry fills.
        who
            The OS user or the API token that registers.
        parent
            The version this one was derived from (lineage), if any.

        Returns
        -------
        ModelVersion
            The new version, stage ``none``.
        """
        folder = self.root / _check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        data = artifact.to_bytes()
        if parent is not None and not (folder / str(parent) / CARD).exists():
            raise ModelError(f"model {name!r} has no version {parent} to derive from")
        lineage = {**dict(card.get("lineage", {})), "parent": parent}
        fields = {
            **card,
            "name": name,
            "model_type": artifact.model_type,
            "params": artifact.params,
            "lineage": lineage,
            "code_version": __version__,
            "created_by": who,
            "created_at": format_ns(now_ns()),
            "artifact": {
                "file": ARTIFACT,
                "sha256": sha256_of(data),
                "size_bytes": len(data),
                "format": artifact.format,
            },
        }
        tmp = folder / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            (tmp / ARTIFACT).write_bytes(data)
            for _ in range(_MAX_TRIES):
                version = self._next_version(folder)
                model_card = ModelCard.from_dict({**fields, "version": version})
                _write_json(tmp / CARD, model_card.as_dict())
                try:
                    os.rename(tmp, folder / str(version))  # fails if the number was taken
                except OSError as err:
                    if err.errno in (errno.EEXIST, errno.ENOTEMPTY):
                        continue
                    raise ModelError(f"cannot register {name!r} in {folder}: {err}") from err
                return ModelVersion(model_card, "none", folder / str(version))
            raise ModelError(f"cannot register {name!r}: {_MAX_TRIES} versions taken meanwhile")
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    def promote(self, ref: str, stage: Stage, *, who: str) -> ModelVersion:
        """Set the stage of version ``ref``; promoting to production archives the previous.

        Raises
        ------
        ModelError
            When ``stage`` is not a stage, or ``ref`` names no version.
        """
        if stage not in STAGES:
            raise ModelError(f"stage {stage!r}: not one of {', '.join(STAGES)}")
        target = self.get(ref)
        with self._locked(target.card.name):
            if stage == "production":
                for other in self.versions(target.card.name):
                    if other.stage == "production" and other.card.version != target.card.version:
                        self._set_stage(other, "archived", who, because=f"{target.ref} promoted")
            self._set_stage(target, stage, who)
        return self.get(target.ref)

    def archive(self, ref: str, *, who: str) -> ModelVersion:
        """Set version ``ref``'s stage to ``archived``."""
        return self.promote(ref, "archived", who=who)

    # -- reading --------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Every model name with at least one version, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self._numbers(p) != [])

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of ``name``, oldest first (empty when there is none)."""
        folder = self.root / _check_name(name)
        return [self._read(folder / str(n)) for n in self._numbers(folder)]

    def get(self, ref: str) -> ModelVersion:
        """The version ``M@V``, ``M@stage`` (the newest in it) or ``M`` (production, else newest).

        Raises
        ------
        ModelError
            When there is no such model or version; the message lists what there is.
        """
        name, which = parse_model_ref(ref)
        versions = self.versions(name)
        if not versions:
            known = ", ".join(self.names()) or "none"
            raise ModelError(f"no model {name!r} in {self.root} (models: {known})")
        if isinstance(which, int):
            for v in versions:
                if v.card.version == which:
                    return v
            numbers = ", ".join(str(v.card.version) for v in versions)
            raise ModelError(f"model {name!r} has no version {which} (versions: {numbers})")
        if which is None:
            production = [v for v in versions if v.stage == "production"]
            return (production or versions)[-1]
        staged = [v for v in versions if v.stage == which]
        if not staged:
            raise ModelError(f"model {name!r} has no version in stage {which!r}")
        return staged[-1]

    def artifact_bytes(self, version: ModelVersion) -> bytes:
        """The artifact's bytes, checked against the card's SHA-256.

        Raises
        ------
        ModelError
            When the file is missing or its hash differs from the card's (naming the
            file and both hashes).
        """
        path = version.path / ARTIFACT
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ModelError(f"cannot read the artifact of {version.ref} ({path}): {err}") from err
        expected = str(version.card.artifact.get("sha256", ""))
        actual = sha256_of(data)
        if actual != expected:
            raise ModelError(
                f"artifact {path} of {version.ref} was changed after it was registered: "
                f"its SHA-256 is {actual}, the model card records {expected}; refusing to load it"
            )
        return data

    def load(self, ref: str) -> tuple[Model, ModelVersion]:
        """The fitted model of version ``ref`` (hash checked) and its version."""
        version = self.get(ref)
        data = self.artifact_bytes(version)
        artifact = Artifact.from_bytes(data, source=str(version.path / ARTIFACT))
        return load_model(artifact), version

    # -- export ---------------------------------------------------------------------------

    def export_mlflow(self, ref: str, dest: Path) -> Path:
        """Write version ``ref`` as an MLflow model directory (``MLmodel`` + files).

        Holds ``MLmodel`` (YAML: a ``shopfloor`` flavor naming the artifact, an ``onnx``
        flavor when the payload is ONNX, the input signature), ``artifact.zip``,
        ``card.json`` and, for ONNX payloads, ``model.onnx``. MLflow is not needed to
        write it; ``mlflow.onnx.load_model`` reads the ``onnx`` flavor.

        Raises
        ------
        ModelError
            When ``dest`` exists and is not an empty folder.
        """
        import yaml  # the project file's reader; only needed here

        version = self.get(ref)
        data = self.artifact_bytes(version)
        artifact = Artifact.from_bytes(data, source=str(version.path / ARTIFACT))
        dest = Path(dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise ModelError(f"export to {dest}: it exists and is not an empty folder")
        dest.mkdir(parents=True, exist_ok=True)
        card = version.card
        (dest / ARTIFACT).write_bytes(data)
        _write_json(dest / CARD, version.as_dict() | {"path": None})
        flavors: dict[str, Any] = {
            "shopfloor": {
                "artifact": ARTIFACT,
                "card": CARD,
                "model_type": card.model_type,
                "code_version": card.code_version,
                "sha256": card.artifact.get("sha256"),
            }
        }
        if artifact.format == "onnx":
            (dest / "model.onnx").write_bytes(artifact.payload)
            flavors["onnx"] = {"data": "model.onnx", "providers": ["CPUExecutionProvider"]}
        inputs = [{"type": "double", "name": n} for n in card.feature_names]
        mlmodel = {
            "artifact_path": card.name,
            "flavors": flavors,
            "model_uuid": uuid.uuid5(uuid.NAMESPACE_URL, f"{card.name}/{card.artifact}").hex,
            "utc_time_created": card.created_at,
            "signature": {
                "inputs": json.dumps(inputs),
                "outputs": json.dumps([{"type": "double", "name": "score"}]),
            },
            "metadata": {
                "name": card.name,
                "version": card.version,
                "stage": version.stage,
                "pipeline": card.pipeline,
                "dataset_hash": card.dataset.get("hash"),
            },
        }
        (dest / "MLmodel").write_text(yaml.safe_dump(mlmodel, sort_keys=False), encoding="utf-8")
        return dest

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _numbers(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        return sorted(
            int(p.name) for p in folder.iterdir() if _VERSION.match(p.name) and (p / CARD).is_file()
        )

    @staticmethod
    def _next_version(folder: Path) -> int:
        taken = [int(p.name) for p in folder.iterdir() if _VERSION.match(p.name)]
        return max(taken, default=0) + 1

    def _read(self, path: Path) -> ModelVersion:
        card = ModelCard.from_dict(_read_json(path / CARD), source=str(path / CARD))
        stage: dict[str, Any] = {}
        if (path / STAGE).exists():
            stage = _read_json(path / STAGE)
        value = stage.get("stage", "none")
        if value not in STAGES:
            raise ModelError(f"{path / STAGE}: unknown stage {value!r}")
        return ModelVersion(card, cast(Stage, value), path, stage)

    def _set_stage(
        self, version: ModelVersion, stage: Stage, who: str, *, because: str | None = None
    ) -> None:
        record: dict[str, Any] = {
            "stage": stage,
            "previous": version.stage,
            "by": who,
            "at": format_ns(now_ns()),
        }
        if because:
            record["because"] = because
        _write_json(version.path / STAGE, record)

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        """Hold the name's lock file (stage changes of one name, one at a time)."""
        path = self.root / name / ".lock"
        with path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ModelError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not hold a JSON object")
    return data
