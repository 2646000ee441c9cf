"""The store's own records: its alarms (write failing, low space) and events (readings dropped)."""

from __future__ import annotations

import time
from typing import Any

from gateway.store.records import KIND_ALARM, KIND_STORE_EVENT, STORE_DEVICE, NewRecord

ALARM_WRITE_FAILING = "store_write_failing"
ALARM_LOW_SPACE = "store_low_space"
EVENT_READINGS_DROPPED = "readings_dropped"
EVENT_RECORDS_REJECTED = "records_rejected"


def alarm(name: str, state: str, data: dict[str, Any]) -> NewRecord:
    """A store alarm (`state` raised or cleared) at this moment."""
    return NewRecord.make(KIND_ALARM, STORE_DEVICE, name, state, wall_time=time.time(),
                          mono_time=time.monotonic(), data={"alarm": name, **data})


def write_failing_alarms(since: tuple[float, float], failed_attempts: int, last_error: str,
                         wall: float, mono: float) -> list[NewRecord]:
    """The store_write_failing alarm raised when writing first failed (`since`: wall and
    monotonic time) and cleared now, by the first commit that works again."""
    since_wall, since_mono = since
    return [
        NewRecord.make(KIND_ALARM, STORE_DEVICE, ALARM_WRITE_FAILING, "raised",
                       wall_time=since_wall, mono_time=since_mono,
                       data={"alarm": ALARM_WRITE_FAILING, "error": last_error}),
        NewRecord.make(KIND_ALARM, STORE_DEVICE, ALARM_WRITE_FAILING, "cleared", wall_time=wall,
                       mono_time=mono,
                       data={"alarm": ALARM_WRITE_FAILING, "failed_attempts": failed_attempts,
                             "failing_seconds": round(mono - since_mono, 3),
                             "last_error": last_error}),
    ]


def readings_dropped(count: int, walls: list[float], buffer_max: int, wall: float,
                     mono: float) -> NewRecord:
    """The event of `count` readings dropped from a full buffer (`walls`: the first and last
    dropped reading's wall time)."""
    first, last = walls
    return NewRecord.make(
        KIND_STORE_EVENT, STORE_DEVICE, EVENT_READINGS_DROPPED, count, "records", wall_time=wall,
        mono_time=mono,
        data={"event": EVENT_READINGS_DROPPED, "count": count, "first_wall_time": first,
              "last_wall_time": last, "buffer_max": buffer_max,
              "reason": "memory buffer full while the store could not keep up"})


def records_rejected(count: int, wall: float, mono: float) -> NewRecord:
    """The event of `count` records rejected for content that has no canonical form."""
    return NewRecord.make(
        KIND_STORE_EVENT, STORE_DEVICE, EVENT_RECORDS_REJECTED, count, "records", wall_time=wall,
        mono_time=mono,
        data={"event": EVENT_RECORDS_REJECTED, "count": count,
              "reason": "content that has no canonical JSON form"})
