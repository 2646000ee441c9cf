"""A virtual RS-485 line on a pty pair: the gateway opens the slave path, the simulator the master.

Requests are split out of the byte stream by the line's protocol and answered one at a time; with
byte-time emulation a transaction holds the bus for (request + reply) × 11 / baud plus two
3.5-character gaps and the turnaround, as shared/domain/protocols.md gives, and later requests
queue behind it.

Baud rate: a pty carries bytes, not bits, so it would deliver a request at any speed. The line
therefore reads the speed the master last set on the pty (termios.tcgetattr on the master fd,
input and output speed) and answers only when both equal the line's baud. At another speed a
real slave's UART sees framing errors and bytes that fail the checksum, so it stays silent: the
simulated line drops such requests (counted in `wrong_speed_bytes`) and sends nothing. A reply
whose master has changed speed meanwhile is dropped too (`wrong_speed_replies`): at the wrong
rate it would be noise. Speeds without a termios constant, and emulate_baud=False, answer at
any speed.

Parity cannot be emulated: Linux ptys clear PARENB, and some kernels refuse a termios change
that only sets parity (EINVAL, raised as termios.error), while accepting it together with a
speed change (and still dropping PARENB). A master's parity setting is invisible here, so a
simulated meter answers at every parity; only hardware tests can check parity.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import time
import tty
from typing import Protocol

from drivers import modbus_rtu
from gateway.simulator.respond import Outcome

log = logging.getLogger(__name__)

# An incomplete request is dropped after this much silence (a real slave uses 3.5 characters; a pty
# delivers bytes in scheduler-sized chunks, so allow more).
MIN_DISCARD_SILENCE = 0.05


class LineProtocol(Protocol):
    """What a serial line needs from its protocol (Modbus RTU or DL/T 645)."""

    def extract(self, buffer: bytearray) -> list[bytes]:
        """Remove and return the complete requests at the start of buffer (dropping garbage)."""

    def answer(self, frame: bytes) -> list[Outcome]:
        """The outcome for each meter that hears itself addressed (none for an absent address)."""

    def at_silence(self, buffer: bytes) -> list[bytes]:
        """Requests that only the silence after them ends (bytes left when the line went quiet)."""

    def bad_frames(self) -> int:
        """Frames dropped for a bad checksum or garbage, so far."""


def termios_speed(baud: int) -> int | None:
    """The termios speed constant of a baud rate (termios.B9600 for 9600), None if none exists."""
    return getattr(termios, f"B{baud}", None)


class PtyPair:
    """os.openpty() in raw mode; the slave fd stays open so the master never sees a hang-up."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def speeds(self) -> tuple[int, int] | None:
        """(input, output) termios speed constants the slave side last set, None if unreadable."""
        try:
            attributes = termios.tcgetattr(self.master)
        except (termios.error, OSError):
            return None
        return attributes[4], attributes[5]

    def write(self, data: bytes) -> int:
        """Write what the pty takes now (a full buffer drops the rest, like a bus nobody reads)."""
        try:
            return os.write(self.master, data)
        except (BlockingIOError, OSError):
            return 0

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


def combine(replies: list[bytes]) -> bytes:
    """Several slaves answering at once: the bytes collide (modelled as a bitwise OR)."""
    out = bytearray(max(len(r) for r in replies))
    for reply in replies:
        for i, byte in enumerate(reply):
            out[i] |= byte
    return bytes(out)


