"""Acquisition service: builds one poller per configured bus and runs them side by side."""

from __future__ import annotations

import asyncio
import logging
import os

from gateway.acquisition import diagnostics as dx
from gateway.acquisition.decode import ModbusDecoder
from gateway.acquisition.plan import BusCost, plan_for_profile
from gateway.acquisition.poller import BusPoller, OfflinePolicy, PolledDevice
from gateway.acquisition.transport import Dlt645Transport, ModbusTransport
from gateway.config import Bus, GatewayConfig, resolve_inter_frame_gap
from gateway.readings import ReadingSink

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


class Acquisition:
    """All buses of one gateway: `await run()` polls until `stop()`."""

    def __init__(self, config: GatewayConfig, sink: ReadingSink,
                 ports: dict[str, str] | None = None) -> None:
        self.config = config
        self.board = dx.HealthBoard()
        acq = config.acquisition
        policy = OfflinePolicy(acq.offline_after, acq.backoff_initial, acq.backoff_max)
        self.pollers: list[BusPoller] = []
        for bus in config.buses:
            devices = polled_devices(config, bus.name)
            if not devices:
                log.info("bus %s has no devices; not polled", bus.name)
                continue
            for device in devices:
                self.board.add(device.health)
            transport = make_transport(bus, (ports or {}).get(bus.name))
            self.pollers.append(BusPoller(bus.name, transport, devices, sink, self.board, policy))

    async def run(self) -> None:
        for poller in self.pollers:
            opened = await poller.transport.open()
            if not opened:
                log.warning("bus %s: port not available yet; will keep trying", poller.name)
        await asyncio.gather(*(poller.run() for poller in self.pollers))

    def stop(self) -> None:
        for poller in self.pollers:
            poller.stop()
