"""summarize: what a valid config will do, in the words of `wellgate check-config`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.config.buses import Device, resolve_inter_frame_gap
from gateway.config.schema import GatewayConfig
from gateway.tables import table_lines


def _device_row(config: GatewayConfig, device: Device) -> list[str]:
    ident = f"id {device.slave_id}" if device.slave_id is not None else f"address {device.address}"
    count = len(config.effective_points(device))
    return [device.name, device.model, ident, config.effective_role(device),
            f"every {device.poll_interval:g} s, {count} points"]


def _device_lines(config: GatewayConfig, devices: list[Device]) -> list[str]:
    if not devices:
        return ["    (no devices)"]
    rows = [_device_row(config, device) for device in devices]
    return table_lines(None, rows, min_widths=(18, 16, 20, 7), sep=" ", indent="    ")


def _uplink_line(uplink: Any) -> str:
    """One uplink: where it delivers, over what, and whose acks it takes."""
    if uplink.type == "https":
        where = f"https {uplink.url}"
    elif uplink.type == "mqtt":
        where = (f"mqtt {uplink.host}:{uplink.port} "
                 f"{'over TLS' if uplink.tls else 'in plain text (tls = false)'}, topics "
                 f"{uplink.topic_prefix}/<gateway>/batch and .../ack")
    elif uplink.type in ("sl427", "sl651"):
        return (f"  uplink {uplink.name}: {uplink.type} centre {uplink.host}:{uplink.port}, "
                f"station {uplink.county + '/' if uplink.type == 'sl427' else ''}"
                f"{uplink.station}, a report each {uplink.report_period:g} s")
    else:
        where = uplink.type
    acks = ("acks signed by " + uplink.platform_key if uplink.platform_key
            else "unsigned acks taken" if getattr(uplink, "insecure_unsigned_acks", False)
            else "acks taken over the receiver's TLS connection (no platform_key)")
    return f"  uplink {uplink.name}: {where}; {acks}"


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
        lines += _device_lines(config, list(config.devices_on(bus)))
    acquisition = config.acquisition
    lines.append(
        f"offline after {acquisition.offline_after} failed polls; retry every "
        f"{acquisition.backoff_initial:g} s doubling to {acquisition.backoff_max:g} s"
    )
    gateway = config.gateway
    lines.append(f"state dir {gateway.state_dir} (the signed store and the key), runtime dir "
                 f"{gateway.runtime_dir} (the health snapshot)")
    lines += [_uplink_line(uplink) for uplink in config.uplinks] or [
        "no uplinks: readings stay in the store until an [[uplinks]] table is added"]
    if config.profile_dirs:
        lines.append("extra profile folders: " + ", ".join(str(d) for d in config.profile_dirs))
    if config.status is not None:
        lines.append(f"status page, /api/status and /metrics on http://{config.status.listen}/ "
                     f"(token in {config.config_path(config.status.token_file)})")
    lines += more
    return "\n".join(lines)