class SerialLine:
    """One serial bus: reads requests from the pty, answers via the protocol, paces the bytes."""

    def __init__(
        self,
        name: str,
        protocol: LineProtocol,
        baud: int,
        emulate_byte_time: bool = False,
        turnaround: float = 0.0,
        emulate_baud: bool = True,
    ) -> None:
        self.name = name
        self.protocol = protocol
        self.baud = baud
        self.emulate_byte_time = emulate_byte_time
        self.turnaround = turnaround
        self.speed = termios_speed(baud) if emulate_baud else None
        self.char_time = modbus_rtu.char_time(baud)
        self.gap = modbus_rtu.silent_interval(baud)
        self.pty: PtyPair | None = None
        self.counters = {
            "requests": 0,
            "replies": 0,
            "unanswered": 0,
            "bytes_in": 0,
            "bytes_out": 0,
            "wrong_speed_bytes": 0,
            "wrong_speed_replies": 0,
        }
        self._buffer = bytearray()
        self._queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self._bus_free = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._discard: asyncio.TimerHandle | None = None
        self._worker: asyncio.Task | None = None

    @property
    def path(self) -> str:
        if self.pty is None:
            raise RuntimeError(f"line {self.name!r} is not started: await well.start() first")
        return self.pty.path

    async def start(self) -> None:
        self.replug()

    def unplug(self) -> None:
        """The adapter pulled out: the pty closes, so the gateway's reads and writes fail (EIO)."""
        if self.pty is None:
            return
        asyncio.get_running_loop().remove_reader(self.pty.master)
        if self._discard:
            self._discard.cancel()
            self._discard = None
        for task in [self._worker, *self._tasks]:
            if task:
                task.cancel()
        self._buffer.clear()
        self.pty.close()
        self.pty = None

    def replug(self) -> None:
        """The adapter plugged back in: a new pty (a new device node) answering as before."""
        if self.pty is not None:
            return
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._bus_free = 0.0
        self.pty = PtyPair()
        loop.add_reader(self.pty.master, self._on_readable)
        self._worker = loop.create_task(self._serve(), name=f"sim-line-{self.name}")

    async def stop(self) -> None:
        if self.pty is None:
            return
        asyncio.get_running_loop().remove_reader(self.pty.master)
        if self._discard:
            self._discard.cancel()
        for task in [self._worker, *self._tasks]:
            if task:
                task.cancel()
        for task in [self._worker, *self._tasks]:
            if task:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self.pty.close()
        self.pty = None

    def _on_readable(self) -> None:
        assert self.pty is not None
        try:
            chunk = os.read(self.pty.master, 4096)
        except (BlockingIOError, OSError):
            return
        now = time.monotonic()
        self.counters["bytes_in"] += len(chunk)
        if not self.speed_matches():
            # Garbage to a slave at another rate; what came before it is cut short.
            self.counters["wrong_speed_bytes"] += len(chunk)
            self._buffer.clear()
            return
        self._buffer += chunk
        for frame in self.protocol.extract(self._buffer):
            self._queue.put_nowait((frame, now))
        if self._discard:
            self._discard.cancel()
            self._discard = None
        if self._buffer:
            silence = max(MIN_DISCARD_SILENCE, self.gap)
            self._discard = asyncio.get_running_loop().call_later(silence, self._on_silence)

    def speed_matches(self) -> bool:
        """Whether the master's pty speed is the line's baud (always, without baud emulation)."""
        if self.speed is None or self.pty is None:
            return True
        return self.pty.speeds() in (None, (self.speed, self.speed))

    def _on_silence(self) -> None:
        """The line went quiet: what is left is a whole frame (if the protocol says so) or noise."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        self._discard = None
        for frame in self.protocol.at_silence(rest):
            self._queue.put_nowait((frame, time.monotonic()))

    def transaction_times(
        self, arrival: float, request: int, reply: int | None
    ) -> tuple[float, float]:
        """(when the reply's last byte is on the wire, when the bus is free again)."""
        start = max(arrival, self._bus_free)
        request_end = start + request * self.char_time
        if reply is None:
            return request_end, request_end + self.gap
        reply_end = request_end + self.gap + self.turnaround + reply * self.char_time
        return reply_end, reply_end + self.gap

    async def _serve(self) -> None:
        while True:
            frame, arrival = await self._queue.get()
            self.counters["requests"] += 1
            try:
                outcomes = self.protocol.answer(frame)
            except Exception:  # a simulator bug must not silence the whole line: log, go on
                log.exception("line %s: no answer to request %s", self.name, frame.hex(" "))
                outcomes = []
            replies = [o for o in outcomes if o.data is not None]
            if not replies:
                self.counters["unanswered"] += 1
            on_time = [o.data for o in replies if not o.delay]
            data = combine(on_time) if on_time else None  # type: ignore[arg-type]
            send_at = time.monotonic()
            if self.emulate_byte_time:
                reply_bytes = len(data) if data is not None else None
                send_at, self._bus_free = self.transaction_times(arrival, len(frame), reply_bytes)
            if data is not None:
                await asyncio.sleep(max(0.0, send_at - time.monotonic()))
                self._send(data)
            for late in (o for o in replies if o.delay):
                self._later(send_at + late.delay, late.data)  # type: ignore[arg-type]

    def _send(self, data: bytes) -> None:
        assert self.pty is not None
        if not self.speed_matches():
            self.counters["wrong_speed_replies"] += 1
            return
        self.counters["replies"] += 1
        self.counters["bytes_out"] += self.pty.write(data)

    def _later(self, when: float, data: bytes) -> None:
        """A late reply goes out on its own, whatever the line does meanwhile (as on a real bus)."""

        async def send_later() -> None:
            await asyncio.sleep(max(0.0, when - time.monotonic()))
            if self.pty is not None:
                self._send(data)

        task = asyncio.get_running_loop().create_task(send_later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
