"""Turning one request for one meter into the bytes it sends, with the meter's faults applied."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.simulator.device import Meter, SlaveFault
from gateway.simulator.faults import garble
from gateway.simulator.physics import Snapshot


@dataclass
class Outcome:
    """What the line sends for one request: bytes (None = silence), after an extra delay."""

    meter: Meter | None
    data: bytes | None
    delay: float = 0.0  # the "late" fault, seconds added after the normal reply time


def respond(
    meter: Meter,
    snap: Snapshot,
    normal: Callable[[], tuple[bytes, dict[str, Any]]],
    exception: Callable[[int | None], bytes],
    corrupt: Callable[[bytes], bytes],
) -> Outcome:
    """Apply faults in wire order: silence, exception, reply, checksum, noise, stray bytes, delay.

    `normal` builds the reply and the values it carries (raising SlaveFault to refuse);
    `exception(code)` builds an exception/abnormal reply (None = the protocol's device failure);
    `corrupt` breaks the reply's checksum the way that transport would show it.
    """
    meter.counters["requests"] += 1
    faults = meter.faults
    if faults.active("dead") or faults.take("no_answer") is not None:
        meter.counters["dropped"] += 1
        return Outcome(meter, None)
    served: dict[str, Any] = {}
    forced = faults.take("exception")
    if forced is not None:
        data = exception(forced["code"])
        meter.counters["exceptions"] += 1
    else:
        try:
            data, served = normal()
        except SlaveFault as refusal:
            data = exception(refusal.code)
            meter.counters["exceptions"] += 1
    intact = True
    if faults.take("crc") is not None:
        data = corrupt(data)
        intact = False
    noise = faults.take("garble")
    if noise is not None:
        noisy = garble(data, noise["probability"], meter.rng)
        intact = intact and noisy == data
        data = noisy
    stray = faults.take("stray")
    if stray is not None:
        data = stray["before"] + data + stray["after"]
    late = faults.take("late")
    meter.counters["replies" if intact else "corrupted"] += 1
    meter.record(served, time.monotonic(), snap.time_s, intact)
    return Outcome(meter, data, float(late["delay"]) if late else 0.0)
