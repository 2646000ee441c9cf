"""Bus pollers: one asyncio task per bus, one transaction at a time, per-device schedules."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from gateway import wallclock
from gateway.acquisition import diagnostics as dx
from gateway.acquisition.decode import ModbusDecoder, decode_dlt645
from gateway.acquisition.plan import ReadBlock
from gateway.acquisition.transport import Dlt645Transport, ModbusTransport, TransactionFailed
from gateway.backoff import next_delay
from gateway.flaplog import FlapLog
from gateway.profiles import Dlt645Point
from gateway.readings import Reading, ReadingSink
from gateway.wallclock import UNSYNCHRONISED, ClockState

log = logging.getLogger(__name__)

SKIP_LOG_INTERVAL = 60.0  # s: skipped slots are summed into one warning at most this often


@dataclass(slots=True)
class OfflinePolicy:
    """When a device counts as offline, and how often an offline device is tried again."""

    offline_after: int = 3  # polls in a row without a valid answer
    backoff_initial: float = 5.0
    backoff_max: float = 300.0


@dataclass(slots=True)
class PolledDevice:
    """A device as the poller sees it: what to ask, how often, and its health."""

    name: str
    interval: float
    health: dx.DeviceHealth
    retries: int = 1
    # Modbus
    slave_id: int = 0
    blocks: list[ReadBlock] = field(default_factory=list)
    decoder: ModbusDecoder | None = None
    # DL/T 645
    address: str = ""
    dlt_points: list[Dlt645Point] = field(default_factory=list)
    # schedule
    next_due: float = 0.0
    backoff: float = 0.0

    def transaction_count(self) -> int:
        return len(self.blocks) if self.decoder is not None else len(self.dlt_points)

    def poll_size(self) -> tuple[int, int]:
        """(requests, registers) of one poll: the smaller, the sooner a poll is done."""
        return self.transaction_count(), sum(block.count for block in self.blocks)


def _due_at(device: PolledDevice) -> float:
    return device.next_due


def _time_up(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


class BusPoller:
    """Polls the devices of one bus in due order; a device's faults cost only its own timeouts."""

    def __init__(self, name: str, transport: ModbusTransport | Dlt645Transport,
                 devices: list[PolledDevice], sink: ReadingSink, board: dx.HealthBoard,
                 policy: OfflinePolicy, clock: ClockState | None = None,
                 flaps: FlapLog | None = None) -> None:
        self.name = name
        self.flaps = flaps or FlapLog(log)  # a flapping device: its changes summarised
        self.clock = clock or ClockState()  # the kernel's sync flag, stamped on readings
        self.transport = transport
        self.devices = devices
        self.sink = sink
        self.board = board
        self.policy = policy
        self._stop = asyncio.Event()
        # stop() or replace_devices(): choose the next poll again (a future and one timer per
        # wait: asyncio.wait_for on an Event made a task and cancelled it at every poll)
        self._woken = False
        self._waiter: asyncio.Future[bool] | None = None
        self.transactions = 0
        self.skip_log_interval = SKIP_LOG_INTERVAL
        self._skipped_unlogged: dict[str, int] = {}
        self._skip_logged_at: float | None = None

    def stop(self) -> None:
        self._stop.set()
        self._wake()

    def _wake(self) -> None:
        self._woken = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(True)

    async def _pause(self, delay: float | None) -> bool:
        """Wait `delay` s (None: until woken); True when stop() or replace_devices() woke it."""
        if self._woken:
            return True
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if delay is None else loop.call_later(delay, _time_up, waiter)
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def replace_devices(self, devices: list[PolledDevice]) -> None:
        """Poll these devices from now on (a config reload; call from the poller's own loop).
        A device carried over keeps its schedule; a new one (next_due 0) is polled at once. A
        poll in flight finishes first: its readings are real and are kept."""
        now = time.monotonic()
        for index, device in enumerate(d for d in devices if not d.next_due):
            device.next_due = now + index * 0.001
        self.devices = devices
        self._wake()

    async def run(self) -> None:
        """Poll until stopped."""
        now = time.monotonic()
        # First polls at once, the shortest first (a start shows its first reading soonest),
        # spread a little so devices with equal intervals do not bunch up; a device carried
        # over from a poller that a reload restarted keeps its schedule.
        for index, device in enumerate(sorted(self.devices, key=PolledDevice.poll_size)):
            if not device.next_due:
                device.next_due = now + index * 0.001
        try:
            while not self._stop.is_set():
                self._woken = False
                if not self.devices:
                    await self._pause(None)
                    continue
                device = min(self.devices, key=_due_at)
                delay = device.next_due - time.monotonic()
                if delay > 0 and await self._pause(delay):
                    continue  # stopped, or the devices changed
                await self.poll(device)
                self.flaps.flush()
        finally:
            await self.transport.close()

    async def poll(self, device: PolledDevice) -> list[Reading]:
        """One poll of one device: updates health and schedule, hands readings to the sink."""
        health = device.health
        probing = health.state == dx.STATE_OFFLINE
        answered, readings = await self._poll_once(device, probe_only=probing)
        health.polls += 1
        now = time.monotonic()
        if answered:
            health.consecutive_failures = 0
            if health.state != dx.STATE_ONLINE:
                self._change(health, dx.STATE_ONLINE, "answered again" if probing else "answered")
                device.backoff = 0.0
                if probing:  # the probe read only one block: read the whole device now
                    _, readings = await self._poll_once(device, probe_only=False)
        else:
            health.failed_polls += 1
            health.consecutive_failures += 1
            if (health.state != dx.STATE_OFFLINE
                    and health.consecutive_failures >= self.policy.offline_after):
                self._change(health, dx.STATE_OFFLINE,
                             f"{health.consecutive_failures} polls without a valid answer "
                             f"({health.last_error})")
        if health.state == dx.STATE_OFFLINE:
            device.backoff = next_delay(device.backoff, self.policy.backoff_initial,
                                        self.policy.backoff_max)
            device.next_due = now + device.backoff
        else:
            device.next_due += device.interval
            if device.next_due <= now:  # missed slots are skipped, not caught up in a burst
                missed = int((now - device.next_due) // device.interval) + 1
                device.next_due += missed * device.interval
                health.skipped_slots += missed
                self._skipped_unlogged[device.name] = (
                    self._skipped_unlogged.get(device.name, 0) + missed)
        if self._skipped_unlogged:
            self._log_skipped(now)
        health.next_poll_in = device.next_due - now
        if readings:
            if self.clock.unsynchronised():
                readings = [r._replace(clock=UNSYNCHRONISED) for r in readings]
            health.readings += len(readings)
            self.sink.accept(readings)
        return readings

    def _log_skipped(self, now: float) -> None:
        """One warning for the slots skipped since the last one, at most every interval."""
        if (self._skip_logged_at is not None
                and now - self._skip_logged_at < self.skip_log_interval):
            return
        since = ("" if self._skip_logged_at is None
                 else f" in the last {now - self._skip_logged_at:.0f} s")
        counts = ", ".join(f"{name} {count}" for name, count in self._skipped_unlogged.items())
        log.warning("bus %s cannot keep its schedule: slots skipped%s: %s (check-config shows "
                    "each device's bus time per poll)", self.name, since, counts)
        self._skipped_unlogged.clear()
        self._skip_logged_at = now

    def _change(self, health: dx.DeviceHealth, state: str, reason: str) -> None:
        self.board.record_change(health, state, reason)
        level = logging.WARNING if state == dx.STATE_OFFLINE else logging.INFO
        self.flaps.change(f"{health.device} on {self.name}", state, level, "%s on %s is %s: %s",
                          health.device, self.name, state, reason,
                          extra={"device": health.device, "bus": self.name})

    async def _poll_once(
        self, device: PolledDevice, probe_only: bool
    ) -> tuple[bool, list[Reading]]:
        if device.decoder is not None:
            return await self._poll_modbus(device, probe_only)
        return await self._poll_dlt645(device, probe_only)

    async def _attempt(self, device: PolledDevice, attempts: int, call, *args):
        """One transaction, tried up to `attempts` times; returns (answered, value or None)."""
        health = device.health
        last: TransactionFailed | None = None
        for _ in range(attempts):
            started = time.monotonic()
            self.transactions += 1
            try:
                try:
                    value = await call(*args)
                except OSError as exc:  # the port itself failed (EIO: adapter unplugged)
                    raise TransactionFailed(dx.CONNECT_ERROR, f"port error: {exc}") from None
            except TransactionFailed as failure:
                health.count(failure.outcome, time.monotonic() - started, failure.detail)
                if failure.answered:  # an exception reply: alive, and asking again won't help
                    return True, None
                last = failure
                continue
            health.count(dx.OK, time.monotonic() - started)
            return True, value
        if last is not None:
            log.debug("%s: %s", device.name, last)
        return False, None

    async def _poll_modbus(
        self, device: PolledDevice, probe_only: bool
    ) -> tuple[bool, list[Reading]]:
        assert isinstance(self.transport, ModbusTransport) and device.decoder is not None
        raw_by_point: dict[str, list[int]] = {}
        answered_any = False
        # A probe of an offline device is one block, asked once.
        attempts = 1 if probe_only else 1 + device.retries
        for block in device.blocks[:1] if probe_only else device.blocks:
            answered, values = await self._attempt(
                device, attempts, self.transport.read, device.slave_id, block.function,
                block.address, block.count)
            if not answered:
                break  # a silent device: don't spend the bus on its other blocks this poll
            answered_any = True
            if values is not None:
                for point in block.points:
                    raw_by_point[point.name] = block.slice_for(point, values)
        if not raw_by_point:
            return answered_any, []
        return answered_any, device.decoder.decode(raw_by_point, wallclock.now(),
                                                          time.monotonic())

    async def _poll_dlt645(
        self, device: PolledDevice, probe_only: bool
    ) -> tuple[bool, list[Reading]]:
        assert isinstance(self.transport, Dlt645Transport)
        readings = []
        answered_any = False
        attempts = 1 if probe_only else 1 + device.retries
        for point in device.dlt_points[:1] if probe_only else device.dlt_points:
            answered, data = await self._attempt(
                device, attempts, self.transport.read, device.address, point.di)
            if not answered:
                break
            answered_any = True
            if data is not None:
                readings.append(
                    decode_dlt645(device.name, point, data, wallclock.now(),
                                  time.monotonic()))
        return answered_any, readings
