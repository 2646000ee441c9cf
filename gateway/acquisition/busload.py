"""Bus time per poll: each device's read plan, its cost on its bus, its share of the period."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.acquisition.plan import plan_for_profile
from gateway.acquisition.service import bus_cost
from gateway.config import Bus, Device, GatewayConfig
from gateway.tables import table_lines


@dataclass(frozen=True, slots=True)
class DeviceLoad:
    """One device's poll: requests, registers, bus seconds (None: not modelled), its period."""

    device: str
    requests: int
    registers: int
    seconds: float | None
    interval: float

    @property
    def share(self) -> float | None:
        """The part of the poll period the bus spends on this device (1.0 = all of it)."""
        return None if self.seconds is None else self.seconds / self.interval


def device_load(config: GatewayConfig, bus: Bus, device: Device) -> DeviceLoad:
    """What one poll of `device` costs on `bus` when every request is answered at once."""
    points = config.effective_points(device)
    profile = config.device_profile(device)
    if profile.model.protocol == "dlt645":  # one request per data identifier
        return DeviceLoad(device.name, len(points), 0, None, device.poll_interval)
    cost = bus_cost(bus)
    blocks = plan_for_profile(points, profile.defaults, cost)
    seconds = None if bus.type == "tcp" else cost.plan(blocks)
    return DeviceLoad(device.name, len(blocks), sum(b.count for b in blocks), seconds,
                      device.poll_interval)


def describe_bus_time(config: GatewayConfig) -> list[str]:
    """check-config's lines: per device, requests and bus time per poll and the period's share."""
    lines: list[str] = []
    for bus in config.buses:
        loads = [device_load(config, bus, d) for d in config.devices_on(bus)]
        if not loads:
            continue
        where = "tcp" if bus.type == "tcp" else f"{bus.baud} baud"
        lines.append(f"read plan on bus {bus.name} ({where}, answered at once, no retries):")
        rows = []
        for load in loads:
            busy = ("bus time not modelled" if load.seconds is None
                    else f"{load.seconds * 1000:.1f} ms bus time, {load.share:.1%} of "
                         f"{load.interval:g} s")
            registers = f"{load.registers} registers" if load.seconds is not None else ""
            rows.append([load.device, f"{load.requests} requests", registers, busy])
        lines += table_lines(None, rows, sep=" ", indent="    ")
        shares = [load.share for load in loads if load.share is not None]
        if shares:
            total = sum(shares)
            verdict = ("keeps its schedule" if total < 1 else
                       "cannot keep its schedule: slots will be skipped (wellgate health)")
            lines.append(f"    bus busy {total:.1%} of the time: {verdict}")
    return lines
