"""`wellgate demo`: the simulated well and the gateway against it, with live readings and health,
storing every reading in a signed store whose chain is verified as it grows, and delivering it
to a local reference receiver through an outage (gateway/demo_delivery.py)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import click

from gateway.accounting.plan import build_plan
from gateway.accounting.service import AccountingRoom
from gateway.acquisition.service import Acquisition
from gateway.config import GatewayConfig
from gateway.daemon import run_gateway
from gateway.demo_delivery import DRAIN_TIMEOUT, DemoDelivery
from gateway.display import health_table, readings_table
from gateway.readings import MemorySink, Reading, ReadingSink
from gateway.simulator import SimulatedWell
from gateway.simulator.physics import CURVE_WELL
from gateway.store import (
    DB_FILE,
    KEY_FILE,
    StoreSink,
    Verifier,
    create_key,
    fingerprint,
    open_reader,
)


class TeeSink:
    """Hands every batch of readings to several sinks (the store and the live view)."""

    def __init__(self, *sinks: ReadingSink) -> None:
        self.sinks = sinks

    def accept(self, readings: Iterable[Reading]) -> None:
        batch = list(readings)
        for sink in self.sinks:
            sink.accept(batch)


class StoreView:
    """The demo's read-only look at its store: committed records and the chain, verified
    incrementally (each refresh checks only the blocks committed since the last one)."""

    def __init__(self, path: Path, sink: StoreSink) -> None:
        self.path = path
        self.sink = sink
        self.verifier = Verifier(sink.key.public_key())
        self._conn: sqlite3.Connection | None = None

    def line(self) -> str:
        stats = self.sink.stats
        if self._conn is None and self.path.exists():
            self._conn = open_reader(self.path)
        status = "nothing committed yet"
        if self._conn is not None:
            result = self.verifier.check(self._conn)
            if not result.ok:
                status = result.summary()
            elif result.blocks:
                status = (f"chain and signatures verified: {result.records} records in "
                          f"{result.blocks} blocks, seq {result.first_seq}..{result.last_seq}")
        waiting = f", {stats.buffered} waiting for the next commit" if stats.buffered else ""
        failing = f", WRITES FAILING: {stats.last_error}" if stats.write_failing else ""
        return (f"store {self.path}: {stats.committed_records} records stored this run"
                f"{waiting}{failing}; {status}")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def _truth_line(well: SimulatedWell) -> str:
    snap = well.snapshot()
    pump = "RUNNING" if snap.pump_on else "stopped"
    return (f"simulated well t={snap.time_s / 3600:.2f} h: pump {pump}, {snap.power_kw:.2f} kW, "
            f"flow {snap.flow_m3h:.2f} m³/h, head {snap.head_m:.1f} m, "
            f"k {snap.coefficient_m3_per_kwh:.3f} m³/kWh, depth to water "
            f"{snap.depth_to_water_m:.2f} m; pumped {snap.volume_m3:.2f} m³ with "
            f"{snap.energy_kwh:.2f} kWh")


DEMO_INTERVAL_S = 10  # the demo closes an accounting interval every 10 s, so totals move on screen


def demo_room(config: GatewayConfig, store: StoreSink, folder: Path, time_scale: float,
              refresh: float) -> AccountingRoom | None:
    """The demo's accounting room (None without [well.accounting]), running. The simulated
    well pumps time_scale times faster than the readings' real clock, so the pump capacity
    and rated power that bound a plausible rise are scaled by it too."""
    if config.well.accounting is None:
        return None
    plan = build_plan(config)
    scale = max(time_scale, 1.0)

    def faster(total):
        if total is None:
            return None
        return replace(total, params=replace(total.params,
                                             max_rate_per_h=total.params.max_rate_per_h * scale))

    plan = replace(plan, volume=faster(plan.volume), energy=faster(plan.energy),
                   interval_s=DEMO_INTERVAL_S)
    room = AccountingRoom(plan, store, folder, poll_s=min(refresh, 1.0))
    room.run_in_thread()
    return room


def accounting_lines(room: AccountingRoom | None) -> list[str]:
    """Metered vs derived volume today and this year, and the alarms raised now."""
    if room is None:
        return ["accounting: off (no [well.accounting] table in the config)"]
    summary = room.summary()
    if not summary:
        return ["accounting: nothing accounted yet"]
    lines = []
    for label, row in (("today " + summary["day"], summary["today"]),
                       ("this year", summary["year"])):
        metered, derived = row["metered"] or 0.0, row["derived"] or 0.0
        lines.append(f"water {label}: metered {metered:.3f} m³, derived (以电折水) "
                     f"{derived:.3f} m³, energy {row['energy'] or 0:.3f} kWh")
    same = summary.get("compared_today") or {}
    metered, derived = same.get("metered") or 0.0, same.get("derived") or 0.0
    drift = f"{(derived - metered) / metered:+.1%}" if metered else "-"
    lines.append(f"over the same closed intervals today: metered {metered:.3f} m³, derived "
                 f"(以电折水) {derived:.3f} m³ ({drift} vs metered)")
    active = summary["active"]
    if not active:
        lines.append(f"alarms: none active ({len(summary['recent'])} cleared)")
    for alarm in active:
        since = time.strftime("%H:%M:%S", time.localtime(alarm["raised"] or 0))
        lines.append(f"ALARM {alarm['alarm']} on {alarm['device']} since {since}: "
                     f"{alarm['reason']}")
    return lines


def _demo_state_dir(state_dir: Path | None) -> tuple[Path, bool]:
    """The demo's state directory (a temporary one unless given) with a key in it; whether it
    is temporary."""
    temporary = state_dir is None
    folder = Path(tempfile.mkdtemp(prefix="wellgate-demo-")) if state_dir is None else state_dir
    if not (folder / KEY_FILE).exists():
        create_key(folder)
    return folder, temporary


async def run_demo(config: GatewayConfig, seconds: float | None, byte_time: bool,
                   time_scale: float, refresh: float, state_dir: Path | None = None,
                   uplink: bool = True) -> None:
    """Run until Ctrl-C or `seconds`; redraw the screen every `refresh` seconds."""
    folder, temporary = _demo_state_dir(state_dir)
    store = StoreSink(folder, config.store)
    view = StoreView(folder / DB_FILE, store)
    click.echo(f"demo store in {folder} (key {fingerprint(store.key.public_key())})")
    delivery, no_delivery = DemoDelivery.for_demo(config, folder, store.key, seconds, uplink)
    well = SimulatedWell.from_config(config, seed=1, time_scale=time_scale,
                                     emulate_byte_time=byte_time, params=CURVE_WELL)
    room = demo_room(config, store, folder, time_scale, refresh)
    latest = MemorySink(history=0)
    started = time.monotonic()
    interactive = sys.stdout.isatty()

    printed_receiver: list[object] = [None]  # the delivery's state on the last screen

    def show(acquisition: Acquisition) -> None:
        transactions = sum(p.transactions for p in acquisition.pollers)
        elapsed = time.monotonic() - started
        lines = [
            f"wellgate demo — {elapsed:.0f} s, {latest.count} readings, {transactions} "
            f"transactions ({transactions / max(elapsed, 1e-9):.1f}/s); ports: "
            + ", ".join(f"{name}={port}" for name, port in well.ports().items()),
            _truth_line(well),
            view.line(),
            *accounting_lines(room),
            "",
            *(delivery.lines() if delivery is not None else [no_delivery]),
            "",
            readings_table(latest.latest.values()),
            "",
            health_table(acquisition.board.snapshot()),
        ]
        receiver = delivery.state_key() if delivery is not None else None
        if interactive:
            click.echo("\x1b[H\x1b[2J" + "\n".join(lines))
        elif (int(elapsed) % 10 == 0 or receiver != printed_receiver[0]
              or (seconds is not None and elapsed >= seconds - refresh)):
            click.echo("\n".join(lines) + "\n")  # a log: every 10 s and at each change
        printed_receiver[0] = receiver

    try:
        await well.start()
        for bus in config.buses:
            if bus.type == "tcp":
                await well.serve_tcp(bus.name)
        delivered = None
        try:
            if delivery is not None:
                await delivery.start(started)
            acquisition = await run_gateway(config, TeeSink(store, latest), well.ports(),
                                            seconds, tick=show, tick_every=refresh,
                                            write_health=False, accounting=room)
        finally:
            await well.stop()
            if delivery is not None:  # what waits is committed, then delivered
                await asyncio.to_thread(store.flush)
                delivered = await delivery.finish(store.stats.last_seq)
            store.close()
        show(acquisition)
        if delivered is not None:
            click.echo("every record committed this run was delivered to the local receiver "
                       "and acknowledged" if delivered else
                       f"NOT everything was delivered within {DRAIN_TIMEOUT:.0f} s "
                       f"(receiver log: {delivery.platform.log_file})")
        online = sum(1 for h in acquisition.board.devices.values() if h.state == "online")
        click.echo(f"\n{online} of {len(acquisition.board.devices)} devices online; "
                   f"{latest.count} readings decoded.")
        click.echo(view.line())
        click.echo("\n".join(accounting_lines(room)))
    finally:
        view.close()
        if delivery is not None:
            delivery.close()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            click.echo(f"check it yourself: wellgate verify --db {folder / DB_FILE}")
