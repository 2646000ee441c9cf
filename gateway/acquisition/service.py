"""Acquisition service: builds one poller per configured bus and runs them side by side."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from gateway.acquisition import diagnostics as dx
from gateway.acquisition.decode import ModbusDecoder
from gateway.acquisition.plan import BusCost, plan_for_profile
from gateway.acquisition.poller import BusPoller, OfflinePolicy, PolledDevice
from gateway.acquisition.transport import Dlt645Transport, ModbusTransport
from gateway.config import Bus, GatewayConfig, resolve_inter_frame_gap
from gateway.flaplog import FlapLog
from gateway.readings import ReadingSink
from gateway.wallclock import ClockState

log = logging.getLogger(__name__)


def bus_cost(bus: Bus) -> BusCost:
    """What a read request costs on this bus, for the read planner and check-config."""
    if bus.type == "tcp":
        return BusCost.tcp()
    return BusCost.rtu(bus.baud, resolve_inter_frame_gap(bus))


def polled_devices(config: GatewayConfig, bus_name: str) -> list[PolledDevice]:
    """The devices of one bus, with their read plans."""
    bus = next(b for b in config.buses if b.name == bus_name)
    cost = bus_cost(bus)
    devices = []
    for device in config.devices:
        if device.bus != bus_name:
            continue
        profile = config.device_profile(device)
        points = config.effective_points(device)
        health = dx.DeviceHealth(device=device.name, bus=bus_name, model=device.model)
        polled = PolledDevice(name=device.name, interval=device.poll_interval, health=health,
                              retries=bus.retries)
        if profile.model.protocol == "dlt645":
            polled.address = device.address
            polled.dlt_points = points
        else:
            polled.slave_id = device.slave_id
            polled.blocks = plan_for_profile(points, profile.defaults, cost)
            polled.decoder = ModbusDecoder(device.name, points)
        devices.append(polled)
    return devices


def make_transport(bus: Bus, port: str | None = None) -> ModbusTransport | Dlt645Transport:
    """The transport for one configured bus; `port` replaces the configured one (demo, tests)."""
    gap = resolve_inter_frame_gap(bus)
    if bus.type == "tcp":
        host, _, tcp_port = (port or f"{bus.host}:{bus.tcp_port}").rpartition(":")
        return ModbusTransport.tcp(host, int(tcp_port), bus.timeout)
    path = port or bus.port
    parity = bus.parity
    if parity != "N" and os.path.realpath(path).startswith("/dev/pts/"):
        # A pseudo-terminal (the simulated well) has no parity bit; Linux refuses to set one.
        log.info("bus %s: %s is a pseudo-terminal, opened without parity", bus.name, path)
        parity = "N"
    serial_args = (path, bus.baud, parity, bus.stop_bits, bus.bytesize, bus.timeout, gap)
    if bus.type == "dlt645":
        return Dlt645Transport(*serial_args)
    return ModbusTransport.serial(*serial_args)


@dataclass
class BusChanges:
    """What a reload changed in acquisition, for the summary line."""

    devices_added: list[str] = field(default_factory=list)
    devices_removed: list[str] = field(default_factory=list)
    devices_changed: list[str] = field(default_factory=list)
    buses_restarted: list[str] = field(default_factory=list)
    policy_changed: bool = False


def device_definition(config: GatewayConfig, name: str) -> tuple:
    """What decides how a device is polled: its table and the profile points it reads."""
    device = config.device(name)
    return (device.model_dump(), [point.model_dump() for point in
                                  config.effective_points(device)])


def bus_definition(config: GatewayConfig, name: str, ports: dict[str, str]) -> tuple:
    """What decides how a bus is opened: its table and the port given for it."""
    return (config.bus(name).model_dump(), ports.get(name))


class Acquisition:
    """All buses of one gateway: `await run()` polls until `stop()`; `await apply(config)` takes
    a reloaded config's buses and devices while the others go on polling."""

    def __init__(self, config: GatewayConfig, sink: ReadingSink,
                 ports: dict[str, str] | None = None) -> None:
        self.config = config
        self.sink = sink
        self.ports = dict(ports or {})
        self.board = dx.HealthBoard()
        acq = config.acquisition
        self.policy = OfflinePolicy(acq.offline_after, acq.backoff_initial, acq.backoff_max)
        self.clock = ClockState()  # one look at the kernel's sync flag a second for every bus
        self.flaps = FlapLog(logging.getLogger("gateway.acquisition.poller"),
                             config.gateway.log_summary_s)
        self.pollers: list[BusPoller] = []
        self._tasks: dict[str, asyncio.Task] = {}
        self._changed = asyncio.Event()
        self._stopped = False
        for bus in config.buses:
            poller = self._poller(bus, polled_devices(config, bus.name))
            if poller is not None:
                self.pollers.append(poller)

    def _poller(self, bus: Bus, devices: list[PolledDevice]) -> BusPoller | None:
        if not devices:
            log.info("bus %s has no devices; not polled", bus.name)
            return None
        for device in devices:
            self.board.add(device.health)
        transport = make_transport(bus, self.ports.get(bus.name))
        return BusPoller(bus.name, transport, devices, self.sink, self.board, self.policy,
                         self.clock, self.flaps)

    async def _start(self, poller: BusPoller) -> None:
        if self._stopped:  # a reload that ends after SIGTERM: the new poller ends at once
            poller.stop()
        opened = await poller.transport.open()
        if not opened:
            log.warning("bus %s: port not available yet; will keep trying", poller.name)
        self._tasks[poller.name] = asyncio.create_task(poller.run(), name=f"bus-{poller.name}")
        self._changed.set()

    async def run(self) -> None:
        """Poll every bus until stop(); a poller that fails ends the run with its error."""
        for poller in list(self.pollers):
            await self._start(poller)
        while not self._stopped or any(not task.done() for task in self._tasks.values()):
            self._changed.clear()
            changed = asyncio.create_task(self._changed.wait())
            try:
                await asyncio.wait({changed, *self._tasks.values()},
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                changed.cancel()
            for task in list(self._tasks.values()):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    self.stop()
                    await asyncio.gather(*self._tasks.values(), return_exceptions=True)
                    raise task.exception()  # type: ignore[misc]
            if self._stopped and all(task.done() for task in self._tasks.values()):
                break

    def stop(self) -> None:
        self._stopped = True
        for poller in self.pollers:
            poller.stop()
        self._changed.set()

    async def _end(self, poller: BusPoller) -> None:
        """Stop one poller and wait for it (its poll in flight finishes; the port is closed)."""
        poller.stop()
        task = self._tasks.pop(poller.name, None)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        self.pollers.remove(poller)

    async def apply(self, config: GatewayConfig) -> BusChanges:
        """Take a reloaded config: a bus whose table (or port) changed is restarted, a device
        added, removed or changed is taken on or dropped on its bus, and every other device goes
        on polling on its schedule. Call from the loop the pollers run on."""
        old, changes = self.config, BusChanges()
        old_devices = {d.name: d.bus for d in old.devices}
        new_devices = {d.name: d.bus for d in config.devices}
        changes.devices_added = [n for n in new_devices if n not in old_devices]
        changes.devices_removed = [n for n in old_devices if n not in new_devices]
        changes.devices_changed = [
            n for n in new_devices if n in old_devices
            and (old_devices[n] != new_devices[n]
                 or device_definition(old, n) != device_definition(config, n))]
        acq = config.acquisition
        policy = (acq.offline_after, acq.backoff_initial, acq.backoff_max)
        self.flaps.every = config.gateway.log_summary_s
        if policy != (self.policy.offline_after, self.policy.backoff_initial,
                      self.policy.backoff_max):
            changes.policy_changed = True
            (self.policy.offline_after, self.policy.backoff_initial,
             self.policy.backoff_max) = policy  # shared by every poller: applies at once
        running = {poller.name: poller for poller in self.pollers}
        kept = {name: device for poller in self.pollers for device in poller.devices
                if (name := device.name) in new_devices
                and name not in changes.devices_changed}
        old_names = {bus.name for bus in old.buses}
        for bus in config.buses:
            poller = running.get(bus.name)
            fresh = polled_devices(config, bus.name)
            devices = [kept.get(device.name, device) for device in fresh]
            for device in devices:
                if device.name in changes.devices_changed:
                    device.health = self.board.devices.get(device.name, device.health)
                    device.health.model = config.device(device.name).model
            same_bus = (bus.name in old_names and bus_definition(old, bus.name, self.ports)
                        == bus_definition(config, bus.name, self.ports))
            if poller is not None and same_bus and devices:
                if [d.name for d in devices] != [d.name for d in poller.devices] or any(
                        a is not b for a, b in zip(devices, poller.devices, strict=True)):
                    for device in devices:
                        self.board.add(device.health)
                    poller.replace_devices(devices)
                continue
            if poller is not None:
                await self._end(poller)
                if devices:
                    changes.buses_restarted.append(bus.name)
            started = self._poller(bus, devices)
            if started is not None and poller is not None:
                started.transactions = poller.transactions  # the watchdog's count goes on
            if started is not None:
                self.pollers.append(started)
                await self._start(started)
        for name, poller in running.items():
            if name not in {bus.name for bus in config.buses}:
                await self._end(poller)
        for name in changes.devices_removed:
            self.board.devices.pop(name, None)
        self.config = config
        return changes
