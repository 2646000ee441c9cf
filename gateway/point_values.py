"""A profile point's value from its decoded registers (enum, bits, scale), and where a total wraps.

drivers/registers.py owns the register types, word orders, widths and raw <-> number conversion;
this module adds what a profile point says on top of it, once for acquisition (decode.py), the
uplink's recipes and the simulator (which also goes the other way, registers from values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from drivers import registers
from gateway.profiles import Dlt645Point, ModbusPoint


def modbus_value(decoded: int | float | str, type_: str, scale: float, offset: float,
                 decimals: int | None, enum: Mapping[str, str], *,
                 decimals_known: bool = True) -> tuple[int | float | str | None, bool]:
    """(value, good) of a Modbus point from `drivers.registers.decode(raw, type_, order)`.

    A str stays; with an enum (raw -> name) the name, or int(raw), not good, when the raw value
    has no name; a bits type int(raw); a non-finite float None, not good; then, if the point's
    decimals come from a register that holds none (`decimals_known` false), None, not good;
    scale 1, offset 0 and no decimals: raw itself (an int stays an int); otherwise
    `registers.scaled(raw, scale, offset, decimals)`.
    """
    if isinstance(decoded, str):
        return decoded, True
    if enum:
        name = enum.get(str(int(decoded)))
        return (name, True) if name is not None else (int(decoded), False)
    if type_.startswith("bits"):
        return int(decoded), True
    if isinstance(decoded, float) and not math.isfinite(decoded):
        return None, False
    if not decimals_known:
        return None, False
    if scale == 1.0 and offset == 0.0 and decimals is None:
        return decoded, True
    return registers.scaled(decoded, scale, offset, decimals), True


def wrap_and_resolution(point: ModbusPoint | Dlt645Point,
                        decimals: int | None = None) -> tuple[float | None, float]:
    """(where the total returns to zero, one count), both in the point's unit.

    A stated `rollover` is the largest value shown, so the wrap is one count above it; an integer
    register wraps at its width (`registers.wrap_raw` × |scale|); a float total with no stated
    rollover has no known wrap (None). `decimals` are those a `decimals_from` point has now;
    without them one count of such a point is not known (0) and only a rollover gives its wrap.
    """
    if isinstance(point, Dlt645Point):
        count = 10.0 ** -point.decimals
        top = point.rollover + count if point.rollover else 10.0 ** (
            2 * point.length - point.decimals)
        return top, count
    top_raw = registers.wrap_raw(point.type)
    known = not point.decimals_from or decimals is not None
    count = 0.0
    if known and top_raw is not None and point.type != "long_fraction":
        count = registers.scaled(1, abs(point.scale), 0.0, decimals)
    if point.rollover:
        return point.rollover + count, count
    if top_raw is None or not known:
        return None, count
    return registers.scaled(top_raw, abs(point.scale), 0.0, decimals), count


FLOAT_DIGITS = {"float32": 7, "float64": 15}  # significant decimal digits a float register holds


def shown_decimals(point: ModbusPoint | Dlt645Point, decimals: int | None = None) -> int | None:
    """Decimal places that show a value of `point` at the meter's resolution: a DL/T 645
    point's decimals, else the profile's `resolution`, else one count of an integer register
    (`decimals`: those a decimals_from point has now); None where unknown (a float register:
    see FLOAT_DIGITS)."""
    if isinstance(point, Dlt645Point):
        return point.decimals
    count = point.resolution or wrap_and_resolution(point, decimals)[1]
    if not count or point.type.startswith("float"):
        return None
    return max(0, math.ceil(-math.log10(count) - 1e-9))


def value_text(value: float, decimals: int | None, significant: int | None = None) -> str:
    """`value` with `decimals` places (12345.60 at 0.01 stays 12345.60), else with at most
    `significant` digits and no trailing zeros (a float32's 12345.669921875 is 12345.67)."""
    if decimals is not None:
        return f"{value:.{decimals}f}"
    if significant is None:
        return repr(value)
    whole = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    text = f"{value:.{max(0, significant - whole)}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
