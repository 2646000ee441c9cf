"""Plain-text tables for people: device health and the latest readings."""

from __future__ import annotations

import time
from collections.abc import Iterable

from gateway.readings import Reading
from gateway.tables import format_table


def _ago(wall: float | None, now: float) -> str:
    return "never" if wall is None else f"{now - wall:.1f}s ago"


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


def health_table(snapshot: dict) -> str:
    """One row per device: state, counters, last good reply, round-trip time."""
    now = snapshot.get("written_at", time.time())
    rows = [
        (d["device"], d["bus"], d["model"], d["state"], d["requests"], d["good_replies"],
         d["timeouts"], d["crc_errors"], d["exception_replies"], d["malformed"],
         d.get("skipped_slots", 0), _ago(d["last_good_wall"], now), _ms(d["last_rtt"]),
         d["last_error"][:40])
        for d in snapshot["devices"]
    ]
    return format_table(("device", "bus", "model", "state", "requests", "good", "timeouts", "crc",
                         "exceptions", "malformed", "skipped", "last good", "rtt ms",
                         "last error"), rows, rule=True)


def format_value(reading: Reading) -> str:
    """A reading's value as a person reads it."""
    value = reading.value
    if value is None:
        return f"— ({reading.quality})"
    if isinstance(value, float):
        text = f"{value:.6g}" if abs(value) < 1e6 else f"{value:.1f}"
    else:
        text = str(value)
    return f"{text} {reading.unit}".strip()


def readings_table(readings: Iterable[Reading]) -> str:
    """The latest value of every point, grouped by device."""
    rows = [(r.device, r.point, format_value(r), r.kind, r.quality,
             " ".join(format(x, "X") for x in r.raw[:6]))
            for r in sorted(readings, key=lambda r: (r.device, r.point))]
    return format_table(("device", "point", "value", "kind", "quality", "raw"), rows, rule=True)
