"""Units: values in the base units (kW, kWh, m³, m³/h, m, V, A) expressed in a profile's units."""

from __future__ import annotations

# Factor that turns a base-unit value into the named unit. A unit not listed is the base unit.
_FACTORS: dict[str, float] = {
    "w": 1000.0,
    "kw": 1.0,
    "mw": 0.001,
    "var": 1000.0,
    "kvar": 1.0,
    "va": 1000.0,
    "kva": 1.0,
    "wh": 1000.0,
    "kwh": 1.0,
    "mwh": 0.001,
    "varh": 1000.0,
    "kvarh": 1.0,
    "m³/h": 1.0,
    "m³/s": 1.0 / 3600.0,
    "m³/min": 1.0 / 60.0,
    "l/s": 1000.0 / 3600.0,
    "l/min": 1000.0 / 60.0,
    "l/h": 1000.0,
    "t/h": 1.0,
    "m³": 1.0,
    "l": 1000.0,
    "m": 1.0,
    "cm": 100.0,
    "mm": 1000.0,
    "m/s": 1.0,
    "v": 1.0,
    "kv": 0.001,
    "a": 1.0,
    "ma": 1000.0,
    "hz": 1.0,
    "%": 1.0,
}


def normalise_unit(unit: str) -> str:
    """Lower-case, no spaces, '3' after m as '³' (m3/h → m³/h)."""
    text = unit.strip().lower().replace(" ", "")
    return text.replace("m3", "m³")


def from_base(value: float, unit: str) -> float:
    """A base-unit value expressed in `unit` (kW → W multiplies by 1000)."""
    return value * _FACTORS.get(normalise_unit(unit), 1.0)
