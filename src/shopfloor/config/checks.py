"""Checks across the sections of a project file, run on every item that validated.

Each section's items are validated one by one (:func:`shopfloor.config.project.load_project`);
the checks here then look at what the items say about each other, so that one run reports
every problem: names used but never defined, names defined twice, a signal's
``source_options`` against its connector type's model, one source address bound to two
signals, pipeline step and output parameters, feature names against the feature catalogue,
alert columns that no step produces, write-back targets outside the allow-list (or on a
connector that cannot write), and sections that nothing runs yet.

A reference to an item that is written but invalid is not reported again: the item's own
problem is.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from shopfloor.config.issues import did_you_mean, located_from
from shopfloor.config.source import Located
from shopfloor.connectors.config import ConnectorConfig
from shopfloor.connectors.registry import connector_types
from shopfloor.errors import PipelineError, WriteRefused
from shopfloor.ml.config import ModelConfig
from shopfloor.model import Asset, Signal, SignalKind, SignalRef
from shopfloor.model.deployment import IMAGE_OUTPUTS, OUTPUTS
from shopfloor.pipelines.config import PipelineConfig
from shopfloor.pipelines.params import (
    OUTPUT_PARAMS,
    STEP_PARAMS,
    AlertOutputParams,
    FeaturesParams,
    ModelParams,
    StoreOutputParams,
)
from shopfloor.runtime.config import (
    TEMPLATE_FIELDS,
    AlertRuleConfig,
    DeploymentConfig,
    RejectConfig,
)
from shopfloor.runtime.notifiers.config import NotifierConfig
from shopfloor.runtime.writeback.config import WritebackConnectorConfig, WritebackTargetConfig

__all__ = ["UNSUPPORTED_SECTIONS", "Sections", "check_sections"]

Loc = tuple[int | str, ...]

UNSUPPORTED_SECTIONS: dict[str, str] = {}
"""Sections that validate but that nothing runs yet, with the reason given to the user."""


@dataclass
class Sections:
    """The items of each list section that validated, with their index in the file."""

    raw: dict[str, Any]
    assets: list[tuple[int, Asset]] = field(default_factory=list)
    connectors: list[tuple[int, ConnectorConfig]] = field(default_factory=list)
    pipelines: list[tuple[int, PipelineConfig]] = field(default_factory=list)
    models: list[tuple[int, ModelConfig]] = field(default_factory=list)
    deployments: list[tuple[int, DeploymentConfig]] = field(default_factory=list)
    alert_rules: list[tuple[int, AlertRuleConfig]] = field(default_factory=list)
    notifiers: list[tuple[int, NotifierConfig]] = field(default_factory=list)
    writeback: list[tuple[int, WritebackConnectorConfig]] = field(default_factory=list)
    rejects: list[tuple[int, RejectConfig]] = field(default_factory=list)
    columns: dict[str, list[str] | None] = field(default_factory=dict)
    """The columns each checked pipeline's steps produce (None: not known without building)."""
    partial_assets: dict[str, Asset] = field(default_factory=dict)
    """Assets with a wrong signal, holding their valid signals: enough to check pipelines."""

    def written(self, section: str, key: str = "name") -> set[str]:
        """Every ``key`` written in ``section``, whether its item validated or not."""
        items = self.raw.get(section)
        if not isinstance(items, list):
            return set()
        return {str(i[key]) for i in items if isinstance(i, dict) and key in i}

    def raw_item(self, *loc: int | str) -> Any:
        """The value at ``loc`` as written, or None."""
        value: Any = self.raw
        for part in loc:
            in_list = isinstance(value, list) and isinstance(part, int) and part < len(value)
            if not (in_list or (isinstance(value, dict) and part in value)):
                return None
            value = value[part]
        return value


def check_sections(sections: Sections, *, build: bool = True) -> list[Located]:
    """Every problem between the sections.

    Parameters
    ----------
    sections : Sections
        The sections of the project file, each item validated on its own.
    build : bool, default True
        Build each pipeline (its feature catalog and steps, which import scipy) to check
        the feature names and what only building tells; off, those checks are skipped.
    """
    problems: list[Located] = []
    problems += _unsupported(sections)
    problems += _unique_names(sections)
    problems += _signals(sections)
    problems += _bindings(sections)
    problems += _connector_options(sections)
    for pi, pipeline in sections.pipelines:
        problems += _pipeline(sections, pi, pipeline, build=build)
    problems += _models_and_rules(sections)
    problems += _writeback(sections)
    problems += _rejects(sections)
    return problems


