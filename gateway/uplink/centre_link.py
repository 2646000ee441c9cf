"""One centre station's link: a persistent TCP connection, login, keep-alive, reports, commands.

    cursor = the destination's acked seq in the store (gateway/store/cursors.py; 0 when new)
    connect (connect_timeout), log in where the protocol has a login (SL/T 427 AFN 02 F0)
    loop: the next report after the cursor (gateway/uplink/centre_reports.py), when one is due
          send each of its frames and wait ack_timeout for the centre's ack; no ack or a NAK:
          send it again, at most max_resends times; then the link is taken as lost
          all acked -> cursor = report.last_seq, recorded in the store; the next report at once
          (a backlog drains back to back)
          nothing due and keepalive_period quiet -> a keep-alive
    lost (refused, reset, closed, resends used up) -> back off (gateway/backoff.py), reconnect,
          and send the same report again: the cursor moved only on the centre's acks
Commands from the centre are taken whenever they come (also while an ack is awaited) and
answered by the desk (gateway/uplink/centre_commands.py). Stray bytes are skipped to the next
frame. An ack that may answer an earlier copy of an already acknowledged frame (SL/T 427 acks
carry no serial) is not taken for the next frame: after a resend, answers are dropped until
the time the last copy's ack was due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gateway.backoff import Backoff
from gateway.store.cursors import record_delivery
from gateway.uplink.centre_commands import CentreClock, CommandDesk
from gateway.uplink.centre_reports import Report, ReportReader
from gateway.uplink.centre_speech import ACK, COMMAND, NAK, Incoming, Message, Speaker
from gateway.uplink.outbox import Outbox

log = logging.getLogger(__name__)

IDLE_POLL = 0.2  # s between looks at the store when no report is due
READ_SIZE = 4096
MAX_BUFFER = 64 * 1024  # bytes kept while waiting for a frame's end


class LinkLost(Exception):
    """The connection is gone or the centre stopped answering."""


@dataclass
class LinkSettings:
    host: str
    port: int
    keepalive_period: float
    ack_timeout: float
    max_resends: int
    connect_timeout: float = 10.0
    backoff_initial: float = 2.0
    backoff_max: float = 300.0


@dataclass
class CentreStatus:
    """What `wellgate status` shows of a running centre link (besides the store's backlog)."""

    name: str
    protocol: str = ""
    acked_seq: int = 0
    state: str = "starting"  # starting | connecting | idle | sending | backing off | stopped
    connected: bool = False
    last_success: float | None = None
    last_error: str = ""
    last_error_wall: float | None = None
    reports: int = 0
    frames_up: int = 0
    frames_down: int = 0
    resends: int = 0
    failures: int = 0
    stray_bytes: int = 0
    commands: int = 0
    centre_clock_offset: float | None = None
    next_attempt_in: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class CentreLink:
    def __init__(self, name: str, speaker: Speaker, reports: ReportReader, db_path: Path,
                 settings: LinkSettings, desk: CommandDesk, clock: CentreClock,
                 frame_log: Callable[[str, bytes], None] | None = None,
                 now: Callable[[], float] = time.time, rng: random.Random | None = None) -> None:
        self.name = name
        self.speaker = speaker
        self.reports = reports
        self.db_path = Path(db_path)
        self.settings = settings
        self.desk = desk
        self.clock = clock
        self.frame_log = frame_log
        self.now = now
        self.outbox = Outbox(self.db_path)  # the backlog `wellgate status` shows
        self.status = CentreStatus(name, speaker.protocol)
        self._stopping = asyncio.Event()
        self._backoff = Backoff(settings.backoff_initial, settings.backoff_max, jitter=0.5,
                                rng=rng or random.Random())
        self._answers: asyncio.Queue[Incoming] = asyncio.Queue()
        self._writer: asyncio.StreamWriter | None = None
        self._pump: bool | None = None
        self._pending: tuple[int, int] | None = None  # (report last_seq, frames acked)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Deliver until stop(); a lost link is logged, shown in status and backed off."""
        try:
            cursor = await asyncio.to_thread(self.outbox.acked_seq, self.name)
            self.status.acked_seq = cursor
            stopping = asyncio.create_task(self._stopping.wait())
            while not self._stopping.is_set():
                linked = asyncio.create_task(self._connected())
                await asyncio.wait({linked, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not linked.done():  # stop(): the connection is closed at once
                    linked.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await linked
                    break
                try:
                    linked.result()
                except (LinkLost, OSError, TimeoutError) as exc:
                    self._failed(str(exc) or type(exc).__name__)
                    await self._back_off()
                except Exception as exc:  # a store or encoding problem: shown, retried later
                    log.exception("uplink %s: %s", self.name, exc)
                    self.reports.close()
                    self._failed(f"{type(exc).__name__}: {exc}")
                    await self._back_off()
            stopping.cancel()
        finally:
            self.status.state = "stopped"
            self.status.connected = False
            self.reports.close()

    # --- one connection ----------------------------------------------------------------------

    async def _connected(self) -> None:
        settings = self.settings
        self._show("connecting")
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(settings.host, settings.port), settings.connect_timeout)
        self._writer = writer
        self._answers = asyncio.Queue()
        listening = asyncio.create_task(self._listen(reader))
        try:
            self.status.connected = True
            login = self.speaker.login(self.now())
            if login is not None:
                await self._deliver(login)
            log.info("uplink %s: connected to %s:%d", self.name, settings.host, settings.port)
            await self._session(listening)
        finally:
            self.status.connected = False
            self._writer = None
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listening
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _session(self, listening: asyncio.Task) -> None:
        quiet_since = time.monotonic()
        while not self._stopping.is_set():
            if listening.done():
                raise LinkLost("the centre closed the connection")
            report = await asyncio.to_thread(self.reports.next_report, self.status.acked_seq,
                                             self.now(), self._pump)
            if report is not None:
                await self._send_report(report)
                quiet_since = time.monotonic()
                continue
            self._show("idle")
            if time.monotonic() - quiet_since >= self.settings.keepalive_period:
                await self._deliver(self.speaker.keepalive(self.now()))
                quiet_since = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), IDLE_POLL)

    async def _send_report(self, report: Report) -> None:
        self._show("sending")
        messages = self.speaker.report_messages(report, self.now())
        done = self._pending[1] if self._pending and self._pending[0] == report.last_seq else 0
        for index in range(done, len(messages)):
            await self._deliver(messages[index])
            self._pending = (report.last_seq, index + 1)
        await asyncio.to_thread(record_delivery, self.db_path, self.name, report.last_seq)
        self._pending = None
        if report.pump_running is not None:
            self._pump = report.pump_running
        self._backoff.reset()
        self.status.acked_seq = report.last_seq
        self.status.reports += 1
        self.status.last_success = self.now()

    async def _deliver(self, message: Message) -> None:
        """Send `message` until the centre acknowledges it (at most max_resends again)."""
        attempts = self.settings.max_resends + 1
        first_sent = time.monotonic()
        for attempt in range(attempts):
            if attempt:
                self.status.resends += 1
            await self._write(message.frame(attempt))
            if not message.acked:
                return
            answer = await self._await_ack(message, self.settings.ack_timeout)
            if answer is None or answer.kind == NAK:
                continue
            self.clock.heard(answer.centre_time, self.now())
            self.status.centre_clock_offset = self.clock.offset
            if attempt:  # the acks of the other copies may still come: not for the next frame
                await self._settle(first_sent + attempts * self.settings.ack_timeout)
            return
        raise LinkLost(f"no acknowledgement of a {message.kind} after {attempts} sends")

    async def _await_ack(self, message: Message, timeout: float) -> Incoming | None:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                answer = await asyncio.wait_for(self._answers.get(), left)
            except TimeoutError:
                return None
            if isinstance(answer, LinkLost):
                raise answer
            if answer.match == message.match:
                return answer
        return None

    async def _settle(self, until: float) -> None:
        """Take in (and drop) what answers come until `until`: the late acks of the copies of
        a frame that was acknowledged, which would otherwise pass for the next frame's."""
        while (left := until - time.monotonic()) > 0:
            try:
                answer = await asyncio.wait_for(self._answers.get(), left)
            except TimeoutError:
                return
            if isinstance(answer, LinkLost):
                raise answer

    # --- bytes in and out --------------------------------------------------------------------

    async def _write(self, frame: bytes) -> None:
        if self._writer is None:
            raise LinkLost("not connected")
        if self.frame_log is not None:
            self.frame_log("up", frame)
        self.status.frames_up += 1
        try:
            self._writer.write(frame)
            await asyncio.wait_for(self._writer.drain(), self.settings.ack_timeout)
        except (OSError, TimeoutError) as exc:
            raise LinkLost(f"sending: {exc or type(exc).__name__}") from None

    async def _listen(self, reader: asyncio.StreamReader) -> None:
        """Split what the centre sends into frames: acks to the queue, commands answered."""
        buffer = b""
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    break
                buffer += data
                while (span := self.speaker.find_frame(buffer)) is not None:
                    start, end = span
                    self._stray(buffer[:start])
                    frame, buffer = buffer[start:end], buffer[end:]
                    await self._incoming(frame)
                if len(buffer) > MAX_BUFFER:
                    self._stray(buffer)
                    buffer = b""
        except (OSError, asyncio.IncompleteReadError) as exc:
            log.info("uplink %s: connection lost: %s", self.name, exc)
        finally:
            self._stray(buffer)  # what never became a frame before the connection ended
            self._answers.put_nowait(LinkLost("the centre closed the connection"))  # type: ignore

    def _stray(self, data: bytes) -> None:
        if data:
            self.status.stray_bytes += len(data)
            log.info("uplink %s: %d stray bytes from the centre skipped: %s", self.name,
                     len(data), data[:32].hex(" "))

    async def _incoming(self, frame: bytes) -> None:
        if self.frame_log is not None:
            self.frame_log("down", frame)
        self.status.frames_down += 1
        incoming = self.speaker.read(frame, self.now())
        if incoming.kind == COMMAND and incoming.command is not None:
            self.status.commands += 1
            answer = await asyncio.to_thread(self.desk.answer, incoming.command, self.now())
            self.status.centre_clock_offset = self.clock.offset
            await self._write(self.speaker.reply(incoming.command, answer, self.now()))
        elif incoming.kind in (ACK, NAK):
            self._answers.put_nowait(incoming)
        else:
            self._stray(frame)
            log.info("uplink %s: frame from the centre not taken: %s", self.name,
                     incoming.reason)

    # --- status and waiting ------------------------------------------------------------------

    def _show(self, state: str) -> None:
        self.status.state = state

    def _failed(self, reason: str) -> None:
        log.warning("uplink %s: %s", self.name, reason)
        self.status.last_error = reason
        self.status.last_error_wall = self.now()
        self.status.failures += 1

    async def _back_off(self) -> None:
        wait = self._backoff.next()
        self._show("backing off")
        self.status.next_attempt_in = wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), wait)
        self.status.next_attempt_in = None
