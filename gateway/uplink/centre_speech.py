"""What the centre link and a protocol's speaker (SL/T 427, SL 651) say to each other.

A speaker turns reports into frames and frames from the centre into Incoming events; the link
(gateway/uplink/centre_link.py) owns the connection, the resends and the cursor, and the desk
(gateway/uplink/centre_commands.py) carries out the centre's commands.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.uplink.centre_reports import Report

ACK, NAK, COMMAND, OTHER = "ack", "nak", "command", "other"
REALTIME, CLOCK_QUERY, CLOCK_SET, PUMP_START, PUMP_STOP, PARAMETERS, STATUS = (
    "realtime", "clock_query", "clock_set", "pump_start", "pump_stop", "parameters", "status")


@dataclass
class Message:
    """One uplink message: its frame for each attempt (0 = first send), what its ack names."""

    kind: str  # login | report | keepalive
    frame: Callable[[int], bytes]
    match: Any  # what an acknowledgement of it carries (an AFN; a function and serial)
    acked: bool = True  # False: the centre does not answer it (an SL 651 keep-alive)


@dataclass
class CentreCommand:
    """A command from the centre, parsed; `context` is the speaker's own (the frame)."""

    kind: str
    password_ok: bool
    clock: float | None = None  # clock_set: the time to set (wall seconds)
    context: Any = None


@dataclass
class CommandAnswer:
    """What the station answers a command with."""

    accepted: bool
    reason: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    clock: float | None = None
    pump_running: bool | None = None


@dataclass
class Incoming:
    """A frame from the centre: an ack (or NAK) of `match`, a command, or something else."""

    kind: str
    match: Any = None
    centre_time: float | None = None
    command: CentreCommand | None = None
    reason: str = ""


class Speaker(Protocol):
    protocol: str

    def find_frame(self, buffer: bytes) -> tuple[int, int] | None: ...

    def login(self, now: float) -> Message | None: ...

    def keepalive(self, now: float) -> Message: ...

    def report_messages(self, report: Report, now: float) -> list[Message]: ...

    def read(self, frame: bytes, now: float) -> Incoming: ...

    def reply(self, command: CentreCommand, answer: CommandAnswer, now: float) -> bytes: ...


def local_time(wall: float, zone: ZoneInfo) -> tuple[int, int, int, int, int, int]:
    """(year, month, day, hour, minute, second) of a wall time in the site's time zone."""
    moment = datetime.fromtimestamp(wall, zone)
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def wall_of(fields: tuple[int, ...], zone: ZoneInfo) -> float:
    """The wall time of (year, month, day, hour, minute[, second]) in the site's time zone."""
    return datetime(*fields, tzinfo=zone).timestamp()  # type: ignore[misc]


ALARM_FLOW_METER, ALARM_PUMP = 5, 6
STATUS_PUMP_STOPPED = 4


def flow_meter_alarm(report_alarms: dict[str, str], flow_device: str | None) -> bool:
    """Whether an alarm of the flow meter is raised in the report."""
    return flow_device is not None and any(
        key.split("/", 1)[0] == flow_device and state == "raised"
        for key, state in report_alarms.items())