def _unsupported(sections: Sections) -> Iterator[Located]:
    for section, reason in UNSUPPORTED_SECTIONS.items():
        if sections.raw.get(section):
            yield Located((section,), f"section {section!r} is not supported yet: {reason}")


def _unique_names(sections: Sections) -> list[Located]:
    problems: list[Located] = []

    def unique(section: str, items: list[tuple[int, str]], key: str = "name") -> None:
        seen: dict[str, int] = {}
        for i, name in items:
            if name in seen:
                problems.append(
                    Located(
                        (section, i, key), f"{name!r} is defined twice (also at index {seen[name]})"
                    )
                )
            else:
                seen[name] = i

    unique("assets", [(i, a.path) for i, a in sections.assets], "path")
    unique("connectors", [(i, c.name) for i, c in sections.connectors])
    unique("pipelines", [(i, p.name) for i, p in sections.pipelines])
    unique("models", [(i, m.name) for i, m in sections.models])
    unique("deployments", [(i, d.name) for i, d in sections.deployments])
    unique("alert_rules", [(i, r.name) for i, r in sections.alert_rules])
    unique("notifiers", [(i, n.name) for i, n in sections.notifiers])
    unique("writeback", [(i, w.connector) for i, w in sections.writeback], "connector")
    return problems


def _connector_types_by_name(sections: Sections) -> dict[str, str]:
    items = sections.raw.get("connectors")
    if not isinstance(items, list):
        return {}
    return {
        str(i["name"]): str(i.get("type"))
        for i in items
        if isinstance(i, dict) and "name" in i and i.get("type") is not None
    }


def _signal_options_model(sections: Sections, connector: str) -> type[BaseModel] | None:
    manifest = connector_types().get(_connector_types_by_name(sections).get(connector, ""))
    return None if manifest is None else manifest.config.signal_options


def _signals(sections: Sections) -> Iterator[Located]:
    connectors = sections.written("connectors")
    for ai, asset in sections.assets:
        names: set[str] = set()
        for si, signal in enumerate(asset.signals):
            loc: Loc = ("assets", ai, "signals", si)
            if signal.name in names:
                yield Located(
                    (*loc, "name"), f"signal {signal.name!r} is defined twice on this asset"
                )
            names.add(signal.name)
            if signal.connector is None:
                if signal.source_options:
                    yield Located(
                        (*loc, "source_options"), "source_options without a connector is not used"
                    )
                continue
            if signal.connector not in connectors:
                yield Located(
                    (*loc, "connector"),
                    f"no connector {signal.connector!r}"
                    f"{did_you_mean(signal.connector, connectors)} (defined: "
                    f"{', '.join(sorted(connectors)) or 'none'})",
                )
                continue
            if not signal.source:
                yield Located(loc, f"signal {signal.name!r} names a connector but no source")
            model = _signal_options_model(sections, signal.connector)
            if model is not None:
                try:
                    model.model_validate(signal.source_options)
                except ValidationError as err:
                    yield from located_from(err, (*loc, "source_options"), model)
                    continue
            connector = next(
                (c for _, c in sections.connectors if c.name == signal.connector), None
            )
            problem = (
                None
                if connector is None or not signal.source
                else connector.source_problem(signal.source, signal.source_options)
            )
            if problem is not None:
                yield Located((*loc, "source"), problem)


def _connector_options(sections: Sections) -> Iterator[Located]:
    for ci, connector in sections.connectors:
        for name, model in connector.option_models().items():
            try:
                model.model_validate(getattr(connector, name))
            except ValidationError as err:
                yield from located_from(err, ("connectors", ci, name), model)


def _addresses(signal: Signal) -> list[tuple[str, Loc]]:
    """The source addresses a signal reads, with where each is written (relative)."""
    out: list[tuple[str, Loc]] = []
    if signal.source:
        out.append((signal.source, ("source",)))
    nodes = signal.source_options.get("channel_nodes")
    if isinstance(nodes, list):
        out += [
            (str(n), ("source_options", "channel_nodes", k))
            for k, n in enumerate(nodes)
            if str(n) != signal.source
        ]
    return out


