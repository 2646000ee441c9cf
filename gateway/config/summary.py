"""summarize: what a valid config will do, in the words of `wellgate check-config`."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.config.buses import Device, resolve_inter_frame_gap
from gateway.config.schema import GatewayConfig


def _device_line(config: GatewayConfig, device: Device) -> str:
    ident = f"id {device.slave_id}" if device.slave_id is not None else f"address {device.address}"
    count = len(config.effective_points(device))
    return (f"    {device.name:<18} {device.model:<16} {ident:<20} "
            f"{config.effective_role(device):<7} every {device.poll_interval:g} s, {count} points")


def summarize(config: GatewayConfig, more: Iterable[str] = ()) -> str:
    """What a valid config will do: buses, devices, models, poll intervals (for check-config),
    then `more` lines, what the rooms that use the config say of it (accounting's plan)."""
    well = config.well
    lines = [
        f"{config.source or 'config'}: OK",
        f"well {well.id}{f' ({well.name})' if well.name else ''}, time zone {well.timezone}",
        f"{len(config.buses)} bus(es), {len(config.devices)} device(s), "
        f"models: {', '.join(sorted({d.model for d in config.devices}))}",
    ]
    for bus in config.buses:
        gap = resolve_inter_frame_gap(bus)
        if bus.type == "tcp":
            where = f"tcp {bus.host}:{bus.tcp_port}"
        else:
            where = f"{bus.type} {bus.port} {bus.line()}, gap {gap * 1000:.2f} ms"
        lines.append(f"  bus {bus.name}: {where}, timeout {bus.timeout:g} s, retries {bus.retries}")
        devices = config.devices_on(bus)
        lines += [_device_line(config, device) for device in devices] or ["    (no devices)"]
    acquisition = config.acquisition
    lines.append(
        f"offline after {acquisition.offline_after} failed polls; retry every "
        f"{acquisition.backoff_initial:g} s doubling to {acquisition.backoff_max:g} s"
    )
    if config.profile_dirs:
        lines.append("extra profile folders: " + ", ".join(str(d) for d in config.profile_dirs))
    lines += more
    return "\n".join(lines)
