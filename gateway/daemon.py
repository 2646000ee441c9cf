"""The gateway process: acquisition into the signed store, and health snapshots, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gateway.accounting.records import GATEWAY_DEVICE, STEP_POINT, health
from gateway.acquisition.service import Acquisition
from gateway.atomic_file import write_json_atomic
from gateway.config import GatewayConfig
from gateway.liveness import writer_fields
from gateway.notify import Notifier
from gateway.readings import ReadingSink
from gateway.reload import Running, reload_config
from gateway.store import StoreSink
from gateway.wallclock import ClockWatch

if TYPE_CHECKING:  # imported when configured: a start need not wait for rooms it does not run
    from gateway.accounting.service import AccountingRoom

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"
STOP_FLUSH_TIMEOUT = 5.0  # s: on the way out, how long to try committing what waits
# s after SIGTERM the uplinks may take delivering what the store committed (the rest of the 5 s
# stop budget is for closing their transports, engine.CLOSE_TIMEOUT, and the exit itself)
UPLINK_DRAIN_WITHIN = 3.0


def runtime_dir(config: GatewayConfig) -> Path:
    """Where the running gateway leaves its health snapshot (tmpfs under systemd: no flash wear)."""
    return Path(config.gateway.runtime_dir)


def state_dir(config: GatewayConfig) -> Path:
    """Where the gateway keeps its signed store and its key (persistent storage)."""
    return Path(config.gateway.state_dir)


def open_store(config: GatewayConfig, **options) -> StoreSink:
    """The store the gateway writes readings to; raises NoKey when `wellgate init` has not been
    run, StoreError for a store that cannot be used as it is."""
    options.setdefault("destinations", [uplink.name for uplink in config.uplinks])
    return StoreSink(state_dir(config), config.store, **options)


def health_snapshot(acquisition: Acquisition, sink: ReadingSink) -> dict:
    """The devices' bus health, and the store's counters when the sink is the store."""
    snapshot = acquisition.board.snapshot()
    if isinstance(sink, StoreSink):
        snapshot["store"] = sink.stats.as_dict()
    return snapshot


def read_health(config: GatewayConfig) -> dict | None:
    """The last snapshot a running gateway wrote, or None."""
    path = runtime_dir(config) / HEALTH_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Progress:
    """One look at the counters that move while the gateway works."""

    at: float  # monotonic
    transactions: dict[str, int]  # per bus: transaction attempts started so far
    due: dict[str, float]  # per bus: when its earliest device's poll is due (monotonic)
    commits: int | None  # blocks the store has committed (None: the sink is not the store)
    waiting: int  # readings waiting for a commit
    write_failing: bool


def progress(acquisition: Acquisition, sink: ReadingSink) -> Progress:
    """The pollers' and the store's counters now."""
    transactions = {poller.name: poller.transactions for poller in acquisition.pollers}
    due = {poller.name: min(device.next_due for device in poller.devices)
           for poller in acquisition.pollers}
    if isinstance(sink, StoreSink):
        stats = sink.stats
        return Progress(time.monotonic(), transactions, due, stats.committed_blocks,
                        stats.buffered, stats.write_failing)
    return Progress(time.monotonic(), transactions, due, None, 0, False)


def stalls(before: Progress, after: Progress) -> list[str]:
    """Why the gateway made no progress from one look to a later one ([] when it did).

    A bus stalls when a poll was due at the earlier look and no transaction has started since
    (a hung bus loop; a timeout is progress: it is counted and the poller goes on). The store
    stalls when readings waited at both looks and nothing was committed (a stuck writer thread).
    A store that cannot write is no stall: it retries, raises its own alarm, and a restart would
    lose the readings that wait for it in memory."""
    span = after.at - before.at
    reasons = [f"bus {bus} started no transaction in {span:.0f} s with a poll due"
               for bus, count in after.transactions.items()
               if count == before.transactions.get(bus) and after.due[bus] <= before.at]
    if (after.commits is not None and after.commits == before.commits and before.waiting
            and after.waiting and not after.write_failing):
        reasons.append(f"the store committed nothing in {span:.0f} s with {after.waiting} "
                       f"readings waiting")
    return reasons


def stall_window(config: GatewayConfig, sink: ReadingSink, period: float) -> float:
    """How far back a look must be for stalls() to be fair: one watchdog period plus the longest
    a working gateway may go without a count moving (a commit's wait, one bus reply's)."""
    store = sink.settings if isinstance(sink, StoreSink) else config.store
    longest = max([store.commit_interval, *(bus.timeout for bus in config.buses)])
    return period + longest


def status_line(acquisition: Acquisition, sink: ReadingSink) -> str:
    """The short line `systemctl status` shows while the gateway runs."""
    devices = sum(len(poller.devices) for poller in acquisition.pollers)
    line = f"polling {len(acquisition.pollers)} bus(es), {devices} device(s)"
    return f"{line} into {sink.path}" if isinstance(sink, StoreSink) else line


async def tell_systemd(notifier: Notifier, acquisition: Acquisition, sink: ReadingSink,
                       window: float) -> None:
    """READY=1 once every bus has started its first transaction, then (with a watchdog)
    WATCHDOG=1 every half watchdog interval while stalls() over `window` finds nothing. This
    runs on the event loop the pollers run on: a blocked loop stops the messages too."""
    while not all(poller.transactions for poller in acquisition.pollers):
        await asyncio.sleep(0.05)
    status = status_line(acquisition, sink)
    notifier.ready(status)
    if notifier.watchdog is None:
        return
    period = notifier.watchdog / 2
    looks = deque([progress(acquisition, sink)])
    reasons: list[str] = []
    while True:
        if not reasons:
            notifier.alive()
        await asyncio.sleep(period)
        try:
            now = progress(acquisition, sink)
            looks.append(now)
            while len(looks) > 1 and looks[1].at <= now.at - window:
                looks.popleft()  # looks[0]: the newest look at least `window` old
            found = stalls(looks[0], now) if now.at - looks[0].at >= window else []
        except Exception:
            log.exception("watchdog: cannot check the gateway's progress; no more WATCHDOG=1, "
                          "so systemd restarts the gateway")
            return
        if found and not reasons:
            log.error("watchdog: %s; not telling systemd we are alive, so it restarts the "
                      "gateway within %g s", "; ".join(found), notifier.watchdog)
            notifier.status("stalled: " + "; ".join(found))
        elif reasons and not found:
            log.warning("watchdog: the gateway makes progress again")
            notifier.status(status)
        reasons = found


def watch_clock(watch: ClockWatch, sink: ReadingSink, accounting: AccountingRoom | None) -> None:
    """Log the wall clock's steps and changes of its sync flag (ClockWatch), keep each step in
    the store (a `clock_step` health record: readings flagged unsynchronised before it are
    repaired by it) and have accounting record the clock's state at once."""
    step, changed = watch.check()
    if step is not None and isinstance(sink, StoreSink):
        sink.append_record(health(GATEWAY_DEVICE, STEP_POINT, round(step, 3),
                                  f"the wall clock stepped by {step:+.1f} s (kernel sync flag "
                                  f"{watch.synchronised})"))
    if (step is not None or changed) and accounting is not None:
        accounting.check_clock_soon()


