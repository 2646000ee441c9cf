"""`wellgate demo`: the simulated well and the gateway against it, with live readings and health."""

from __future__ import annotations

import sys
import time

import click

from gateway.acquisition.service import Acquisition
from gateway.config import GatewayConfig
from gateway.daemon import run_gateway
from gateway.display import health_table, readings_table
from gateway.readings import MemorySink
from gateway.simulator import SimulatedWell


def _truth_line(well: SimulatedWell) -> str:
    snap = well.snapshot()
    pump = "RUNNING" if snap.pump_on else "stopped"
    return (f"simulated well t={snap.time_s / 3600:.2f} h: pump {pump}, {snap.power_kw:.2f} kW, "
            f"flow {snap.flow_m3h:.2f} m³/h, head {snap.head_m:.1f} m, "
            f"k {snap.coefficient_m3_per_kwh:.3f} m³/kWh, depth to water "
            f"{snap.depth_to_water_m:.2f} m; pumped {snap.volume_m3:.2f} m³ with "
            f"{snap.energy_kwh:.2f} kWh")


async def run_demo(config: GatewayConfig, seconds: float | None, byte_time: bool,
                   time_scale: float, refresh: float) -> None:
    """Run until Ctrl-C or `seconds`; redraw the screen every `refresh` seconds."""
    well = SimulatedWell.from_config(config, seed=1, time_scale=time_scale,
                                     emulate_byte_time=byte_time)
    await well.start()
    for bus in config.buses:
        if bus.type == "tcp":
            await well.serve_tcp(bus.name)
    sink = MemorySink(history=0)
    started = time.monotonic()
    interactive = sys.stdout.isatty()

    def show(acquisition: Acquisition) -> None:
        transactions = sum(p.transactions for p in acquisition.pollers)
        elapsed = time.monotonic() - started
        lines = [
            f"wellgate demo — {elapsed:.0f} s, {sink.count} readings, {transactions} transactions "
            f"({transactions / max(elapsed, 1e-9):.1f}/s); ports: "
            + ", ".join(f"{name}={port}" for name, port in well.ports().items()),
            _truth_line(well),
            "",
            readings_table(sink.latest.values()),
            "",
            health_table(acquisition.board.snapshot()),
        ]
        if interactive:
            click.echo("\x1b[H\x1b[2J" + "\n".join(lines))
        elif int(elapsed) % 10 == 0 or (seconds is not None and elapsed >= seconds - refresh):
            click.echo("\n".join(lines) + "\n")

    try:
        acquisition = await run_gateway(config, sink, well.ports(), seconds, tick=show,
                                        tick_every=refresh, write_health=False)
    finally:
        await well.stop()
    show(acquisition)
    online = sum(1 for h in acquisition.board.devices.values() if h.state == "online")
    click.echo(f"\n{online} of {len(acquisition.board.devices)} devices online; "
               f"{sink.count} readings decoded.")
