"""The project file ``factory.yaml``, validated as a whole.

It holds assets, signals, connectors, pipelines, models, deployments, alert rules, their
notifiers and the write-back allow-list.

Errors name the file, the line and the field path, all of them at once::

    factory.yaml:14: assets[0].signals[1].unit: unknown unit 'mm/ss'
"""

from __future__ import annotations

import os
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopfloor.bus.config import BusConfig
from shopfloor.config.api import ApiConfig
from shopfloor.config.checks import Sections, check_sections
from shopfloor.config.issues import did_you_mean, issues_from
from shopfloor.config.source import YamlSource, load_yaml
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.registry import connector_types
from shopfloor.errors import ConfigError
from shopfloor.ml.config import ModelConfig
from shopfloor.model import Asset, Signal, SignalRef
from shopfloor.pipelines.config import PipelineConfig
from shopfloor.runtime.config import (
    AlertRuleConfig,
    DeploymentConfig,
    RejectConfig,
    RuntimeConfig,
)
from shopfloor.runtime.notifiers.config import NOTIFIER_TYPES, NotifierConfig
from shopfloor.runtime.writeback.config import WritebackConnectorConfig
from shopfloor.store.config import StoreConfig

__all__ = [
    "PROJECT_FILE",
    "FactoryConfig",
    "Project",
    "ProjectInfo",
    "find_project",
    "load_project",
]

PROJECT_FILE = "factory.yaml"


class ProjectInfo(BaseModel):
    """Name and local settings of the plant project."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    timezone: str = Field(default="UTC", description="IANA zone for reports and shift calendars.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from err
        return value


class FactoryConfig(BaseModel):
    """The whole project file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: Literal[1] = 1
    project: ProjectInfo
    store: StoreConfig = Field(default_factory=StoreConfig)
    bus: BusConfig = Field(default_factory=BusConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    assets: list[Asset] = Field(default_factory=list)
    connectors: list[ConnectorConfig] = Field(
        default_factory=list,
        description="Validated one by one against their type's model by load_project.",
    )
    pipelines: list[PipelineConfig] = Field(default_factory=list)
    models: list[ModelConfig] = Field(default_factory=list)
    deployments: list[DeploymentConfig] = Field(default_factory=list)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    alert_rules: list[AlertRuleConfig] = Field(default_factory=list)
    notifiers: list[NotifierConfig] = Field(
        default_factory=list,
        description="Where alerts are sent; validated one by one by load_project.",
    )
    writeback: list[WritebackConnectorConfig] = Field(
        default_factory=list,
        description="The allow-list: what alert rules may write to machines, per connector.",
    )
    rejects: list[RejectConfig] = Field(
        default_factory=list,
        description="Defective parts an image deployment finds, written to a reject gate.",
    )

    def asset(self, path: str) -> Asset:
        """The asset at ``path``; ``KeyError`` when there is none."""
        for asset in self.assets:
            if asset.path == path:
                return asset
        raise KeyError(f"no asset {path!r} in the project")

    def signal(self, ref: SignalRef) -> Signal:
        """The definition of ``ref``; ``KeyError`` names what is missing."""
        return self.asset(ref.asset).signal(ref.name)

    def iter_signals(self) -> Iterator[tuple[SignalRef, Signal]]:
        """Every signal of every asset."""
        for asset in self.assets:
            for signal in asset.signals:
                yield SignalRef(asset.path, signal.name), signal

    def connector(self, name: str) -> ConnectorConfig:
        """The connector called ``name``."""
        for connector in self.connectors:
            if connector.name == name:
                return connector
        raise KeyError(f"no connector {name!r} in the project")


@dataclass(frozen=True)
class Project:
    """A loaded project: its folder, its file and its validated configuration."""

    root: Path
    file: Path
    config: FactoryConfig

    @property
    def store_path(self) -> Path:
        """Absolute path of the embedded store file."""
        path = Path(self.config.store.path)
        return path if path.is_absolute() else self.root / path

    @property
    def state_dir(self) -> Path:
        """Where the running platform keeps its own files (lock, journals, certificates)."""
        return self.root / ".shopfloor"


_LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "assets": Asset,
    "pipelines": PipelineConfig,
    "models": ModelConfig,
    "deployments": DeploymentConfig,
    "alert_rules": AlertRuleConfig,
    "writeback": WritebackConnectorConfig,
    "rejects": RejectConfig,
}