async def reload_safely(running: Running, path: Path | None, notifier: Notifier) -> None:
    """A SIGHUP's reload; a bug in applying it is logged, never the end of the gateway. Under
    systemd (once READY=1 was sent) RELOADING=1 when it starts and READY=1 when it is done,
    refused or not, its STATUS saying how it went."""
    if path is None:
        return
    told = notifier.was_ready  # before READY=1, the start's own READY=1 is still to come
    if told:
        notifier.reloading(f"reloading {path}")
    outcome = ""
    try:
        if not await reload_config(running, path):
            outcome = f"reload of {path} refused (see the log), the config stays; "
    except Exception:
        log.exception("reload of %s failed part way; the gateway goes on with what was applied",
                      path)
        outcome = f"reload of {path} failed part way (see the log); "
    status = outcome + status_line(running.acquisition, running.sink)
    if told:
        notifier.ready(status)
    else:
        notifier.status(status)


def _start_accounting(config: GatewayConfig, sink: StoreSink) -> AccountingRoom | None:
    from gateway.accounting.service import start_accounting

    return start_accounting(config, sink)


async def run_gateway(
    config: GatewayConfig,
    sink: ReadingSink,
    ports: dict[str, str] | None = None,
    seconds: float | None = None,
    tick: Callable[[Acquisition], None] | None = None,
    tick_every: float = 1.0,
    health_every: float = 5.0,
    write_health: bool = True,
    accounting: AccountingRoom | None = None,
    notifier: Notifier | None = None,
) -> Acquisition:
    """Poll every bus until SIGTERM/SIGINT or `seconds` have passed; returns the stopped service.

    SIGHUP reads the config file again and applies it (gateway/reload.py).
    With [well.accounting] in the config and the store as the sink, the accounting room runs
    beside acquisition (or pass a started `accounting` room, as the demo does). Under systemd
    (`notifier`, by default the one $NOTIFY_SOCKET names) it says READY=1, WATCHDOG=1 while
    the gateway makes progress, and STOPPING=1 (tell_systemd)."""
    if notifier is None:
        notifier = Notifier.from_environment()
    acquisition = Acquisition(config, sink, ports)
    loop = asyncio.get_running_loop()
    stop_asked: list[float] = []  # when SIGTERM/SIGINT came (monotonic): the stop budget's start

    def stop() -> None:
        stop_asked.append(time.monotonic())
        acquisition.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop)
    polling = asyncio.create_task(acquisition.run())
    uplinks = None
    if config.uplinks and isinstance(sink, StoreSink):
        from gateway.uplink.service import start_uplinks  # its HTTP, TLS and MQTT stacks

        uplinks = start_uplinks(config, sink.state_dir, runtime_dir(config), sink.append_record)
    owns_accounting = accounting is None
    if accounting is None and isinstance(sink, StoreSink) and config.well.accounting is not None:
        # Started in a worker thread (its imports would hold the first poll back), before the
        # first commit: started after records were committed, its first total's first step was
        # once missing from the day (tests/test_clock_run.py, under load; cause not found).
        accounting = await asyncio.to_thread(_start_accounting, config, sink)
    status = None
    if config.status is not None and isinstance(sink, StoreSink):
        from gateway.status.server import start_status_server  # the web stack: only with [status]
        status = await start_status_server(config, acquisition, sink, uplinks)
    running = Running(config, acquisition, sink, uplinks, accounting, owns_accounting)
    reload_asked = asyncio.Event()
    if config.source is not None:  # SIGHUP: read the config file again (gateway/reload.py)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, reload_asked.set)
    window = stall_window(config, sink, (notifier.watchdog or 0.0) / 2)
    systemd = asyncio.create_task(tell_systemd(notifier, acquisition, sink, window))
    health_path = runtime_dir(config) / HEALTH_FILE
    deadline = None if seconds is None else time.monotonic() + seconds
    next_health = 0.0
    clock = ClockWatch()
    clock.check()  # says at start when the clock is not synchronised
    try:
        while not polling.done():
            await asyncio.wait({polling}, timeout=tick_every)
            watch_clock(clock, sink, accounting)
            if reload_asked.is_set() and not polling.done():
                reload_asked.clear()
                await reload_safely(running, config.source, notifier)
                accounting, uplinks, next_health = running.accounting, running.uplinks, 0.0
            now = time.monotonic()
            if accounting is not None:
                accounting.note_health(acquisition.board)
                await accounting.act(acquisition)
            if tick is not None:
                tick(acquisition)
            if write_health and now >= next_health:
                next_health = now + health_every
                try:
                    write_json_atomic(health_path, {**health_snapshot(acquisition, sink),
                                                    **writer_fields(health_every)})
                except OSError as exc:
                    log.warning("cannot write health snapshot %s: %s", health_path, exc)
            if deadline is not None and now >= deadline:
                acquisition.stop()
        polling.result()
    finally:
        # Stopping: polling ends and the store commits what waits (the uplinks go on
        # meanwhile), then accounting; then each uplink gets a last chance to deliver what the
        # store committed, until UPLINK_DRAIN_WITHIN s after SIGTERM (one that fails, or is
        # still waiting for an ack then, is dropped: it goes again next start from its cursor).
        began = stop_asked[0] if stop_asked else time.monotonic()
        notifier.stopping("stopping: committing what waits")
        systemd.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await systemd
        acquisition.stop()
        if status is not None:
            await status.close()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        with contextlib.suppress(ValueError):  # a reload asked while stopping: not a kill
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if isinstance(sink, StoreSink):  # commit what waits, so the last snapshot counts it
            await asyncio.to_thread(sink.flush, STOP_FLUSH_TIMEOUT)
        if accounting is not None:  # account what was committed, write the interval so far
            accounting.note_health(acquisition.board)
            await asyncio.to_thread(accounting.close)
            await asyncio.to_thread(accounting.sink.flush, STOP_FLUSH_TIMEOUT)
        if uplinks is not None:
            await uplinks.drain(began + UPLINK_DRAIN_WITHIN)
            await uplinks.close(grace=0.0)
        if write_health:  # the last one says the gateway stopped: `wellgate health` calls it stale
            with contextlib.suppress(OSError):
                write_json_atomic(health_path, {**health_snapshot(acquisition, sink),
                                                **writer_fields(health_every),
                                                "stopped_at": time.time()})
    return acquisition
