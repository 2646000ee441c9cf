"""`wellgate probe`: read one configured device once and show every decoded point."""

from __future__ import annotations

import json

import click

from gateway.acquisition import diagnostics as dx
from gateway.acquisition.poller import BusPoller, OfflinePolicy
from gateway.acquisition.service import make_transport, polled_devices
from gateway.config import GatewayConfig
from gateway.display import precisions, readings_table
from gateway.ports import busy_message
from gateway.probe_hints import hints
from gateway.readings import MemorySink
from gateway.tables import format_table


async def probe_device(config: GatewayConfig, name: str, port: str | None, as_json: bool) -> int:
    """Exit status: 0 the device answered, 1 it did not, 2 no such device."""
    device = next((d for d in config.devices if d.name == name), None)
    if device is None:
        names = ", ".join(d.name for d in config.devices)
        click.echo(f"error: no device named {name!r} in the config; devices: {names}", err=True)
        return 2
    bus = next(b for b in config.buses if b.name == device.bus)
    where = port or (bus.port if bus.type != "tcp" else f"{bus.host}:{bus.tcp_port}")
    held = busy_message(where) if bus.type != "tcp" else None
    if held:
        click.echo(f"error: {where} is in use{held}", err=True)
        return 1
    polled = next(p for p in polled_devices(config, bus.name) if p.name == name)
    transport = make_transport(bus, port)
    sink = MemorySink()
    poller = BusPoller(bus.name, transport, [polled], sink, dx.HealthBoard(), OfflinePolicy())
    await transport.open()
    try:
        readings = await poller.poll(polled)
    finally:
        await transport.close()
    health = polled.health
    advice = await hints(bus, device, where, health)
    if as_json:
        click.echo(json.dumps({
            "device": name,
            "health": health.as_dict(),
            "readings": [
                {"point": r.point, "value": r.value, "unit": r.unit, "quality": r.quality,
                 "kind": r.kind, "raw": list(r.raw)} for r in readings
            ],
            "hints": advice,
        }, indent=2))
    else:
        ident = f"id {device.slave_id}" if device.address is None else f"address {device.address}"
        settings = "" if bus.type == "tcp" else f" at {bus.line()}"
        click.echo(f"{name}: {device.model}, {ident} on {bus.name} ({where}{settings})")
        if readings:
            click.echo(readings_table(readings, precisions(config.effective_points(device),
                                                           name, readings)))
        click.echo(format_table(
            ("requests", "good", "timeouts", "crc", "exceptions", "malformed", "rtt ms",
             "last error"),
            [(health.requests, health.good_replies, health.timeouts, health.crc_errors,
              health.exception_replies, health.malformed,
              "" if health.last_rtt is None else f"{health.last_rtt * 1000:.1f}",
              health.last_error)], rule=True))
        for hint in advice:
            click.echo(f"try: {hint}")
    return 0 if health.good_replies else 1
