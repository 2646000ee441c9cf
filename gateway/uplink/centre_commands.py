"""The centre's commands, carried out: queries answered from the store, the clock, the pump.

Every command is a signed `command` record in the store (device "centre:<uplink>", point the
command, value accepted or refused, data: the reason and what was set), written through the
submit callable the gateway hands in (StoreSink.append_record): the uplink room never writes
the store itself and never imports accounting. A pump start or stop needs the password, the
uplink's remote_pump = true, and the pump guard's consent, read from the accounting room's
newest checkpoint: a start is refused while the cut-off (以电控水) is in force, a stop while a
site override holds the pump on for maintenance; the accounting room then carries a taken
command out on the relay (gateway/accounting/pump.py PumpGuard.remote). A clock set, like
the clock in a centre's ack, is recorded as an offset (clock_from_centre = "record"); only
"system" sets the system clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.store.records import NewRecord
from gateway.uplink.centre_reports import ReportReader
from gateway.uplink.centre_speech import (
    CLOCK_QUERY,
    CLOCK_SET,
    PARAMETERS,
    PUMP_START,
    PUMP_STOP,
    CentreCommand,
    CommandAnswer,
)

log = logging.getLogger(__name__)

KIND_COMMAND = "command"
CLOCK_LOG_OVER = 1.0  # s: a centre clock further off than this is logged


@dataclass
class CentreClock:
    """The offset of the centre's clock to ours, as last heard; set_system() only on opt-in."""

    mode: str  # off | record | system
    name: str
    offset: float | None = None
    heard_at: float | None = None
    set_calls: list[float] = field(default_factory=list)  # system clock values asked for

    def heard(self, centre_time: float | None, now: float) -> None:
        if centre_time is None or self.mode == "off":
            return
        offset = centre_time - now
        if self.offset is None or abs(offset - self.offset) > CLOCK_LOG_OVER:
            log.info("uplink %s: the centre's clock is %+.1f s from ours", self.name, offset)
        self.offset, self.heard_at = offset, now
        if self.mode == "system" and abs(offset) > CLOCK_LOG_OVER:
            self.set_system(centre_time)

    def set_system(self, wall: float) -> None:
        """Set the system clock (clock_from_centre = "system" only; needs the right to)."""
        self.set_calls.append(wall)
        try:
            time.clock_settime(time.CLOCK_REALTIME, wall)
            log.warning("uplink %s: system clock set to the centre's (%+.1f s)", self.name,
                        self.offset or 0.0)
        except (OSError, AttributeError) as exc:
            log.error("uplink %s: cannot set the system clock: %s", self.name, exc)


class CommandDesk:
    """Answers one centre's commands; every command leaves a signed record."""

    def __init__(self, name: str, reader: ReportReader, clock: CentreClock,
                 submit: Callable[[NewRecord], None] | None, remote_pump: bool) -> None:
        self.name = name
        self.reader = reader
        self.clock = clock
        self.submit = submit
        self.remote_pump = remote_pump
        self.records = 0

    def answer(self, command: CentreCommand, now: float) -> CommandAnswer:
        answer = self._decide(command, now)
        self._record(command, answer, now)
        return answer

    def _decide(self, command: CentreCommand, now: float) -> CommandAnswer:
        if command.kind in (PUMP_START, PUMP_STOP):
            return self._pump(command)
        if command.kind == CLOCK_SET:
            if not command.password_ok:
                return CommandAnswer(False, "wrong password", clock=now)
            if self.clock.mode == "off":
                return CommandAnswer(False, "clock_from_centre is off", clock=now)
            self.clock.heard(command.clock, now)
            return CommandAnswer(True, "clock offset recorded", clock=command.clock)
        if command.kind == CLOCK_QUERY:
            return CommandAnswer(True, clock=now)
        if command.kind == PARAMETERS:  # answered from the config by the speaker
            return CommandAnswer(True, "configuration answered", clock=now)
        values = self.reader.latest_values()
        power = values.get("pump_power")
        running = (power > self.reader.mapping.pump_running_kw
                   if isinstance(power, int | float) else None)
        return CommandAnswer(True, values=values, clock=now, pump_running=running)

    def _pump(self, command: CentreCommand) -> CommandAnswer:
        if not self.remote_pump:
            return CommandAnswer(False, "remote pump control is off (remote_pump = false)")
        if not command.password_ok:
            return CommandAnswer(False, "wrong password")
        if self.submit is None:
            return CommandAnswer(False, "no store to record the command in")
        guard = self.reader.pump_guard() or {}
        cut = guard.get("cut_year") is not None and not guard.get("released")
        if command.kind == PUMP_START and cut and not guard.get("override"):
            return CommandAnswer(False, f"the cut-off of {guard.get('cut_year')} is in force "
                                 "(the year's allocation is used up)")
        if command.kind == PUMP_STOP and guard.get("override"):
            return CommandAnswer(False, "a site override holds the pump "
                                 f"({guard.get('override_reason', '')})")
        return CommandAnswer(True, "taken")

    def _record(self, command: CentreCommand, answer: CommandAnswer, now: float) -> None:
        data: dict[str, Any] = {"by": f"centre {self.name}", "reason": answer.reason,
                                "password_ok": command.password_ok,
                                "accepted": answer.accepted}
        if command.clock is not None:
            data["clock"] = command.clock
        if self.clock.offset is not None:
            data["centre_offset_s"] = round(self.clock.offset, 3)
        log.log(logging.WARNING if command.kind in (PUMP_START, PUMP_STOP) else logging.INFO,
                "uplink %s: centre command %s %s%s", self.name, command.kind,
                "accepted" if answer.accepted else "refused",
                f": {answer.reason}" if answer.reason else "")
        if self.submit is None:
            return
        self.submit(NewRecord.make(KIND_COMMAND, f"centre:{self.name}", command.kind,
                                   "accepted" if answer.accepted else "refused",
                                   wall_time=now, mono_time=time.monotonic(), data=data))
        self.records += 1
