"""Per-device bus diagnostics, kept from the first poll: what was asked, what came back, when."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field, fields

STATE_UNKNOWN = "unknown"  # not polled yet
STATE_ONLINE = "online"
STATE_OFFLINE = "offline"

# Outcomes of one transaction, as counted below.
OK = "ok"
TIMEOUT = "timeout"
CRC_ERROR = "crc_error"
EXCEPTION_REPLY = "exception_reply"
MALFORMED = "malformed"
CONNECT_ERROR = "connect_error"

# Upper bounds (s) of the round-trip histogram's buckets (a bucket's count: round trips above
# the previous bound and up to its own; one more bucket counts those above the last bound).
RTT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


@dataclass(slots=True)
class DeviceHealth:
    """Counters and state of one device; one instance lives as long as the gateway runs."""

    device: str
    bus: str
    model: str
    state: str = STATE_UNKNOWN
    requests: int = 0
    good_replies: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    exception_replies: int = 0
    malformed: int = 0
    connect_errors: int = 0
    polls: int = 0
    failed_polls: int = 0
    consecutive_failures: int = 0
    readings: int = 0
    skipped_slots: int = 0  # schedule slots that passed while the bus was busy: never polled
    last_good_wall: float | None = None  # time.time() of the last good reply
    last_rtt: float | None = None  # seconds, request sent to reply decoded
    rtt_avg: float | None = None  # exponentially weighted, alpha 0.1
    rtt_counts: list[int] = field(default_factory=lambda: [0] * (len(RTT_BUCKETS) + 1))
    rtt_sum: float = 0.0  # seconds, over every round trip in rtt_counts
    last_error: str = ""
    state_since: float = field(default_factory=time.time)
    next_poll_in: float | None = None

    def count(self, outcome: str, rtt: float | None = None, detail: str = "") -> None:
        """Count one transaction's outcome."""
        self.requests += 1
        if (outcome in (OK, EXCEPTION_REPLY)) and rtt is not None:
            self.last_rtt = rtt
            self.rtt_avg = rtt if self.rtt_avg is None else 0.9 * self.rtt_avg + 0.1 * rtt
            self.rtt_counts[bisect_left(RTT_BUCKETS, rtt)] += 1
            self.rtt_sum += rtt
        if outcome == OK:
            self.good_replies += 1
            self.last_good_wall = time.time()
            return
        if outcome == TIMEOUT:
            self.timeouts += 1
        elif outcome == CRC_ERROR:
            self.crc_errors += 1
        elif outcome == EXCEPTION_REPLY:
            self.exception_replies += 1
        elif outcome == MALFORMED:
            self.malformed += 1
        elif outcome == CONNECT_ERROR:
            self.connect_errors += 1
        else:
            raise ValueError(f"unknown transaction outcome {outcome!r}")
        self.last_error = f"{outcome}: {detail}" if detail else outcome

    def as_dict(self) -> dict:
        """A JSON-ready copy (field by field: dataclasses.asdict deep-copies every value)."""
        out = {name: getattr(self, name) for name in _HEALTH_FIELDS}
        out["rtt_counts"] = list(self.rtt_counts)
        return out


_HEALTH_FIELDS = tuple(f.name for f in fields(DeviceHealth))


@dataclass(frozen=True, slots=True)
class StateChange:
    """A device going offline or coming back, for the log and the health view."""

    wall_time: float
    device: str
    state: str
    reason: str


class HealthBoard:
    """All devices' health plus the recent state changes."""

    def __init__(self, keep_changes: int = 200) -> None:
        self.devices: dict[str, DeviceHealth] = {}
        self.changes: deque[StateChange] = deque(maxlen=keep_changes)
        self.started_wall = time.time()

    def add(self, health: DeviceHealth) -> DeviceHealth:
        self.devices[health.device] = health
        return health

    def record_change(self, health: DeviceHealth, state: str, reason: str) -> StateChange:
        """Move a device to a new state and remember why."""
        health.state = state
        health.state_since = time.time()
        change = StateChange(health.state_since, health.device, state, reason)
        self.changes.append(change)
        return change

    def snapshot(self) -> dict:
        """Everything `wellgate health` shows, as JSON-ready data."""
        return {
            "written_at": time.time(),
            "started_at": self.started_wall,
            "devices": [h.as_dict() for h in self.devices.values()],
            "changes": [{"wall_time": c.wall_time, "device": c.device, "state": c.state,
                         "reason": c.reason} for c in self.changes],
        }