def _bindings(sections: Sections) -> Iterator[Located]:
    """One address of one connector feeds one signal: a second would silently get nothing."""
    bound: dict[tuple[str, str], SignalRef] = {}
    for ai, asset in sections.assets:
        for si, signal in enumerate(asset.signals):
            if signal.connector is None:
                continue
            for address, rel in _addresses(signal):
                key = (signal.connector, address)
                ref = SignalRef(asset.path, signal.name)
                first = bound.get(key)
                if first is None:
                    bound[key] = ref
                elif first != ref:
                    yield Located(
                        ("assets", ai, "signals", si, *rel),
                        f"{address!r} of connector {signal.connector!r} is already bound to "
                        f"signal {first.path!r}: one source feeds one signal",
                    )
                else:
                    yield Located(
                        ("assets", ai, "signals", si, *rel),
                        f"{address!r} is given twice for signal {ref.path!r}: "
                        "one source feeds one channel",
                    )


def _step_loc(sections: Sections, pi: int, sj: int, kind: str, section: str = "steps") -> Loc:
    """Where a step's (or output's) parameters are written: ``{kind: {...}}`` or ``params``."""
    raw = sections.raw_item("pipelines", pi, section, sj)
    if isinstance(raw, dict) and "kind" not in raw and len(raw) == 1:
        return ("pipelines", pi, section, sj, kind)
    return ("pipelines", pi, section, sj, "params")


def _channels(asset: Asset, pipeline: PipelineConfig) -> list[str]:
    """The channel names of a pipeline's windows, as :class:`Pipeline` names them."""
    signals = {s.name: s for s in asset.signals}
    sources = [signals[n] for n in pipeline.sources if n in signals]
    channels: list[str] = []
    for signal in sources:
        if not signal.channels:
            channels.append(signal.name)
        elif len(sources) > 1:
            channels += [f"{signal.name}.{c}" for c in signal.channels]
        else:
            channels += list(signal.channels)
    return channels


def _feature_columns(
    params: FeaturesParams, asset: Asset, channels: list[str], loc: Loc
) -> tuple[list[str] | None, list[Located]]:
    """The columns of a features step and the problems of its feature names."""
    from shopfloor.features import FeatureSet  # scipy: only when a pipeline has features

    bearing = asset.bearing if params.bearing == "asset" else params.bearing
    keywords = params.model_dump(exclude={"features", "speed", "bearing"})
    try:
        catalog_set = FeatureSet(None, **{**keywords, "bearing": bearing})
    except (TypeError, ValueError, PipelineError) as err:
        return None, [Located(loc, f"features step: {err}")]
    catalog = [n for n in catalog_set.catalog() if n != "shaft_hz" or params.features]
    problems: list[Located] = []
    names: list[str] = []
    for k, selector in enumerate(params.features if params.features is not None else ["*"]):
        problem = catalog_set.selector_problem(selector)
        if problem is not None:
            problems.append(Located((*loc, "features", k), problem))
            continue
        names += [n for n in catalog if fnmatch.fnmatchcase(n, selector) and n not in names]
    channels = channels or [""]
    columns = [f"{n}.{c}" if len(channels) > 1 else n for n in names for c in channels]
    return columns, problems


def _step_columns(
    sections: Sections, pi: int, pipeline: PipelineConfig, asset: Asset, *, build: bool
) -> tuple[list[str] | None, list[Located]]:
    """The columns the steps produce (None when a step is too wrong to tell) and problems."""
    problems: list[Located] = []
    columns: list[str] | None = []
    for sj, step in enumerate(pipeline.steps):
        loc = _step_loc(sections, pi, sj, step.kind)
        model = STEP_PARAMS.get(step.kind)
        if model is None:
            problems.append(
                Located(
                    ("pipelines", pi, "steps", sj),
                    f"unknown step {step.kind!r}{did_you_mean(step.kind, STEP_PARAMS)} "
                    f"(known: {', '.join(STEP_PARAMS)})",
                )
            )
            columns = None
            continue
        try:
            params = model.model_validate(step.params)
        except ValidationError as err:
            problems += located_from(err, loc, model)
            columns = _columns_despite(step.kind, step.params, columns)
            continue
        if isinstance(params, FeaturesParams):
            if params.speed is not None and params.speed not in pipeline.context:
                problems.append(
                    Located(
                        (*loc, "speed"),
                        f"speed signal {params.speed!r} must be listed in the pipeline's "
                        f"context (context: {', '.join(pipeline.context) or 'none'})",
                    )
                )
            if not build:
                columns = None  # the columns come from the feature catalog, left unread
                continue
            found, bad = _feature_columns(params, asset, _channels(asset, pipeline), loc)
            problems += bad
            columns = found if sj == 0 else None
        elif isinstance(params, ModelParams) and columns is not None:
            for k, name in enumerate(params.columns or []):
                if name not in columns:
                    problems.append(_no_column(name, columns, (*loc, "columns", k)))
            columns = [*columns, params.output]
    return columns, problems


