"""A project wired to the simulated CNC over OPC UA, and a TCP proxy to cut the network."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path

from shopfloor.config import Project, load_project

ASSET = "acme/plant1/machining/line1/cell1/cnc-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project_for(
    folder: Path, endpoint: str, *, security: str = "None", extra: str = "", history: bool = True
) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    text = f"""
project: {{name: opcua-test}}
api: {{port: 0}}
assets:
  - path: {ASSET}
    signals:
      - {{name: spindle_speed, unit: rpm, connector: cnc, source: "ns=2;s=CNC01.Spindle.Speed"}}
      - {{name: spindle_temperature, unit: degC, connector: cnc,
          source: "ns=2;s=CNC01.Spindle.Temperature"}}
      - {{name: program_state, kind: event, connector: cnc, source: "ns=2;s=CNC01.Program.State"}}
      - name: spindle_accel
        kind: waveform
        unit: g
        sample_rate_hz: 25600
        channels: [x, y, z]
        connector: cnc
        source: CNC01.Vibration
        source_options:
          channel_nodes: ["ns=2;s=CNC01.Vibration.AccelX", "ns=2;s=CNC01.Vibration.AccelY",
                          "ns=2;s=CNC01.Vibration.AccelZ"]
      - {{name: missing_tag, connector: cnc, source: "ns=2;s=CNC01.Does.Not.Exist"}}
connectors:
  - name: cnc
    type: opcua
    endpoint: {endpoint}
    security_mode: {security}
    history_backfill: {str(history).lower()}
    watchdog_interval_s: 0.5
    request_timeout_s: 3
    reconnect: {{initial_s: 0.2, max_s: 1.0}}
{extra}
"""
    (folder / "factory.yaml").write_text(text)
    return load_project(folder)


class Proxy:
    """A TCP relay on loopback that can drop every connection and refuse new ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        for task in (
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ):
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def cut(self) -> None:
        """Drop every connection and stop listening (the cable is pulled)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        for task in list(self._pipes):
            task.cancel()

    async def restore(self) -> None:
        await self.start()