def _validate_items(
    section: str, model: type[BaseModel], raw: Any, source: YamlSource, issues: list[str]
) -> list[tuple[int, Any]]:
    """The items of a list section that validate, with their index; the others' problems."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(source.issue((section,), f"must be a list, got {type(raw).__name__}"))
        return []
    out: list[tuple[int, Any]] = []
    for i, item in enumerate(raw):
        try:
            out.append((i, model.model_validate(item)))
        except ValidationError as err:
            issues.extend(issues_from(err, source, (section, i), model))
    return out


def _partial_assets(sections: Sections) -> dict[str, Asset]:
    """The assets that failed with only their valid signals, so pipelines are still checked."""
    valid = {i for i, _ in sections.assets}
    out: dict[str, Asset] = {}
    items = sections.raw.get("assets")
    for i, item in enumerate(items if isinstance(items, list) else []):
        if i in valid or not isinstance(item, dict) or not isinstance(item.get("signals"), list):
            continue
        signals = []
        for signal in item["signals"]:
            try:
                Signal.model_validate(signal)
            except ValidationError:
                continue
            signals.append(signal)
        try:
            asset = Asset.model_validate({**item, "signals": signals})
        except ValidationError:
            continue  # the asset itself is wrong, not only a signal
        out[asset.path] = asset
    return out


def _validate_connectors(
    raw: Any, source: YamlSource, issues: list[str]
) -> list[tuple[int, ConnectorConfig]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(source.issue(("connectors",), "must be a list of connectors"))
        return []
    types = connector_types()
    out: list[tuple[int, ConnectorConfig]] = []
    for i, item in enumerate(raw):
        loc: tuple[int | str, ...] = ("connectors", i)
        if not isinstance(item, dict):
            issues.append(source.issue(loc, "must be a mapping with at least 'name' and 'type'"))
            continue
        type_name = item.get("type")
        if type_name is None:
            issues.append(source.issue(loc, "field required: type"))
            continue
        manifest = types.get(str(type_name))
        if manifest is None:
            known = ", ".join(sorted(types)) or "none installed"
            issues.append(
                source.issue(
                    (*loc, "type"),
                    f"unknown connector type {type_name!r}"
                    f"{did_you_mean(str(type_name), types)} (known: {known})",
                )
            )
            continue
        try:
            out.append((i, manifest.config.model_validate(item)))
        except ValidationError as err:
            issues.extend(issues_from(err, source, loc, manifest.config))
    return out


def _validate_notifiers(
    raw: Any, source: YamlSource, issues: list[str]
) -> list[tuple[int, NotifierConfig]]:
    """The notifiers that validate, each against its ``type``'s model; the others' problems."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(source.issue(("notifiers",), "must be a list of notifiers"))
        return []
    out: list[tuple[int, NotifierConfig]] = []
    for i, item in enumerate(raw):
        loc: tuple[int | str, ...] = ("notifiers", i)
        if not isinstance(item, dict):
            issues.append(source.issue(loc, "must be a mapping with at least 'name' and 'type'"))
            continue
        type_name = item.get("type")
        if type_name is None:
            issues.append(source.issue(loc, "field required: type"))
            continue
        model = NOTIFIER_TYPES.get(str(type_name))
        if model is None:
            issues.append(
                source.issue(
                    (*loc, "type"),
                    f"unknown notifier type {type_name!r}"
                    f"{did_you_mean(str(type_name), NOTIFIER_TYPES)} "
                    f"(known: {', '.join(NOTIFIER_TYPES)})",
                )
            )
            continue
        try:
            out.append((i, model.model_validate(item)))
        except ValidationError as err:
            issues.extend(issues_from(err, source, loc, model))
    return out


def load_project(path: str | os.PathLike[str], *, build_pipelines: bool = True) -> Project:
    """Load and validate a project from its folder or its ``factory.yaml``.

    Every section and every item in it is validated on its own, then the items that are
    valid are checked against each other (:mod:`shopfloor.config.checks`), so one run
    reports every problem of the file, in the order of its lines.

    Parameters
    ----------
    path : str or os.PathLike
        The project folder or its ``factory.yaml``.
    build_pipelines : bool, default True
        Build each pipeline (feature catalog and steps, which import scipy) to check its
        feature names and what only building tells. Commands that only need the project's
        places and settings, such as ``shopfloor status``, turn it off to start fast.

    Raises
    ------
    ConfigError
        Listing every problem with file, line and field path.
    """
    path = Path(path)
    file = path / PROJECT_FILE if path.is_dir() else path
    source = load_yaml(file)
    if not isinstance(source.data, dict):
        raise ConfigError(f"{file}:1: the project file must be a mapping (project:, assets:, ...)")
    issues: list[str] = list(source.problems)
    raw = dict(source.data)
    sections = Sections(raw=dict(raw))
    sections.connectors = _validate_connectors(raw.pop("connectors", None), source, issues)
    sections.notifiers = _validate_notifiers(raw.pop("notifiers", None), source, issues)
    for name, model in _LIST_SECTIONS.items():
        setattr(sections, name, _validate_items(name, model, raw.pop(name, None), source, issues))
    sections.partial_assets = _partial_assets(sections)
    config: FactoryConfig | None
    try:
        config = FactoryConfig.model_validate(raw)
    except ValidationError as err:
        issues.extend(issues_from(err, source, (), FactoryConfig))
        config = None
    issues.extend(
        source.issue(p.loc, p.message) for p in check_sections(sections, build=build_pipelines)
    )
    if issues or config is None:
        count = len(issues)
        issues.sort(key=_line_number)
        raise ConfigError(
            f"{file}: {count} problem{'s' if count != 1 else ''} in the project file", issues
        )
    config = config.model_copy(
        update={
            name: [item for _, item in getattr(sections, name)]
            for name in ("connectors", "notifiers", *_LIST_SECTIONS)
        }
    )
    return Project(root=file.parent.resolve(), file=file.resolve(), config=config)


def _line_number(issue: str) -> int:
    """The line of a ``file:line: ...`` issue (0 when it has none), to sort by."""
    match = re.match(r"[^\n]*?:(\d+): ", issue)
    return int(match.group(1)) if match else 0


def find_project(start: str | os.PathLike[str] | None = None) -> Path:
    """The project file: ``start`` itself, or ``factory.yaml`` in it or a parent folder.

    Raises
    ------
    ConfigError
        When there is none, saying how to make one.
    """
    base = Path(start) if start is not None else Path.cwd()
    if base.is_file():
        return base
    if start is not None and not base.exists():
        raise ConfigError(f"{base}: no such file or folder")
    for folder in (base.resolve(), *base.resolve().parents):
        candidate = folder / PROJECT_FILE
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {PROJECT_FILE} in {base.resolve()} or its parents: create one with "
        f"'shopfloor init DIR' or pass --project"
    )
