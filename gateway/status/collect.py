"""What the status page, /api/status and /metrics show, gathered from the running gateway.

Two halves: live() reads what the gateway holds in memory (the health board, the store's and
the uplinks' counters) and runs on the event loop that changes them; from_store() reads the
signed store (the newest value of each point, accounting's checkpoint, the uplinks' backlog,
alarms raised) through the store's queries on a read-only connection, in a worker thread, so a
slow disk never stalls polling. Nothing here writes anything.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.accounting.plan import build_plan
from gateway.accounting.records import RAISED
from gateway.accounting.report import alarms_data, load_view, local_time, totals_data
from gateway.accounting.service import clock_synchronised
from gateway.config import GatewayConfig
from gateway.store import DB_FILE, fingerprint, open_reader
from gateway.store.queries import count_after, latest_record, newest_seqs, record_at, seq_span
from gateway.store.records import KIND_ALARM, KIND_READING, Record
from gateway.uplink.status import uplink_status

FIRST_LOOK_BACK = 20_000  # records the first look scans back for each point's newest value
CACHE_S = 1.0  # one look at the store serves every request within this long
# The points a crew member looks at first (docs/points.md); the page folds the others away.
KEY_POINTS = ("flow_rate", "forward_total", "active_power", "import_energy", "total_energy",
              "power_factor", "level", "pipe_status", "error_code")
COUNTERS = ("requests", "good_replies", "timeouts", "crc_errors", "exception_replies",
            "malformed", "connect_errors", "polls", "failed_polls", "consecutive_failures")


class StoreLook:
    """The store's side, kept up to date by reading only what was committed since last time."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.path = Path(config.gateway.state_dir) / DB_FILE
        self.plan = build_plan(config) if config.well.accounting is not None else None
        self.points = {device.name: [point.name for point in config.effective_points(device)]
                       for device in config.devices}
        self.cursor: int | None = None  # records through this seq have been looked at
        self.since_start: int | None = None  # alarms are counted from this seq on
        self.alarms_raised = 0
        self.newest: dict[tuple[str, str], Record] = {}
        self._looked_back: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def read(self, uplinks_live: dict[str, Any] | None, now: float) -> dict[str, Any]:
        """Newest values, accounting's totals and alarms, uplinks' backlog (one read transaction
        per part; a store that cannot be read gives its error instead)."""
        with self._lock:
            try:
                conn = open_reader(self.path)
            except (OSError, sqlite3.Error) as exc:
                return {"store_error": f"cannot read {self.path}: {exc}"}
            try:
                self._catch_up(conn)
                found: dict[str, Any] = {"values": self._values(now)}
                found.update(self._accounting(conn, now))
            except sqlite3.Error as exc:
                found = {"store_error": f"cannot read {self.path}: {exc}"}
            finally:
                conn.close()
        live = {"uplinks": uplinks_live or {}}
        found["uplinks"] = uplink_status(self.config, now, live) if self.config.uplinks else []
        return found

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        last, _ = seq_span(conn)
        if self.cursor is None:
            self.cursor = max(0, last - FIRST_LOOK_BACK)
            self.since_start = last
        if last <= self.cursor:
            return
        for key, seq in newest_seqs(conn, KIND_READING, self.cursor).items():
            record = record_at(conn, seq)
            if record is not None:
                self.newest[key] = record
        assert self.since_start is not None
        start = max(self.cursor, self.since_start)
        self.alarms_raised += count_after(conn, start, last, KIND_ALARM, RAISED)
        self.cursor = last
        for device, points in self.points.items():  # not read lately: look back once, further
            for point in points:
                key = (device, point)
                if key not in self.newest and key not in self._looked_back:
                    self._looked_back.add(key)
                    record = latest_record(conn, KIND_READING, device, point)
                    if record is not None:
                        self.newest[key] = record

    def _values(self, now: float) -> dict[str, list[dict[str, Any]]]:
        zone = self.config.well.timezone
        values: dict[str, list[dict[str, Any]]] = {}
        for device, points in self.points.items():
            values[device] = []
            for point in points:
                record = self.newest.get((device, point))
                if record is None:
                    values[device].append({"point": point, "value": None, "unit": "",
                                           "quality": None, "age_s": None, "at": None,
                                           "key": point in KEY_POINTS})
                    continue
                values[device].append({
                    "point": point, "value": record.value, "unit": record.unit or "",
                    "quality": record.quality, "seq": record.seq,
                    "age_s": None if record.wall_time is None else max(0.0,
                                                                       now - record.wall_time),
                    "at": local_time(record.wall_time, zone), "key": point in KEY_POINTS})
        return values

    def _accounting(self, conn: sqlite3.Connection, now: float) -> dict[str, Any]:
        if self.plan is None:
            return {"water": None, "alarms": None}
        zone = self.config.well.timezone
        view = load_view(conn, zone)
        if view is None:
            return {"water": None, "alarms": None}
        today = view.ledger.local_date(now)
        water = totals_data(view, today, self.plan.allocation, self.plan.counting_source, zone)
        water["day"] = today.isoformat()
        return {"water": water, "alarms": alarms_data(view, zone)}


