"""The gateway's wall clock: the time records carry, whether the kernel calls it synchronised,
and a watch that logs its steps.

A Raspberry Pi has no real-time clock: it boots with the time it last saved (or 1970) until NTP
sets it. The kernel's view is read with adjtimex(2): TIME_ERROR means the clock is not
synchronised. Readings taken while it is not are flagged (`Reading.clock`, stored in the
record's data as "clock": "unsynchronised"); the accounting room repairs their times once NTP
has set the clock (gateway/accounting/clock.py).

Test seam: with $WELLGATE_TEST_CLOCK naming a JSON file {"offset_s": S, "synchronised": 0|1},
the wall time every record carries is time.time() + S and the kernel's flag is the file's
(re-read when the file changes). Only tests set it: the system clock cannot be moved in a test,
and the gateway's monotonic clock is left alone.
"""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import time
from typing import Any

log = logging.getLogger(__name__)

TEST_CLOCK_ENV = "WELLGATE_TEST_CLOCK"
TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
UNSYNCHRONISED = "unsynchronised"  # a reading's clock state when the kernel says so
STEP_S = 2.0  # wall minus monotonic moving more than this (plus SLEW_PER_S) is a step
SLEW_PER_S = 1e-3  # NTP slews at most 500 ppm


class _Seam:
    """The test seam's file, re-read when its mtime changes."""

    def __init__(self) -> None:
        self.path = os.environ.get(TEST_CLOCK_ENV) or None
        self.stamp: float | None = None
        self.offset = 0.0
        self.synchronised: int | None = None

    def read(self) -> None:
        if self.path is None:
            return
        try:
            stamp = os.stat(self.path).st_mtime_ns
            if stamp == self.stamp:
                return
            with open(self.path, encoding="utf-8") as file:
                data: dict[str, Any] = json.load(file)
        except (OSError, ValueError):
            return  # half-written by the test: keep the last values
        self.stamp = stamp
        self.offset = float(data.get("offset_s", 0.0))
        self.synchronised = data.get("synchronised")


_seam = _Seam()


def now() -> float:
    """The wall time (time.time(), shifted only by the test seam)."""
    if _seam.path is None:
        return time.time()
    _seam.read()
    return time.time() + _seam.offset


@functools.cache
def _libc() -> ctypes.CDLL:
    """This process's own symbols, the C library's among them (dlopen(NULL)), loaded once.
    Not ctypes.util.find_library("c"): it runs `ldconfig -p` in a new process at every call,
    which cost a process spawn each second of `wellgate run` (issue 16)."""
    return ctypes.CDLL(None, use_errno=True)


def kernel_synchronised() -> tuple[int | None, str]:
    """(1 synchronised, 0 not, None unknown) and how it was found, from the kernel (adjtimex)."""
    if _seam.path is not None:
        _seam.read()
        return _seam.synchronised, f"test clock {_seam.path}"
    try:
        libc = _libc()
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError) as error:
        return None, f"adjtimex not available ({error})"
    if state < 0:
        return None, f"adjtimex failed (errno {ctypes.get_errno()})"
    if state == TIME_ERROR:
        return 0, "kernel reports the clock unsynchronised (adjtimex TIME_ERROR)"
    return 1, f"kernel reports the clock synchronised (adjtimex state {state})"


class ClockState:
    """The kernel's flag as acquisition stamps it on readings: asked every `every` s, and at
    once when the wall clock has stepped since (NTP setting the clock)."""

    def __init__(self, every: float = 1.0) -> None:
        self.every = every
        self._next = 0.0
        self._offset = 0.0  # wall − monotonic when the kernel was last asked
        self.synchronised: int | None = None

    def unsynchronised(self) -> bool:
        """True while the kernel reports the clock not synchronised."""
        mono = time.monotonic()
        offset = now() - mono
        if mono >= self._next or abs(offset - self._offset) > STEP_S:
            self._next, self._offset = mono + self.every, offset
            self.synchronised = kernel_synchronised()[0]
        return self.synchronised == 0


class ClockWatch:
    """Logs the clock's state at start, when it changes, and every step of the wall clock
    against the monotonic one (one line each, with the step's size). `check()` returns the step
    found (seconds, wall time gained, or None) and whether the kernel's flag changed."""

    def __init__(self) -> None:
        self.offset: float | None = None  # wall − monotonic at the last check
        self.last_mono = 0.0
        self.synchronised: int | str | None = "unset"

    def check(self) -> tuple[float | None, bool]:
        wall, mono = now(), time.monotonic()
        synchronised, how = kernel_synchronised()
        changed = synchronised != self.synchronised and self.synchronised != "unset"
        if synchronised != self.synchronised:
            if synchronised == 0:
                log.warning("the wall clock is not synchronised (%s): readings are flagged "
                            "clock=%s until it is; accounting repairs their times then", how,
                            UNSYNCHRONISED)
            elif synchronised is None:
                log.warning("the wall clock's synchronisation is unknown (%s)", how)
            elif self.synchronised != "unset":
                log.info("the wall clock is synchronised (%s)", how)
            self.synchronised = synchronised
        offset, step = wall - mono, None
        if self.offset is not None:
            moved = offset - self.offset
            if abs(moved) > STEP_S + SLEW_PER_S * (mono - self.last_mono):
                step = moved
                log.warning("the wall clock stepped by %+.1f s (to %s UTC; kernel sync flag %s)",
                            moved, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(wall)),
                            synchronised)
        self.offset, self.last_mono = offset, mono
        return step, changed
