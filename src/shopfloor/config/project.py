"""The project file ``factory.yaml``, validated as a whole.

It holds assets, signals, connectors, pipelines, models, deployments and alert rules.

Errors name the file, the line and the field path, all of them at once::

    factory.yaml:14: assets[0].signals[1].unit: unknown unit 'mm/ss'
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shopfloor.bus.config import BusConfig
from shopfloor.config.api import ApiConfig
from shopfloor.config.source import Located, YamlSource, load_yaml
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.registry import connector_types
from shopfloor.errors import ConfigError
from shopfloor.ml.config import ModelConfig
from shopfloor.model import Asset, Signal, SignalKind, SignalRef
from shopfloor.pipelines.config import PipelineConfig
from shopfloor.runtime.config import AlertRuleConfig, DeploymentConfig
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
    alert_rules: list[AlertRuleConfig] = Field(default_factory=list)

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


def _validate_connectors(raw: Any, source: YamlSource, issues: list[str]) -> list[ConnectorConfig]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        issues.append(source.issue(("connectors",), "must be a list of connectors"))
        return []
    types = connector_types()
    out: list[ConnectorConfig] = []
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
                    (*loc, "type"), f"unknown connector type {type_name!r} (known: {known})"
                )
            )
            continue
        try:
            out.append(manifest.config.model_validate(item))
        except ValidationError as err:
            issues.extend(_issues_from(err, source, loc))
    return out


def _issues_from(
    err: ValidationError, source: YamlSource, prefix: tuple[int | str, ...] = ()
) -> list[str]:
    out = []
    for problem in err.errors(include_url=False):
        loc = (*prefix, *problem["loc"])
        # pydantic puts the tag of a union or a validator name in the loc; drop non-path parts
        loc = tuple(p for p in loc if isinstance(p, int) or not str(p).startswith("function-"))
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
            if str(loc[-1]).lower() in ("password", "secret", "token"):
                message += " (secrets come from the environment: use password_env)"
        elif problem["type"] == "missing":
            message = f"field required: {loc[-1]}"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        out.append(source.issue(loc, message))
    return out


def _cross_check(config: FactoryConfig) -> list[Located]:
    """References between sections: every name used is defined, every name unique."""
    problems: list[Located] = []

    def unique(section: str, names: list[str]) -> None:
        seen: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                problems.append(
                    Located(
                        (section, i, "name" if section != "assets" else "path"),
                        f"{name!r} is defined twice (also at index {seen[name]})",
                    )
                )
            seen[name] = i

    unique("assets", [a.path for a in config.assets])
    unique("connectors", [c.name for c in config.connectors])
    unique("pipelines", [p.name for p in config.pipelines])
    unique("models", [m.name for m in config.models])
    unique("deployments", [d.name for d in config.deployments])
    unique("alert_rules", [r.name for r in config.alert_rules])
    connectors = {c.name for c in config.connectors}
    assets = {a.path: a for a in config.assets}
    for ai, asset in enumerate(config.assets):
        names: dict[str, int] = {}
        for si, signal in enumerate(asset.signals):
            if signal.name in names:
                problems.append(
                    Located(
                        ("assets", ai, "signals", si, "name"),
                        f"signal {signal.name!r} is defined twice on this asset",
                    )
                )
            names[signal.name] = si
            if signal.connector is not None and signal.connector not in connectors:
                problems.append(
                    Located(
                        ("assets", ai, "signals", si, "connector"),
                        f"no connector {signal.connector!r} (defined: "
                        f"{', '.join(sorted(connectors)) or 'none'})",
                    )
                )
            if signal.connector is not None and not signal.source:
                problems.append(
                    Located(
                        ("assets", ai, "signals", si),
                        f"signal {signal.name!r} names a connector but no source",
                    )
                )
    pipelines = {p.name for p in config.pipelines}
    for pi, pipeline in enumerate(config.pipelines):
        source_asset = assets.get(pipeline.asset)
        if source_asset is None:
            problems.append(Located(("pipelines", pi, "asset"), f"no asset {pipeline.asset!r}"))
            continue
        signals = {s.name: s for s in source_asset.signals}
        used = [("sources", n) for n in pipeline.sources] + [
            ("context", n) for n in pipeline.context
        ]
        if pipeline.when is not None:
            used.append(("when", pipeline.when.signal))
        if pipeline.regime is not None:
            used.append(("regime", pipeline.regime.signal))
        for field_name, name in used:
            if name not in signals:
                problems.append(
                    Located(
                        ("pipelines", pi, field_name),
                        f"asset {source_asset.path!r} has no signal {name!r} "
                        f"(known: {', '.join(sorted(signals)) or 'none'})",
                    )
                )
    models = {m.name for m in config.models}
    for mi, model in enumerate(config.models):
        if model.pipeline not in pipelines:
            problems.append(Located(("models", mi, "pipeline"), f"no pipeline {model.pipeline!r}"))
    deployments = {d.name for d in config.deployments}
    for di, deployment in enumerate(config.deployments):
        if deployment.model not in models:
            problems.append(Located(("deployments", di, "model"), f"no model {deployment.model!r}"))
    all_refs = {ref.path: sig for ref, sig in config.iter_signals()}
    for ri, rule in enumerate(config.alert_rules):
        if rule.signal is not None:
            target = all_refs.get(rule.signal)
            if target is None:
                problems.append(
                    Located(
                        ("alert_rules", ri, "signal"),
                        f"no signal {rule.signal!r} (give asset/path/signal)",
                    )
                )
            elif target.kind != SignalKind.SCALAR:
                problems.append(
                    Located(
                        ("alert_rules", ri, "signal"),
                        f"signal {rule.signal!r} is {target.kind}, not scalar",
                    )
                )
        if rule.deployment is not None and rule.deployment not in deployments:
            problems.append(
                Located(("alert_rules", ri, "deployment"), f"no deployment {rule.deployment!r}")
            )
        if rule.writeback is not None and rule.writeback.connector not in connectors:
            problems.append(
                Located(
                    ("alert_rules", ri, "writeback", "connector"),
                    f"no connector {rule.writeback.connector!r}",
                )
            )
    return problems


def load_project(path: str | os.PathLike[str]) -> Project:
    """Load and validate a project from its folder or its ``factory.yaml``.

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
    issues: list[str] = []
    raw = dict(source.data)
    connectors = _validate_connectors(raw.pop("connectors", None), source, issues)
    try:
        config = FactoryConfig.model_validate({**raw, "connectors": []})
    except ValidationError as err:
        issues.extend(_issues_from(err, source))
        config = None
    if config is not None and not issues:
        config = config.model_copy(update={"connectors": connectors})
        issues.extend(source.issue(p.loc, p.message) for p in _cross_check(config))
    if issues or config is None:
        count = len(issues)
        raise ConfigError(
            f"{file}: {count} problem{'s' if count != 1 else ''} in the project file", issues
        )
    return Project(root=file.parent.resolve(), file=file.resolve(), config=config)


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
