"""Faults the centre can inject in its replies, set by command-line options or the control lines.

no_ack    store the report, send no acknowledgement (the station must resend)
late_ack  store it, acknowledge after `delay` seconds
nak       refuse it with a negative acknowledgement (SL 651 NAK; SL/T 427 has none: refused)
drop      close the connection on receipt, before storing (the report is lost to the centre)
garbage   store it, send stray bytes instead of the acknowledgement
A fault applies to the next `count` frames that would be acknowledged (all of them if count is
None), of one station or of any.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("no_ack", "late_ack", "nak", "drop", "garbage")


class FaultError(ValueError):
    """A fault that cannot be set: unknown kind, bad count or delay, not in this protocol."""


@dataclass
class Fault:
    kind: str
    count: int | None = None  # frames left; None = until cleared
    delay: float = 0.0  # late_ack
    station: str | None = None  # None = every station

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "count": self.count, "delay": self.delay,
                "station": self.station}


class Faults:
    """The faults in force; take() hands out the one that applies to a frame and counts it."""

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol
        self._faults: list[Fault] = []

    def set(self, kind: str, *, count: int | None = None, delay: float = 0.0,
            station: str | None = None) -> Fault:
        if kind not in KINDS:
            raise FaultError(f"fault {kind!r}: expected one of {', '.join(KINDS)}")
        if kind == "nak" and self.protocol == "sl427":
            raise FaultError("fault 'nak': SL/T 427 defines no negative acknowledgement frame; "
                             "use no_ack (the station resends) instead")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise FaultError(f"fault count {count!r}: expected a whole number >= 1 or none")
        if kind == "late_ack" and not (isinstance(delay, (int, float)) and 0 < delay <= 600):
            raise FaultError(f"late_ack delay {delay!r}: expected seconds, 0 < delay <= 600")
        fault = Fault(kind, count, float(delay), station)
        self._faults = [f for f in self._faults if f.station != station]
        self._faults.append(fault)
        return fault

    def clear(self, station: str | None = None) -> int:
        """Remove the faults of one station (or all when None); how many were removed."""
        before = len(self._faults)
        self._faults = [] if station is None else [f for f in self._faults
                                                   if f.station != station]
        return before - len(self._faults)

    def take(self, station: str) -> Fault | None:
        """The fault for this station's next acknowledgement, counted down; None = behave."""
        for fault in sorted(self._faults, key=lambda f: f.station is None):
            if fault.station in (None, station):
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def active(self) -> list[dict[str, object]]:
        return [fault.as_dict() for fault in self._faults]


def parse_fault_option(text: str) -> tuple[str, int | None]:
    """KIND or KIND:COUNT from --fault; FaultError saying what was expected."""
    kind, _, count = text.partition(":")
    if kind not in KINDS:
        raise FaultError(f"--fault {text!r}: expected KIND or KIND:COUNT, KIND one of "
                         f"{', '.join(KINDS)}")
    if not count:
        return kind, None
    if not count.isdigit() or int(count) < 1:
        raise FaultError(f"--fault {text!r}: COUNT must be a whole number >= 1")
    return kind, int(count)