def _columns_despite(
    kind: str, params: dict[str, Any], columns: list[str] | None
) -> list[str] | None:
    """The columns after a step whose parameters are wrong, when they can still be told.

    A scaler keeps its input's columns whatever its parameters; a model adds its ``output``.
    So a misspelt scaler option does not hide a wrong alert column further down.
    """
    if columns is None or kind == "features":
        return None
    if kind == "model":
        output = params.get("output", ModelParams.model_fields["output"].default)
        return [*columns, output] if isinstance(output, str) else None
    return columns


def _no_column(name: str, columns: list[str], loc: Loc) -> Located:
    shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return Located(
        loc,
        f"no step produces column {name!r}{did_you_mean(name, columns)} "
        f"(columns: {shown or 'none'})",
    )


def _outputs(
    sections: Sections, pi: int, pipeline: PipelineConfig, columns: list[str] | None
) -> Iterator[Located]:
    for oj, output in enumerate(pipeline.outputs):
        loc = _step_loc(sections, pi, oj, output.kind, "outputs")
        model = OUTPUT_PARAMS[output.kind]
        try:
            params = model.model_validate(output.params)
        except ValidationError as err:
            yield from located_from(err, loc, model)
            continue
        if columns is None:
            continue
        if isinstance(params, AlertOutputParams) and params.column not in columns:
            yield _no_column(params.column, columns, (*loc, "column"))
        elif isinstance(params, StoreOutputParams):
            for k, pattern in enumerate(params.columns or []):
                if not any(fnmatch.fnmatchcase(c, pattern) for c in columns):
                    yield _no_column(pattern, columns, (*loc, "columns", k))


def _written_signals(sections: Sections, path: str) -> set[str]:
    """Names of the signals written for the asset at ``path``, valid or not."""
    for item in sections.raw.get("assets") or []:
        if isinstance(item, dict) and item.get("path") == path:
            signals = item.get("signals")
            if isinstance(signals, list):
                return {str(s["name"]) for s in signals if isinstance(s, dict) and "name" in s}
    return set()


def _pipeline(
    sections: Sections, pi: int, pipeline: PipelineConfig, *, build: bool
) -> list[Located]:
    assets = {**sections.partial_assets, **{a.path: a for _, a in sections.assets}}
    asset = assets.get(pipeline.asset)
    if asset is None:
        if pipeline.asset in sections.written("assets", "path"):
            return []  # the asset itself is wrong, and said so
        return [
            Located(
                ("pipelines", pi, "asset"),
                f"no asset {pipeline.asset!r}{did_you_mean(pipeline.asset, assets)}",
            )
        ]
    problems: list[Located] = []
    signals = {s.name: s for s in asset.signals}
    used: list[tuple[Loc, str]] = [(("sources", k), n) for k, n in enumerate(pipeline.sources)]
    used += [(("context", k), n) for k, n in enumerate(pipeline.context)]
    if pipeline.when is not None:
        used.append((("when", "signal"), pipeline.when.signal))
    if pipeline.regime is not None:
        used.append((("regime", "signal"), pipeline.regime.signal))
    written = set(signals) | _written_signals(sections, asset.path)
    for rel, name in used:
        if name not in written:
            problems.append(
                Located(
                    ("pipelines", pi, *rel),
                    f"asset {asset.path!r} has no signal {name!r}{did_you_mean(name, signals)} "
                    f"(known: {', '.join(sorted(signals)) or 'none'})",
                )
            )
    if any(name not in signals for _, name in used):
        return problems  # a signal it uses is wrong itself: the steps cannot be told
    columns, step_problems = _step_columns(sections, pi, pipeline, asset, build=build)
    sections.columns[pipeline.name] = columns
    problems += step_problems
    problems += _outputs(sections, pi, pipeline, columns)
    if build and not problems and asset.path not in sections.partial_assets:
        problems += _build(pi, pipeline, asset)
    return problems


def _build(pi: int, pipeline: PipelineConfig, asset: Asset) -> list[Located]:
    """What building the pipeline still refuses (window too short, step order, ...)."""
    from shopfloor.pipelines.pipeline import Pipeline  # numpy/scipy: only when there is one

    try:
        Pipeline(pipeline, asset)
    except (PipelineError, ValueError) as err:
        return [Located(("pipelines", pi), str(err))]
    return []


