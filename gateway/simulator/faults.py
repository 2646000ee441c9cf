"""Faults injected per simulated device: the kinds, their parameters, how they mangle bytes."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

# Faults that stay until cleared (or until `count` requests have been affected).
REPLY_FAULTS = ("no_answer", "dead", "late", "crc", "exception", "stray", "garble")
STATE_FAULTS = ("empty_pipe", "freeze", "welded")
# One-shot actions applied at once (nothing to clear afterwards): on the device's totalisers,
# or a relay module's power cycled (its coils fall back to off, as at power-up).
ACTIONS = ("rollover", "reset", "power_cycle")
FAULT_KINDS = REPLY_FAULTS + STATE_FAULTS

# Parameters each kind accepts, with their defaults.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "no_answer": {},
    "dead": {},
    "late": {"delay": 1.0},
    "crc": {},
    "exception": {"code": None},  # None: the protocol's "device failure" code
    "stray": {"before": b"\x00\xff", "after": b""},
    "garble": {"probability": 0.05},
    "empty_pipe": {},
    # points hold their value (or the one in `values`): a stuck totaliser, a dead power reading
    "freeze": {"points": None, "values": None},
    # a relay whose contact is welded: coil writes are taken, the pump is not switched
    "welded": {},
}


@dataclass
class Fault:
    """One active fault: its parameters, and how many more requests it affects (None = no limit)."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    remaining: int | None = None


def _as_bytes(value: Any, name: str) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{name} must be bytes or a hex string, got {value!r}") from None
    raise ValueError(f"{name} must be bytes or a hex string, got {value!r}")


def make_fault(kind: str, count: int | None = None, **params: Any) -> Fault:
    """Validate a fault request and fill in defaults (ValueError naming what is allowed)."""
    if kind not in _DEFAULTS:
        raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS + ACTIONS)}")
    unknown = sorted(set(params) - set(_DEFAULTS[kind]))
    if unknown:
        allowed = ", ".join(_DEFAULTS[kind]) or "none"
        raise ValueError(f"fault {kind!r} takes no parameter(s) {unknown}; it takes: {allowed}")
    if count is not None and (not isinstance(count, int) or count < 1):
        raise ValueError(
            f"count must be a whole number >= 1 (or None for 'until cleared'), got {count!r}"
        )
    if count is not None and kind in STATE_FAULTS:
        raise ValueError(
            f"{kind} is a state that lasts until cleared: it takes no count, got {count!r}"
        )
    merged = {**_DEFAULTS[kind], **params}
    if kind == "late" and not float(merged["delay"]) >= 0:
        raise ValueError(f"late: delay must be >= 0 seconds, got {merged['delay']!r}")
    if kind == "garble":
        p = float(merged["probability"])
        if not 0.0 < p <= 1.0:
            raise ValueError(
                f"garble: probability must be in (0, 1], got {merged['probability']!r}"
            )
        merged["probability"] = p
    if kind == "exception" and merged["code"] is not None:
        code = merged["code"]
        if not isinstance(code, int) or not 1 <= code <= 255:
            raise ValueError(f"exception: code must be an integer 1..255, got {code!r}")
    if kind == "freeze":
        points = merged["points"]
        points = [points] if isinstance(points, str) else points
        if not points or not all(isinstance(p, str) for p in points):
            raise ValueError(f"freeze: points must be a point name or a list of them, got "
                             f"{merged['points']!r}")
        values = merged["values"] or {}
        if not isinstance(values, dict) or set(values) - set(points):
            raise ValueError(f"freeze: values must map some of {points} to numbers, got "
                             f"{merged['values']!r}")
        merged["points"], merged["values"] = list(points), dict(values)
    if kind == "stray":
        merged["before"] = _as_bytes(merged["before"], "stray: before")
        merged["after"] = _as_bytes(merged["after"], "stray: after")
    return Fault(kind=kind, params=merged, remaining=count)


class Faults:
    """The faults active on one device."""

    def __init__(self) -> None:
        self._active: dict[str, Fault] = {}

    def set(self, fault: Fault) -> None:
        self._active[fault.kind] = fault

    def clear(self, kind: str | None = None) -> None:
        """Clear one kind, or every fault when kind is None."""
        if kind is None:
            self._active.clear()
        elif kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        else:
            self._active.pop(kind, None)

    def active(self, kind: str) -> bool:
        return kind in self._active

    def take(self, kind: str) -> dict[str, Any] | None:
        """The parameters if `kind` is active, counting one affected request; else None."""
        fault = self._active.get(kind)
        if fault is None:
            return None
        if fault.remaining is not None:
            fault.remaining -= 1
            if fault.remaining <= 0:
                del self._active[kind]
        return fault.params

    def describe(self) -> dict[str, dict[str, Any]]:
        """Active faults as plain data (bytes as hex), for logs and the control channel."""
        out: dict[str, dict[str, Any]] = {}
        for kind, fault in self._active.items():
            params = {k: v.hex() if isinstance(v, bytes) else v for k, v in fault.params.items()}
            out[kind] = {**params, "remaining": fault.remaining}
        return out


def garble(frame: bytes, probability: float, rng: random.Random) -> bytes:
    """Flip one random bit in each byte with the given probability (the line noise model)."""
    out = bytearray(frame)
    for i in range(len(out)):
        if rng.random() < probability:
            out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def flip_last_byte(frame: bytes) -> bytes:
    """Invert the last byte (the CRC high byte of a Modbus RTU frame)."""
    return frame[:-1] + bytes([frame[-1] ^ 0xFF]) if frame else frame
