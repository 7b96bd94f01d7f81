"""Both use cases on one platform: the simulators, the project, the stages in turn.

:func:`prepare_demo` writes the demo project (use case 1's CNC and use case 2's
packaging line in one ``factory.yaml``); :func:`run_demo` starts the CNC simulator (OPC
UA) and the packaging line's PLC (Modbus TCP), then the platform on the embedded store
and bus with its real connectors to both, and runs use case 1 (:mod:`.cnc`), then use
case 2 (:mod:`.packaging`). It returns both results and what the second reused.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shopfloor.config import Project, find_project, load_project
from shopfloor.errors import ConfigError, ShopfloorError
from shopfloor.ml.base import model_types
from shopfloor.node import ApiFactory, Platform
from shopfloor.node.services import project_services
from shopfloor.services.demo import packaging
from shopfloor.services.demo.cnc import CncResult, cnc_project_text, cnc_simulator, run_cnc
from shopfloor.services.demo.common import DemoReporter, UseCaseOutcome, free_port
from shopfloor.services.demo.packaging import (
    PACKAGING_CONFIG,
    PackagingResult,
    packaging_connectors,
    packaging_line,
    packaging_project_text,
    run_packaging,
)
from shopfloor.services.demo.summary import CodeTrace, Reuse, measure_reuse, summary_rows
from shopfloor.services.options import DemoOptions

if TYPE_CHECKING:
    from shopfloor.sim.packaging.line import PackagingLine
    from shopfloor.sim.packaging.plc import PackagingPlc

__all__ = ["DemoResult", "DemoSetup", "demo_project_text", "prepare_demo", "run_demo"]


@dataclass(frozen=True)
class DemoSetup:
    """The demo project, where the simulators listen, and what use case 2 lacks.

    ``unavailable`` says why use case 2's classifier or rules could not be configured
    on this installation (then the project holds the packaging line alone).
    """

    project: Project
    opcua_port: int
    plc_port: int
    unavailable: str = ""


def demo_project_text(
    opcua_port: int,
    *,
    notifiers: str = "[]",
    plc_port: int | None = None,
    line_only: bool = False,
) -> str:
    """The demo's ``factory.yaml``: use case 1, and use case 2 when ``plc_port`` is given.

    ``notifiers`` is the YAML of the project's ``notifiers:`` list (none in the demo);
    ``line_only`` leaves use case 2's classifier and rules out.
    """
    text = cnc_project_text(opcua_port, notifiers=notifiers)
    if plc_port is not None:
        only = packaging.LINE_SECTIONS if line_only else None
        text = packaging_project_text(text, plc_port, sections_only=only)
    return text


def prepare_demo(options: DemoOptions) -> DemoSetup:
    """Write the demo project (fresh ports, any API port); return it and the ports.

    The project's state, plot, batch, hot folder and ground truth of an earlier run are
    removed first. When use case 2's classifier or rules do not load here (an older
    installation), the project holds the packaging line alone and says why.
    """
    folder = options.folder
    folder.mkdir(parents=True, exist_ok=True)
    stale = (".shopfloor", "health_trend.png", packaging.CAMERA, packaging.BATCH)
    for name in (*stale, f"{packaging.CAMERA}-labels.csv"):
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    (folder / packaging.CAMERA).mkdir()
    opcua, plc = free_port(), free_port()
    target = folder / "factory.yaml"
    target.write_text(demo_project_text(opcua, plc_port=plc), encoding="utf-8")
    try:
        return DemoSetup(load_project(find_project(folder)), opcua, plc)
    except ConfigError as err:
        unavailable = f"use case 2's configuration does not load here: {err}"
    target.write_text(demo_project_text(opcua, plc_port=plc, line_only=True), encoding="utf-8")
    return DemoSetup(load_project(find_project(folder)), opcua, plc, unavailable)


@dataclass
class DemoResult:
    """Both use cases' results, what the second reused, and how long it all took."""

    project: Project
    cnc: CncResult
    packaging: PackagingResult
    reuse: Reuse
    seconds: float

    def outcomes(self) -> list[UseCaseOutcome]:
        """Use case 1's and use case 2's figures and checks."""
        return [self.cnc.outcome(), self.packaging.outcome()]

    @property
    def ok(self) -> bool:
        """Both use cases met their checks."""
        return all(o.ok for o in self.outcomes())

    def table(self) -> list[tuple[str, ...]]:
        """The summary table (a header row first)."""
        return summary_rows(self.outcomes(), self.reuse)