def _models_and_rules(sections: Sections) -> Iterator[Located]:
    pipelines = sections.written("pipelines")
    for mi, model in sections.models:
        if model.pipeline not in pipelines:
            yield Located(("models", mi, "pipeline"), f"no pipeline {model.pipeline!r}")
        yield from _model_type(mi, model)
    models = sections.written("models")
    assets = sections.written("assets", "path")
    for di, deployment in sections.deployments:
        if models and deployment.model not in models:  # else: a model trained from the CLI
            yield Located(("deployments", di, "model"), f"no model {deployment.model!r}")
        for ai, asset in enumerate(deployment.assets):
            if asset not in assets:
                yield Located(
                    ("deployments", di, "assets", ai),
                    f"no asset {asset!r}{did_you_mean(asset, assets)}",
                )
    yield from _rules(sections)


def _model_type(mi: int, model: ModelConfig) -> Iterator[Located]:
    """A ``models:`` entry's type must exist and take its ``params`` (nothing is fitted)."""
    from shopfloor.errors import ModelError
    from shopfloor.ml.base import build_model, model_types  # imported only when there are models

    known = model_types()
    if model.type not in known:
        yield Located(
            ("models", mi, "type"),
            f"unknown model type {model.type!r}{did_you_mean(model.type, known)} "
            f"(known: {', '.join(sorted(known))})",
        )
        return
    try:
        build_model(model.type, model.params)
    except ModelError as err:
        yield Located(("models", mi, "params"), str(err))


def _derived_signals(sections: Sections) -> tuple[set[str], list[str]]:
    """The scalar signals the pipelines' store outputs write.

    Returns their paths, and the path prefixes under which a pipeline writes signals whose
    names are not known without building it.
    """
    exact: set[str] = set()
    prefixes: list[str] = []
    for _, pipeline in sections.pipelines:
        columns = sections.columns.get(pipeline.name)
        for output in pipeline.outputs:
            if output.kind != "store":
                continue
            try:
                params = StoreOutputParams.model_validate(output.params)
            except ValidationError:
                continue  # said where the output is checked
            prefix = f"{pipeline.asset}/{params.prefix or pipeline.name + '.'}"
            if columns is None:
                prefixes.append(prefix)
                continue
            patterns = params.columns or ["*"]
            exact |= {
                prefix + c for c in columns if any(fnmatch.fnmatchcase(c, p) for p in patterns)
            }
    return exact, prefixes


def _deployment_output(path: str, assets: set[str]) -> bool:
    """Whether ``path`` is a deployment's output on a known asset (deployments change live)."""
    asset, _, name = path.rpartition("/")
    deployment, dot, output = name.rpartition(".")
    return asset in assets and bool(deployment and dot) and output in (*OUTPUTS, *IMAGE_OUTPUTS)


def _rules(sections: Sections) -> Iterator[Located]:
    notifiers = sections.written("notifiers")
    all_refs = {SignalRef(a.path, s.name).path: s for _, a in sections.assets for s in a.signals}
    written_assets = sections.written("assets", "path")
    derived, prefixes = _derived_signals(sections)
    for ri, rule in sections.alert_rules:
        for k, name in enumerate(rule.notify or []):
            if name not in notifiers:
                yield Located(
                    ("alert_rules", ri, "notify", k),
                    f"no notifier {name!r}{did_you_mean(name, notifiers)} "
                    f"(notifiers: {', '.join(sorted(notifiers)) or 'none'})",
                )
        if rule.signal is not None:
            target = all_refs.get(rule.signal)
            if target is not None:
                if target.kind != SignalKind.SCALAR:
                    yield Located(
                        ("alert_rules", ri, "signal"),
                        f"signal {rule.signal!r} is {target.kind}, not scalar",
                    )
            elif (
                rule.signal not in derived
                and not any(rule.signal.startswith(p) for p in prefixes)
                and not _deployment_output(rule.signal, written_assets)
            ):
                asset = rule.signal.rpartition("/")[0]
                if asset in written_assets and asset not in {a.path for _, a in sections.assets}:
                    continue  # the asset itself is wrong, and said so
                known = sorted({*all_refs, *derived})
                yield Located(
                    ("alert_rules", ri, "signal"),
                    f"no asset or pipeline output declares signal {rule.signal!r}"
                    f"{did_you_mean(rule.signal, known)} (give asset/path/signal)",
                )
        yield from _rule_writeback(sections, ri, rule)


