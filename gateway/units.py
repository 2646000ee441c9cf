"""Units: values in the base units (kW, kWh, m³, m³/h, m, V, A, µS/cm, mg/L, pH, NTU, °C) expressed
in a profile's units."""

from __future__ import annotations

# Each quantity's units, spelt as a profile must spell them (case matters: mW is not MW), with
# the factor that turns a base-unit value into that unit. A unit not listed is refused when a
# profile loads: there is no guessed factor 1.
QUANTITY_UNITS: dict[str, dict[str, float]] = {
    "volume": {"m3": 1.0, "m³": 1.0, "L": 1000.0, "l": 1000.0, "t": 1.0},
    "flow rate": {"m3/h": 1.0, "m³/h": 1.0, "m3/s": 1 / 3600, "m³/s": 1 / 3600,
                  "m3/min": 1 / 60, "m³/min": 1 / 60, "L/s": 1000 / 3600, "l/s": 1000 / 3600,
                  "L/min": 1000 / 60, "l/min": 1000 / 60, "L/h": 1000.0, "l/h": 1000.0,
                  "t/h": 1.0},
    "energy": {"kWh": 1.0, "Wh": 1000.0, "MWh": 0.001},
    "reactive energy": {"kvarh": 1.0, "varh": 1000.0},
    "power": {"W": 1000.0, "kW": 1.0, "MW": 0.001},
    "reactive power": {"var": 1000.0, "kvar": 1.0},
    "apparent power": {"VA": 1000.0, "kVA": 1.0},
    "length": {"m": 1.0, "cm": 100.0, "mm": 1000.0},
    "velocity": {"m/s": 1.0},
    "voltage": {"V": 1.0, "kV": 0.001, "mV": 1000.0},
    "current": {"A": 1.0, "mA": 1000.0},
    "frequency": {"Hz": 1.0},
    "ratio": {"": 1.0, "%": 1.0},  # no unit: a count, a code, a power factor
    # water quality (issue 15)
    "conductivity": {"µS/cm": 1.0, "uS/cm": 1.0, "mS/cm": 0.001},
    "concentration": {"mg/L": 1.0, "mg/l": 1.0, "g/L": 0.001, "ppm": 1.0},
    "acidity": {"pH": 1.0},
    "turbidity": {"NTU": 1.0, "FNU": 1.0},
    "temperature": {"°C": 1.0, "degC": 1.0},
}
_FACTORS: dict[str, float] = {
    unit: factor for units in QUANTITY_UNITS.values() for unit, factor in units.items()
}


def quantity_of(unit: str) -> str | None:
    """The quantity a unit measures ("kWh" → "energy"), None for a unit not listed."""
    return next((name for name, units in QUANTITY_UNITS.items() if unit in units), None)


def unit_problem(unit: str, quantity: str | None = None) -> str | None:
    """What a profile point's unit should have been (None when it is fine): one of the
    quantity's units, or, with no quantity, one of the listed units."""
    if quantity is not None:
        allowed = QUANTITY_UNITS[quantity]
        if unit in allowed:
            return None
        return f"a unit of {quantity} (case matters): " + ", ".join(repr(u) for u in allowed)
    if unit in _FACTORS:
        return None
    return "a known unit (case matters): " + "; ".join(
        f"{name} " + ", ".join(repr(u) for u in units) for name, units in QUANTITY_UNITS.items())


def normalise_unit(unit: str) -> str:
    """Lower-case, no spaces, '3' after m as '³' (m3/h → m³/h): for matching labels only."""
    text = unit.strip().lower().replace(" ", "")
    return text.replace("m3", "m³")


def from_base(value: float, unit: str) -> float:
    """A base-unit value expressed in `unit` (kW → W multiplies by 1000)."""
    factor = _FACTORS.get(unit)
    if factor is None:
        raise ValueError(f"unit {unit!r} is not known; expected {unit_problem(unit)}")
    return value * factor