class StatusSource:
    """Everything the status server shows: status() for the page and JSON, live() for metrics."""

    def __init__(self, config: GatewayConfig, acquisition: Any, sink: Any,
                 uplinks: Any = None,
                 clock_probe: Callable[[], tuple[int | None, str]] = clock_synchronised) -> None:
        self.config = config
        self.acquisition = acquisition
        self.sink = sink  # the StoreSink
        self.uplinks = uplinks  # RunningUplinks or None
        self.clock_probe = clock_probe
        self.store = StoreLook(config)
        self.key_fingerprint = fingerprint(sink.key.public_key())
        self._cached: tuple[float, dict[str, Any]] | None = None
        self._pending: asyncio.Future[dict[str, Any]] | None = None

    def live(self) -> dict[str, Any]:
        """The in-memory half; call it on the gateway's event loop."""
        snapshot = self.acquisition.board.snapshot()
        uplinks = self.uplinks.uplinks.snapshot()["uplinks"] if self.uplinks is not None else {}
        return {"board": snapshot, "store": self.sink.stats.as_dict(), "uplinks": uplinks,
                "disk_write_bytes": process_write_bytes()}

    async def status(self) -> dict[str, Any]:
        """The whole status; concurrent and quick repeat callers share one look at the store."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE_S:
            return self._cached[1]
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._assemble())
        pending = self._pending
        try:
            found = await asyncio.shield(pending)
        finally:
            if self._pending is pending and pending.done():
                self._pending = None
        self._cached = (time.monotonic(), found)
        return found

    async def _assemble(self) -> dict[str, Any]:
        live = self.live()
        wall = time.time()
        stored = await asyncio.to_thread(self.store.read, live["uplinks"], wall)
        clock = await asyncio.to_thread(self.clock_probe)
        return assemble(self.config, live, stored, wall, clock, self.key_fingerprint,
                        self.store.alarms_raised)


def process_write_bytes() -> int | None:
    """Bytes this process has caused to be written to storage (Linux /proc/self/io)."""
    try:
        with open(f"/proc/{os.getpid()}/io", encoding="ascii") as io:
            for line in io:
                if line.startswith("write_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reason(device: dict[str, Any], changes: list[dict[str, Any]]) -> str:
    """Why a device is not online: its last state change's reason, else its last error."""
    if device["state"] == "online":
        return ""
    for change in reversed(changes):
        if change["device"] == device["device"] and change["state"] == device["state"]:
            return change["reason"]
    return device.get("last_error") or ("not polled yet" if device["state"] == "unknown" else "")


def assemble(config: GatewayConfig, live: dict[str, Any], stored: dict[str, Any], now: float,
             clock: tuple[int | None, str], key_fingerprint: str,
             alarms_raised: int) -> dict[str, Any]:
    """The JSON of /api/status from the live and the stored halves."""
    zone = config.well.timezone
    board = live["board"]
    values = stored.get("values", {})
    meters = []
    for device in board["devices"]:
        role = config.effective_role(device["device"])
        meters.append({
            "device": device["device"], "bus": device["bus"], "model": device["model"],
            "role": role, "state": device["state"],
            "state_since": local_time(device["state_since"], zone),
            "reason": _reason(device, board["changes"]),
            "last_good": local_time(device["last_good_wall"], zone),
            "last_good_age_s": None if device["last_good_wall"] is None
            else max(0.0, now - device["last_good_wall"]),
            "rtt_avg_ms": None if device["rtt_avg"] is None else device["rtt_avg"] * 1000.0,
            "counters": {name: device[name] for name in COUNTERS},
            "values": values.get(device["device"], []),
        })
    synchronised, how = clock
    return {
        "well": {"id": config.well.id, "name": config.well.name, "timezone": zone},
        "now": local_time(now, zone), "now_wall": now,
        "gateway": {"started": local_time(board["started_at"], zone),
                    "key_fingerprint": key_fingerprint,
                    "clock": {"synchronised": None if synchronised is None
                              else bool(synchronised), "how": how}},
        "meters": meters,
        "alarms": stored.get("alarms"),
        "alarms_raised_since_start": alarms_raised,
        "water": stored.get("water"),
        "uplinks": [{**row, "last_success_local": None if row.get("last_success") is None
                     else local_time(row["last_success"], zone),
                     "last_error_local": None if row.get("last_error_wall") is None
                     else local_time(row["last_error_wall"], zone)}
                    for row in stored.get("uplinks", [])],
        "store": {**live["store"], "error": stored.get("store_error")},
    }
