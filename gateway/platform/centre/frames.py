"""What a protocol side makes of one uplink frame, and the refusals the drivers do not raise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

BEIJING = timezone(timedelta(hours=8))  # the platforms' clock: China Standard Time, no DST


class Refused(Exception):
    """A well-formed frame the centre does not take: other centre, wrong password, stale Tp."""


@dataclass
class Received:
    """One accepted uplink frame: whose, what kind, and what the centre answers."""

    station: str
    kind: str  # login, logout, keepalive, report, packet, reply
    report: dict[str, Any] | None = None  # function, observed, elements
    reply_key: str | None = None  # a command's reply: the key its pending command waits on
    result: Any = None  # a reply's decoded content
    ack: bytes | None = None  # the acknowledgement when the centre behaves; None = no reply
    nak: bytes | None = None  # the negative acknowledgement (SL 651 only)
    extra: dict[str, Any] = field(default_factory=dict)


def centre_now() -> datetime:
    """The centre's clock: Beijing time, naive (the frames carry no zone)."""
    return datetime.now(BEIJING).replace(tzinfo=None, microsecond=0)


def clock_at(utc_offset_hours: float) -> Callable[[], datetime]:
    """A centre clock at another offset from UTC (hours), naive like centre_now."""
    zone = timezone(timedelta(hours=utc_offset_hours))
    return lambda: datetime.now(zone).replace(tzinfo=None, microsecond=0)


def split_stream(buffer: bytearray, find: Any, start: bytes) -> list[tuple[str, bytes]]:
    """Take every complete candidate frame (and the stray bytes before it) out of buffer:
    [("garbage" | "frame", bytes)]. Bytes that cannot begin a frame are garbage at once; a
    frame's beginning stays in buffer until it is complete."""
    items: list[tuple[str, bytes]] = []
    while True:
        found = find(buffer)
        if found is None:
            break
        begin, end = found
        if begin:
            items.append(("garbage", bytes(buffer[:begin])))
        items.append(("frame", bytes(buffer[begin:end])))
        del buffer[:end]
    keep = buffer.find(start[:1])
    if keep == -1 and buffer:
        items.append(("garbage", bytes(buffer)))
        buffer.clear()
    elif keep > 0:
        items.append(("garbage", bytes(buffer[:keep])))
        del buffer[:keep]
    return items
