"""Plain-text tables for people: device health and the latest readings."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from gateway.point_values import FLOAT_DIGITS, shown_decimals, value_text
from gateway.profiles import Dlt645Point, ModbusPoint
from gateway.readings import Reading
from gateway.tables import format_table


def _ago(wall: float | None, now: float) -> str:
    return "never" if wall is None else f"{now - wall:.1f}s ago"


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.1f}"


def health_table(snapshot: dict, now: float | None = None) -> str:
    """One row per device: state, counters, last good reply (its age now, not at the snapshot:
    a stopped gateway's replies grow old), round-trip time."""
    now = time.time() if now is None else now
    rows = [
        (d["device"], d["bus"], d["model"], d["state"], d["requests"], d["good_replies"],
         d["timeouts"], d["crc_errors"], d["exception_replies"], d["malformed"],
         d.get("skipped_slots", 0), _ago(d["last_good_wall"], now), _ms(d["last_rtt"]),
         d["last_error"])
        for d in snapshot["devices"]
    ]
    return format_table(("device", "bus", "model", "state", "requests", "good", "timeouts", "crc",
                         "exceptions", "malformed", "skipped", "last good", "rtt ms",
                         "last error"), rows, rule=True)


Precision = tuple[int | None, int | None]  # (decimal places, else significant digits)
DEFAULT_PRECISION: Precision = (None, 7)
OTHER_DIGITS = 10  # a value of unknown resolution that is no float register (e.g. long_fraction)


def precisions(points: Iterable[ModbusPoint | Dlt645Point], device: str,
               readings: Iterable[Reading]) -> dict[tuple[str, str], Precision]:
    """How each point of `device` is shown at its meter's resolution; a decimals_from point's
    decimals are taken from that point's raw value among `readings`."""
    raw = {r.point: r.raw[0] for r in readings if r.device == device and r.raw}
    shown = {}
    for point in points:
        source = getattr(point, "decimals_from", None)
        decimals = shown_decimals(point, raw.get(source) if source else None)
        shown[(device, point.name)] = (decimals, FLOAT_DIGITS.get(getattr(point, "type", ""),
                                                                  OTHER_DIGITS))
    return shown


def format_value(reading: Reading, precision: Precision = DEFAULT_PRECISION) -> str:
    """A reading's value as a person reads it, at the meter's precision."""
    value = reading.value
    if value is None:
        return f"— ({reading.quality})"
    text = value_text(value, *precision) if isinstance(value, float) else str(value)
    return f"{text} {reading.unit}".strip()


def readings_table(readings: Iterable[Reading],
                   shown: Mapping[tuple[str, str], Precision] | None = None) -> str:
    """The latest value of every point, grouped by device, each at its precision (`shown`, from
    precisions(); else up to 7 significant digits)."""
    shown = shown or {}
    rows = [(r.device, r.point, format_value(r, shown.get((r.device, r.point),
                                                          DEFAULT_PRECISION)),
             r.kind, r.quality, " ".join(format(x, "X") for x in r.raw[:6]))
            for r in sorted(readings, key=lambda r: (r.device, r.point))]
    return format_table(("device", "point", "value", "kind", "quality", "raw"), rows, rule=True)
