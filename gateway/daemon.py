"""The gateway process: acquisition into the signed store, and health snapshots, until a signal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from gateway.accounting.service import AccountingRoom, start_accounting
from gateway.acquisition.service import Acquisition
from gateway.atomic_file import write_json_atomic
from gateway.config import GatewayConfig
from gateway.readings import ReadingSink
from gateway.store import StoreSink
from gateway.uplink.service import start_uplinks

log = logging.getLogger(__name__)

HEALTH_FILE = "health.json"
STOP_FLUSH_TIMEOUT = 5.0  # s: on the way out, how long to try committing what waits


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
) -> Acquisition:
    """Poll every bus until SIGTERM/SIGINT or `seconds` have passed; returns the stopped service.

    With [well.accounting] in the config and the store as the sink, the accounting room runs
    beside acquisition (or pass a started `accounting` room, as the demo does)."""
    acquisition = Acquisition(config, sink, ports)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, acquisition.stop)
    polling = asyncio.create_task(acquisition.run())
    uplinks = (start_uplinks(config, sink.state_dir, runtime_dir(config))
               if isinstance(sink, StoreSink) else None)
    if accounting is None and isinstance(sink, StoreSink):
        accounting = start_accounting(config, sink)
    health_path = runtime_dir(config) / HEALTH_FILE
    deadline = None if seconds is None else time.monotonic() + seconds
    next_health = 0.0
    try:
        while not polling.done():
            await asyncio.wait({polling}, timeout=tick_every)
            now = time.monotonic()
            if accounting is not None:
                accounting.note_health(acquisition.board)
                await accounting.act(acquisition)
            if tick is not None:
                tick(acquisition)
            if write_health and now >= next_health:
                next_health = now + health_every
                try:
                    write_json_atomic(health_path, health_snapshot(acquisition, sink))
                except OSError as exc:
                    log.warning("cannot write health snapshot %s: %s", health_path, exc)
            if deadline is not None and now >= deadline:
                acquisition.stop()
        polling.result()
    finally:
        # Stopping: the uplinks first (a send in flight is dropped within a second, whatever
        # the network does: it goes again next start), while polling ends and the store
        # commits what waits; then accounting; then the uplinks are waited for (bounded).
        if uplinks is not None:
            uplinks.stop()
        acquisition.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        if isinstance(sink, StoreSink):  # commit what waits, so the last snapshot counts it
            await asyncio.to_thread(sink.flush, STOP_FLUSH_TIMEOUT)
        if accounting is not None:  # account what was committed, write the interval so far
            accounting.note_health(acquisition.board)
            await asyncio.to_thread(accounting.close)
            await asyncio.to_thread(accounting.sink.flush, STOP_FLUSH_TIMEOUT)
        if uplinks is not None:
            await uplinks.close()
        if write_health:
            with contextlib.suppress(OSError):
                write_json_atomic(health_path, health_snapshot(acquisition, sink))
    return acquisition