def _writable_problem(sections: Sections, connector: str) -> str | None:
    """Why ``connector`` cannot write back (unknown, or of a type without write support)."""
    types = _connector_types_by_name(sections)
    if connector not in sections.written("connectors"):
        return (
            f"no connector {connector!r}{did_you_mean(connector, types)} "
            f"(connectors: {', '.join(sorted(types)) or 'none'})"
        )
    manifest = connector_types().get(types.get(connector, ""))
    if manifest is not None and not manifest.writable:
        able = sorted(t for t, m in connector_types().items() if m.writable)
        return (
            f"connector {connector!r} is of type {manifest.type!r}, which cannot write back "
            f"(types that can: {', '.join(able) or 'none'})"
        )
    return None


def _writeback(sections: Sections) -> Iterator[Located]:
    """The allow-list names connectors that exist and can write."""
    for wi, entry in sections.writeback:
        problem = _writable_problem(sections, entry.connector)
        if problem is not None:
            yield Located(("writeback", wi, "connector"), problem)


_SAMPLE_FIELDS = {name: "0" if name == "value" else "x" for name in TEMPLATE_FIELDS}
"""What a write-back text is filled with to check it against its target's type."""


def _allowed(
    sections: Sections, loc: Loc, connector: str, address: str
) -> tuple[list[Located], WritebackTargetConfig | None]:
    """The allow-listed target at ``address`` of ``connector``, or the problems saying why not."""
    problem = _writable_problem(sections, connector)
    if problem is not None:
        return [Located((*loc, "connector"), problem)], None
    allow = {entry.connector: entry for _, entry in sections.writeback}
    listed = {
        str(i.get("connector")) for i in sections.raw.get("writeback") or [] if isinstance(i, dict)
    }
    entry = allow.get(connector)
    if entry is None:
        if connector in listed:  # the entry itself is wrong, and said so
            return [], None
        return [
            Located(
                (*loc, "connector"),
                f"connector {connector!r} has no entry in the writeback allow-list: "
                "nothing is written to a machine unless it is listed there",
            )
        ], None
    allowed = entry.target(address)
    if allowed is None:
        addresses = [t.address for t in entry.targets]
        return [
            Located(
                (*loc, "address"),
                f"{address!r} is not in the writeback allow-list of connector "
                f"{connector!r}{did_you_mean(address, addresses)} "
                f"(allowed: {', '.join(addresses)})",
            )
        ], None
    return [], allowed


def _rule_writeback(sections: Sections, ri: int, rule: AlertRuleConfig) -> Iterator[Located]:
    """Each write-back of a rule targets an allow-listed address with a value that fits."""
    single = isinstance(sections.raw_item("alert_rules", ri, "writeback"), dict)
    for k, target in enumerate(rule.writeback):
        loc: Loc = (
            ("alert_rules", ri, "writeback") if single else ("alert_rules", ri, "writeback", k)
        )
        problems, allowed = _allowed(sections, loc, target.connector, target.address)
        yield from problems
        if allowed is None:
            continue
        for key in ("value", "reset"):
            value = getattr(target, key)
            if value is None:
                continue
            if isinstance(value, str):
                value = value.format_map(_SAMPLE_FIELDS)
            try:
                allowed.admit(value, what=f"{target.connector} {target.address}")
            except WriteRefused as err:
                yield Located((*loc, key), str(err))


def _rejects(sections: Sections) -> Iterator[Located]:
    """Each reject gate is an allow-listed target that takes a part id, of a known deployment."""
    deployments = sections.written("deployments")
    for ri, reject in sections.rejects:
        problems, allowed = _allowed(sections, ("rejects", ri), reject.connector, reject.address)
        yield from problems
        if allowed is not None:
            try:
                allowed.admit(12345, what=f"{reject.connector} {reject.address}")
            except WriteRefused as err:
                yield Located(
                    ("rejects", ri, "address"), f"it cannot take a part id such as 12345: {err}"
                )
            if not allowed.queue:
                yield Located(
                    ("rejects", ri, "address"),
                    f"{reject.address!r} of connector {reject.connector!r} keeps only the latest "
                    "value (a part id written meanwhile would be lost): give it queue: true in "
                    "the writeback allow-list",
                )
        if deployments and reject.deployment not in deployments:
            yield Located(
                ("rejects", ri, "deployment"),
                f"no deployment {reject.deployment!r} in the project"
                f"{did_you_mean(reject.deployment, deployments)} (deployments: "
                f"{', '.join(sorted(deployments))}); one made with 'shopfloor deploy' counts "
                "when the file has none",
            )
