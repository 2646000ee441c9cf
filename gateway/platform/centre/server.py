"""The centre's TCP server: one asyncio task per station connection, frames through a protocol
side, reports into the database, acknowledgements as the faults in force allow, commands down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from drivers.sl427 import Sl427Error
from drivers.sl651 import Sl651Error
from gateway.platform.centre.db import CentreDb
from gateway.platform.centre.faults import Fault, Faults
from gateway.platform.centre.frames import Received, Refused

log = logging.getLogger(__name__)

REFUSALS = (Sl427Error, Sl651Error, Refused)
# Stray bytes sent by the garbage fault: both protocols' start bytes among them, so a station
# that resynchronises on them is tested too.
GARBAGE = bytes.fromhex("55 AA 68 00 68 7E 7E 00 FF 16 03")
PARTIAL_TIMEOUT = 2.0  # s a frame's beginning may wait for its rest before it is refused
MAX_BUFFER = 8192


class CommandFailed(Exception):
    """A command that could not be sent or got no reply in time."""


class Centre:
    """Accepts stations on host:port; `side` is an Sl427Side or an Sl651Side."""

    def __init__(self, side: Any, db: CentreDb, faults: Faults, host: str = "127.0.0.1",
                 port: int = 0, partial_timeout: float = PARTIAL_TIMEOUT) -> None:
        self.side = side
        self.db = db
        self.faults = faults
        self.host = host
        self.port = port
        self.partial_timeout = partial_timeout
        self.stations: dict[str, asyncio.StreamWriter] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[tuple[Received, bytes]]] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.counts = {"connections": 0, "frames": 0, "reports": 0, "refused": 0, "garbage": 0,
                       "acks": 0}

    async def start(self) -> int:
        """Listen; the port bound (the kernel's choice when port is 0)."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self.stations.values()):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self._tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        self.counts["connections"] += 1
        buffer = bytearray()
        station: str | None = None
        try:
            while True:
                try:
                    data = await asyncio.wait_for(
                        reader.read(4096), self.partial_timeout if buffer else None)
                except TimeoutError:
                    self.db.log_frame("up", bytes(buffer), "refused", peer=peer, station=station,
                                      reason=f"incomplete frame: no more bytes in "
                                             f"{self.partial_timeout:g} s")
                    self.counts["refused"] += 1
                    buffer.clear()
                    continue
                if not data:
                    break
                buffer += data
                for kind, chunk in self.side.split(buffer):
                    if kind == "garbage":
                        self.counts["garbage"] += 1
                        self.db.log_frame("up", chunk, "garbage", peer=peer, station=station,
                                          reason="bytes outside any frame")
                        continue
                    station = await self._frame(chunk, peer, station, writer)
                if len(buffer) > MAX_BUFFER:
                    self.db.log_frame("up", bytes(buffer), "garbage", peer=peer, station=station,
                                      reason=f"more than {MAX_BUFFER} bytes without a frame")
                    buffer.clear()
        except (_Dropped, ConnectionError, asyncio.CancelledError):
            pass  # dropped by a fault, by the station, or the centre is stopping
        finally:
            if station is not None and self.stations.get(station) is writer:
                del self.stations[station]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _frame(self, frame: bytes, peer: str, station: str | None,
                     writer: asyncio.StreamWriter) -> str | None:
        """Handle one candidate frame; the station the connection belongs to afterwards."""
        self.counts["frames"] += 1
        try:
            received = self.side.receive(frame)
        except REFUSALS as exc:
            self.counts["refused"] += 1
            self.db.log_frame("up", frame, "refused", peer=peer, station=station,
                              reason=f"{type(exc).__name__}: {exc}")
            log.info("refused from %s: %s", peer, exc)
            return station
        station = received.station
        self.stations[station] = writer
        if received.reply_key is not None:
            pending = self._pending.pop((station, received.reply_key), None)
            if pending is None or pending.done():
                self.db.log_frame("up", frame, "unexpected", peer=peer, station=station,
                                  kind="reply " + received.reply_key,
                                  reason="no command of this centre waits for this reply")
                return station
            self.db.log_frame("up", frame, "accepted", peer=peer, station=station,
                              kind="reply " + received.reply_key)
            pending.set_result((received, frame))
            return station
        fault = self.faults.take(station) if received.ack is not None else None
        if fault is not None and fault.kind == "drop":
            self.db.log_frame("up", frame, "dropped", peer=peer, station=station,
                              kind=received.kind, reason="fault drop: connection closed")
            raise _Dropped
        self.db.log_frame("up", frame, "accepted", peer=peer, station=station,
                          kind=received.kind)
        if received.report is not None:
            self.counts["reports"] += 1
            self.db.add_report(self.side.protocol, station, received.report["function"],
                               received.report["observed"], received.report["elements"], frame)
        if received.ack is not None:
            await self._acknowledge(received, fault, peer, writer)
        return station

    async def _acknowledge(self, received: Received, fault: Fault | None, peer: str,
                           writer: asyncio.StreamWriter) -> None:
        station = received.station
        if fault is None:
            await self._send(writer, received.ack or b"", peer, station, "ack")
        elif fault.kind == "no_ack":
            self.db.log_frame("down", received.ack or b"", "withheld", peer=peer,
                              station=station, kind="ack", reason="fault no_ack")
        elif fault.kind == "late_ack":
            self._spawn(self._late(writer, received.ack or b"", peer, station, fault.delay))
        elif fault.kind == "nak":
            await self._send(writer, received.nak or b"", peer, station, "nak", "fault nak")
        elif fault.kind == "garbage":
            await self._send(writer, GARBAGE, peer, station, "garbage", "fault garbage")

    async def _late(self, writer: asyncio.StreamWriter, frame: bytes, peer: str, station: str,
                    delay: float) -> None:
        await asyncio.sleep(delay)
        if not writer.is_closing():
            await self._send(writer, frame, peer, station, "ack", f"fault late_ack {delay:g} s")

    async def _send(self, writer: asyncio.StreamWriter, frame: bytes, peer: str, station: str,
                    kind: str, reason: str | None = None) -> None:
        self.db.log_frame("down", frame, "sent", peer=peer, station=station, kind=kind,
                          reason=reason)
        if kind == "ack":
            self.counts["acks"] += 1
        writer.write(frame)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def command(self, station: str, name: str, args: dict[str, Any],
                      timeout: float = 5.0) -> dict[str, Any]:
        """Send a command down to a connected station and wait for its reply."""
        writer = self.stations.get(station)
        if writer is None:
            connected = ", ".join(sorted(self.stations)) or "none"
            raise CommandFailed(f"station {station!r} is not connected (connected: {connected})")
        frame, key = self.side.command(station, name, args)
        command_id = self.db.add_command(station, name, frame)
        future: asyncio.Future[tuple[Received, bytes]] = \
            asyncio.get_running_loop().create_future()
        self._pending[(station, key)] = future
        peer = "{}:{}".format(*writer.get_extra_info("peername")[:2])
        await self._send(writer, frame, peer, station, name)
        try:
            received, reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._pending.pop((station, key), None)
            error = f"no reply {key} from {station} in {timeout:g} s"
            self.db.finish_command(command_id, error=error)
            raise CommandFailed(error) from None
        self.db.finish_command(command_id, reply=reply, result=received.result)
        return {"command": name, "station": station, "request_hex": frame.hex(" ").upper(),
                "reply_hex": reply.hex(" ").upper(), "result": received.result}


class _Dropped(Exception):
    """The drop fault closes the connection."""
