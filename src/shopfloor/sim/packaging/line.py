"""The packaging line: parts at a line speed, their ground truth, counts and a reject gate.

:class:`PackagingLine` decides, part by part and from its seed alone, which defect each
part carries and renders its image (:mod:`.images`); a :class:`PartWriter` hands the
images on. :class:`HotFolderWriter` drops them into a folder as a line camera does
(atomically by default, or in two slow halves as an FTP upload arrives, to exercise a
watcher's handling of partial files) and logs the ground truth as CSV;
:class:`~shopfloor.sim.packaging.publish.MqttCamera` publishes them over MQTT. The reject
gate counts what the platform rejected and whether it was right: the figures a value
report needs (scrap caught, good parts rejected).

Examples
--------
>>> line = PackagingLine(PackagingSimConfig(seed=3, size=64))
>>> [line.next_part().defect for _ in range(3)] == [
...     p.defect for p in PackagingLine(PackagingSimConfig(seed=3, size=64)).parts(3)
... ]
True
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopfloor.model import NS_PER_S, format_ns, now_ns
from shopfloor.sim.packaging.images import DEFECTS, Defect, RenderParams, render_part

__all__ = [
    "GroundTruthLog",
    "HotFolderWriter",
    "LineCounts",
    "PackagingLine",
    "PackagingSimConfig",
    "Part",
    "PartWriter",
    "encode_image",
]

GATE_MEMORY = 10_000
"""Parts the reject gate can still act on (the newest ones)."""

DEFAULT_RATES: dict[str, float] = {
    "good": 0.88,
    "dented": 0.025,
    "torn_seal": 0.025,
    "misprinted_label": 0.025,
    "contamination": 0.025,
    "misaligned_cap": 0.02,
}


class PackagingSimConfig(BaseModel):
    """The simulated line: speed, camera, defect mix, variation, seed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 1
    speed_parts_s: Annotated[float, Field(gt=0, le=50)] = 5.0
    size: Annotated[int, Field(ge=32, le=1024)] = 128
    image_format: Literal["png", "jpeg"] = "png"
    defect_rates: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default_factory=lambda: dict(DEFAULT_RATES),
        description="Share of each class (normalised); classes left out do not occur.",
    )
    position_jitter: Annotated[float, Field(ge=0, le=0.15)] = 0.04
    rotation_deg: Annotated[float, Field(ge=0, le=45)] = 6.0
    noise: Annotated[float, Field(ge=0, le=0.3)] = 0.02
    line_name: str = "line1"

    @model_validator(mode="after")
    def _rates(self) -> PackagingSimConfig:
        unknown = sorted(set(self.defect_rates) - set(DEFECTS))
        if unknown:
            raise ValueError(
                f"defect_rates: unknown class(es) {', '.join(unknown)} (known: "
                f"{', '.join(DEFECTS)})"
            )
        if sum(self.defect_rates.values()) <= 0:
            raise ValueError("defect_rates: at least one class needs a share above 0")
        return self

    @property
    def render(self) -> RenderParams:
        """The image variation as the renderer takes it."""
        return RenderParams(
            position_jitter=self.position_jitter, rotation_deg=self.rotation_deg, noise=self.noise
        )


@dataclass(frozen=True)
class Part:
    """One part as the camera saw it, with its ground truth."""

    part_id: int
    t_ns: int
    defect: Defect
    image: np.ndarray

    @property
    def file_name(self) -> str:
        """``part-000042.png``."""
        return f"part-{self.part_id:06d}"


@dataclass
class LineCounts:
    """What the line produced and what its reject gate did."""

    produced: int = 0
    defective: int = 0
    rejected: int = 0
    rejected_defective: int = 0
    rejected_good: int = 0
    by_class: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DEFECTS, 0))

    def as_dict(self) -> dict[str, Any]:
        """JSON-able, with the defective parts that passed the gate (``escaped``)."""
        return {
            "produced": self.produced,
            "defective": self.defective,
            "rejected": self.rejected,
            "rejected_defective": self.rejected_defective,
            "rejected_good": self.rejected_good,
            "escaped": self.defective - self.rejected_defective,
            "by_class": dict(self.by_class),
        }