async def run_demo(
    options: DemoOptions,
    setup: DemoSetup,
    reporter: DemoReporter,
    api: ApiFactory | None = None,
) -> DemoResult:
    """Run both simulators and the platform; use case 1, then use case 2.

    ``api`` builds the platform's HTTP API (the caller's choice: services sit below it).

    Raises
    ------
    ShopfloorError
        When a simulator, the platform, or use case 1's training or deployment fails
        (use case 2 ends as not available, with the reason, when it cannot run here).
    """
    from shopfloor.sim.packaging.plc import PackagingPlc

    started = time.perf_counter()
    trace = CodeTrace()
    project = setup.project
    sim = cnc_simulator(options, setup.opcua_port)
    line = packaging_line(options)
    await sim.start()
    try:
        async with PackagingPlc(line, port=setup.plc_port) as plc:
            # connectors, the alert engine and the deployment runtime (no pipeline shortcut)
            platform = Platform.from_project(
                project, api=api, services=project_services(project, pipelines=False)
            )
            try:
                await platform.start()
                reporter.step(f"platform API {platform.api_url}")
                reporter.section("use case 1: condition monitoring of a CNC spindle (OPC UA)")
                uc1 = await run_cnc(options, platform, sim, reporter)
                reporter.step(uc1.stored())
                await sim.stop()  # the CPU to use case 2; the connector retries in the background
                reporter.step(
                    "the CNC simulator stops here, to leave the CPU to use case 2 (its OPC UA "
                    "connector shows it disconnected and keeps retrying)"
                )
                reporter.section(
                    "use case 2: defect classification on a packaging line (hot folder + Modbus)"
                )
                if setup.unavailable:
                    uc2 = PackagingResult(False, setup.unavailable)
                    reporter.step(f"not available: {setup.unavailable}")
                else:
                    uc2 = await _run_packaging(options, platform, line, plc, reporter, trace)
            finally:
                await platform.stop()
    finally:
        await sim.stop()
    return DemoResult(
        project=project,
        cnc=uc1,
        packaging=uc2,
        reuse=_measure(trace, project),
        seconds=time.perf_counter() - started,
    )


async def _run_packaging(
    options: DemoOptions,
    platform: Platform,
    line: PackagingLine,
    plc: PackagingPlc,
    reporter: DemoReporter,
    trace: CodeTrace,
) -> PackagingResult:
    """Use case 2, recording the platform code it runs (blocking work in new threads)."""
    trace.start()
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(thread_name_prefix="packaging")
    )
    try:
        return await run_packaging(options, platform, line, plc, reporter)
    except ShopfloorError as err:
        return PackagingResult(False, f"{type(err).__name__}: {err}")
    finally:
        trace.stop()


def _uc1_plug_ins(project: Project) -> tuple[str, ...]:
    """Use case 1's own plug-ins, which keep running beside use case 2.

    Its connectors' packages, the feature pipelines and the (vibration) features.
    """
    from shopfloor.connectors.registry import manifest_for

    uc2 = {c.name for c in packaging_connectors(project)}
    packages = {
        manifest_for(c.type).connector.partition(":")[0].rpartition(".")[0]
        for c in project.config.connectors
        if c.name not in uc2
    }
    return (*sorted(packages), "shopfloor.pipelines", "shopfloor.features")


_IMAGES = (
    "shopfloor.features.images",
    "shopfloor.features.texture",
    "shopfloor.ml.images",
    "shopfloor.model.imaging",
    "shopfloor.runtime.deployments.images",
    "shopfloor.services.image_models",
)
"""Modules that exist for image use cases (any of them, not this line's)."""


def _measure(trace: CodeTrace, project: Project) -> Reuse:
    model_type = model_types().get(packaging.MODEL_TYPE)
    return measure_reuse(
        trace,
        config=PACKAGING_CONFIG,
        code=Path(packaging.__file__),
        images=(*_IMAGES, *([] if model_type is None else [model_type.__module__])),
        leave_out=_uc1_plug_ins(project),
        left_out="not counting use case 1's OPC UA connector, feature pipeline and "
        "vibration features, which ran beside it",
    )
