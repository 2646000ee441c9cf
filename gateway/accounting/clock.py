"""The gateway's wall clock checked against its monotonic clock, reading by reading.

A reading carries both clocks. Within one boot the monotonic clock only counts the time that
passed, so the trusted wall time carried forward by it says when a reading was really taken.
While the wall clock agrees (within a tolerance that allows for NTP's slewing), a reading is
accounted at its wall time. When the wall clock has jumped, the reading is accounted at the
carried-forward time instead: volume is never attributed to time the monotonic clock did not
spend, and a flag says what was measured under the jumped clock. The episode ends when the wall
clock comes back, or when the kernel reports the clock synchronised while the reference was not
(NTP has just set it): the new wall time becomes the reference, and what was booked under the
unsynchronised one is moved by the difference (`Placement.correction`, the engine repairs it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOLERANCE_S = 2.0  # wall and monotonic clocks of one reading agree within this ...
SLEW_PER_S = 1e-3  # ... plus this much per second since the last reading (NTP slews ≤ 500 ppm)
MAX_BOOKINGS = 300  # amounts remembered for a repair while unsynchronised (about a day of 15 min)
BACK, ADOPTED, REBOOT = "back", "adopted", "reboot"


@dataclass(frozen=True)
class Placement:
    """Where one reading is accounted, and what it means for the clock."""

    at: float  # the time to account it at
    jumped: bool  # the wall clock is off the trusted one: `at` is the monotonic clock's
    started: bool = False  # this reading began a jump
    ended: str | None = None  # BACK, ADOPTED or REBOOT: the jump ended at this reading
    correction: float = 0.0  # ADOPTED: how far what was booked before must move
    skew: float = 0.0  # the wall clock minus the trusted time


class ClockWatch:
    """The trusted reference (wall − monotonic of one boot), the kernel's flag, the open jump."""

    def __init__(self, state: dict[str, Any] | None = None) -> None:
        state = state or {}
        self.boot: int | None = state.get("boot")
        self.offset: float | None = state.get("offset")  # trusted wall − monotonic
        self.last_mono: float | None = state.get("last_mono")
        self.synced: int | None = state.get("synced")  # the kernel's flag as last recorded
        self.reference_synced: int | None = state.get("reference_synced")
        self.jump: dict[str, Any] | None = state.get("jump")  # since, skew, first/last seq
        self.shift: float = state.get("shift", 0.0)  # wall − accounted time, latest reading
        self.bookings: list[list[Any]] = list(state.get("bookings", []))
        self.start_shift: dict[str, float] = dict(state.get("start_shift", {}))

    @property
    def trusted(self) -> bool:
        """No jump is open and the reference is not known to be unsynchronised (the pump
        guard's new-year restore should wait while this is False)."""
        return self.jump is None and self.reference_synced != 0

    @property
    def keeps_bookings(self) -> bool:
        """Whether amounts booked now may have to move once the kernel reports the clock set."""
        return self.reference_synced != 1 and self.synced == 0

    def note_sync(self, value: Any) -> None:
        """The kernel's synchronisation flag as the gateway recorded it (1, 0 or unknown)."""
        self.synced = value if value in (0, 1) else None

    def unchecked(self, wall: float) -> float:
        """The time of a record without a monotonic time (health): the latest reading's shift."""
        return wall - self.shift

    def place(self, wall: float, mono: float | None, boot: int | None,
              seq: int) -> Placement:
        """Where a reading taken at `wall` / `mono` in `boot` is accounted."""
        if mono is None or boot is None or mono <= 0:  # 0: made without a monotonic time
            return Placement(self.unchecked(wall), self.jump is not None)
        if boot != self.boot or self.offset is None:  # another run: its own monotonic base
            ended = REBOOT if self.jump is not None else None
            self.boot, self.offset, self.last_mono = boot, wall - mono, mono
            self.reference_synced, self.jump, self.shift = self.synced, None, 0.0
            return Placement(wall, False, ended=ended)
        expected = mono + self.offset
        skew = wall - expected
        # two buses' readings may be committed slightly out of monotonic order
        tolerance = TOLERANCE_S + SLEW_PER_S * abs(mono - (self.last_mono or mono))
        self.last_mono = max(mono, self.last_mono or mono)
        if self.synced == 1 and self.reference_synced != 1:  # NTP has set the clock: adopt it
            ended = ADOPTED if self.jump is not None or abs(skew) > tolerance else None
            self.offset, self.reference_synced, self.jump, self.shift = wall - mono, 1, None, 0.0
            return Placement(wall, False, ended=ended,
                             correction=skew if abs(skew) > tolerance else 0.0, skew=skew)
        if abs(skew) <= tolerance:
            ended = BACK if self.jump is not None else None
            self.offset, self.jump, self.shift = wall - mono, None, 0.0  # follows the slewing
            return Placement(wall, False, ended=ended, skew=skew)
        started = self.jump is None
        if self.jump is None:
            self.jump = {"since": expected, "skew": skew, "first_seq": seq}
        self.jump["last_seq"] = seq
        self.shift = skew
        return Placement(expected, True, started=started, skew=skew)

    def describe(self, placed: Placement, seq: int) -> str:
        """The flag text of a jump that started or ended at the reading `seq`."""
        if placed.started:
            return (f"the wall clock is {placed.skew:+.0f} s off the monotonic clock (kernel "
                    f"sync flag {self.synced}): readings from seq {seq} are accounted at the "
                    "monotonic clock's time")
        return (f"the wall clock jump ended ({placed.ended}) at seq {seq}"
                + (f"; what was booked before moved by {placed.correction:+.0f} s"
                   if placed.correction else ""))

    def book(self, start: float | None, end: float, amount: float, source: str) -> None:
        """Remember an amount booked under an unsynchronised reference (newest kept)."""
        self.bookings.append([start, end, amount, source])
        del self.bookings[:-MAX_BOOKINGS]

    def to_state(self) -> dict[str, Any]:
        """The checkpoint's "clock" entry."""
        return {"boot": self.boot, "offset": self.offset, "last_mono": self.last_mono,
                "synced": self.synced, "reference_synced": self.reference_synced,
                "jump": self.jump, "shift": self.shift, "bookings": self.bookings,
                "start_shift": self.start_shift}