class PackagingLine:
    """Parts, one after another, from a seed; counts and a reject gate."""

    def __init__(self, config: PackagingSimConfig, *, start_ns: int | None = None) -> None:
        self.config = config
        self._rng = np.random.default_rng(config.seed)
        classes = [c for c in DEFECTS if config.defect_rates.get(c, 0.0) > 0]
        weights = np.array([config.defect_rates[c] for c in classes])
        self._classes: list[Defect] = classes
        self._p = weights / weights.sum()
        self._next_id = 1
        self._start_ns = now_ns() if start_ns is None else start_ns
        self._truth: OrderedDict[int, Defect] = OrderedDict()  # the parts still at the gate
        self._rejected: set[int] = set()
        self.counts = LineCounts()

    def change_rates(self, rates: dict[str, float]) -> None:
        """From the next part on, classes occur in these shares (a process change).

        A worn sealing jaw tears more seals; the defect rate the platform should see rise.
        Shares are normalised as :attr:`PackagingSimConfig.defect_rates` are.

        Raises
        ------
        ValueError
            An unknown class, or no share above 0.
        """
        checked = PackagingSimConfig(defect_rates=rates).defect_rates
        self._classes = [c for c in DEFECTS if checked.get(c, 0.0) > 0]
        weights = np.array([checked[c] for c in self._classes])
        self._p = weights / weights.sum()

    def next_part(self) -> Part:
        """The next part off the line (its time: start + id / speed)."""
        part_id = self._next_id
        self._next_id += 1
        defect = self._classes[int(self._rng.choice(len(self._classes), p=self._p))]
        image = render_part(self._rng, defect, size=self.config.size, params=self.config.render)
        t_ns = self._start_ns + round((part_id - 1) / self.config.speed_parts_s * NS_PER_S)
        self._truth[part_id] = defect
        if len(self._truth) > GATE_MEMORY:
            gone, _ = self._truth.popitem(last=False)
            self._rejected.discard(gone)
        self.counts.produced += 1
        self.counts.by_class[defect] += 1
        if defect != "good":
            self.counts.defective += 1
        return Part(part_id, t_ns, defect, image)

    def parts(self, n: int) -> Iterator[Part]:
        """The next ``n`` parts."""
        for _ in range(n):
            yield self.next_part()

    def reject(self, part_id: int) -> bool:
        """The reject gate fires for ``part_id``; ``True`` when that part was defective.

        A part rejected twice counts once. Only the last :data:`GATE_MEMORY` parts are
        still at the gate: another id raises ``KeyError``.
        """
        defect = self._truth[part_id]
        if part_id in self._rejected:
            return defect != "good"
        self._rejected.add(part_id)
        self.counts.rejected += 1
        if defect == "good":
            self.counts.rejected_good += 1
            return False
        self.counts.rejected_defective += 1
        return True


class PartWriter(Protocol):
    """Where the camera puts each part's image: a hot folder, or an MQTT topic."""

    async def write(self, part: Part, image_format: str) -> object:
        """Hand on ``part``'s image; return once it is complete (written, acknowledged)."""

    def close(self) -> None:
        """Close its ground-truth log (a connection is its owner's to close)."""


def encode_image(image: np.ndarray, image_format: str) -> bytes:
    """PNG or JPEG bytes of an RGB image (Pillow)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG" if image_format == "png" else "JPEG")
    return buffer.getvalue()


class GroundTruthLog:
    """The ground truth of every part written, as CSV: image name, part id, class, time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.exists()
        self._file = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._file)
        if new:
            self._csv.writerow(["file", "part_id", "class", "timestamp"])

    def log(self, name: str, part: Part) -> None:
        """One row, flushed (a reader may follow the file while the line runs)."""
        self._csv.writerow([name, part.part_id, part.defect, format_ns(part.t_ns)])
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


class HotFolderWriter:
    """Drops part images into ``folder`` and logs the ground truth to ``labels.csv``.

    ``partial=True`` writes each file in two halves ``partial_pause_s`` apart under its
    final name, as a slow FTP upload does, so a watcher must not take a file before it is
    complete; otherwise each file appears whole (written aside, then renamed).
    """

    def __init__(
        self, folder: Path, *, partial: bool = False, partial_pause_s: float = 0.05
    ) -> None:
        self.folder = folder
        self.partial = partial
        self.partial_pause_s = partial_pause_s
        folder.mkdir(parents=True, exist_ok=True)
        self.labels_path = folder.parent / f"{folder.name}-labels.csv"
        self._truth = GroundTruthLog(self.labels_path)

    async def write(self, part: Part, image_format: str) -> Path:
        """Write ``part``'s image; return its path once it is complete."""
        data = await asyncio.to_thread(encode_image, part.image, image_format)
        name = f"{part.file_name}.{'png' if image_format == 'png' else 'jpg'}"
        target = self.folder / name
        if self.partial:
            half = len(data) // 2
            await asyncio.to_thread(target.write_bytes, data[:half])
            await asyncio.sleep(self.partial_pause_s)
            with target.open("ab") as out:
                out.write(data[half:])
        else:
            aside = self.folder / f".{name}.tmp"
            await asyncio.to_thread(aside.write_bytes, data)
            os.replace(aside, target)
        self._truth.log(name, part)
        return target

    def close(self) -> None:
        """Close the ground-truth log."""
        self._truth.close()
