"""The station's side of SL/T 427-2021 / SZY206-2016 (drivers/sl427.py): frames of a report, the
login and keep-alive, the centre's acks, and its commands with their answers.

A report is one AFN C0 self-report per type of value mapped (flow: instantaneous flow and
cumulative volume; energy; water level), each acknowledged on its own, each ending in the alarm
and status words; Tp is the report's observation time. A resend keeps the frame and lowers the
FCB (3 first, then 2, 1, 0). Commands (downlink, drivers/sl427_commands.py): B0 real-time values,
50 the station's address, 51 clock, 52 work mode (self-report with confirmation), 5E alarm and
status words, 11 set clock, 92/93 start/stop the pump; the answer is an uplink frame of the
same AFN (docs/centres.md).
"""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from drivers import sl427
from drivers import sl427_commands as commands
from gateway.config.centres import Sl427Uplink
from gateway.uplink.centre_reports import Report
from gateway.uplink.centre_speech import (
    ACK,
    ALARM_FLOW_METER,
    CLOCK_QUERY,
    CLOCK_SET,
    COMMAND,
    OTHER,
    PARAMETERS,
    PUMP_START,
    PUMP_STOP,
    REALTIME,
    STATUS,
    STATUS_PUMP_STOPPED,
    CentreCommand,
    CommandAnswer,
    Incoming,
    Message,
    flow_meter_alarm,
    local_time,
    wall_of,
)

log = logging.getLogger(__name__)

COMMANDS = {sl427.AFN_QUERY_REALTIME: REALTIME, commands.AFN_QUERY_CLOCK: CLOCK_QUERY,
            commands.AFN_QUERY_STATUS: STATUS, commands.AFN_SET_CLOCK: CLOCK_SET,
            commands.AFN_PUMP_START: PUMP_START, commands.AFN_PUMP_STOP: PUMP_STOP,
            commands.AFN_QUERY_ADDRESS: PARAMETERS, commands.AFN_QUERY_MODE: PARAMETERS}
MODE_CONFIRMED = 1  # 52: self-report with confirmation (the centre acknowledges every report)
KINDS = (("flow", ("flow", "volume")), ("energy", ("energy",)),
         ("water_level", ("water_level",)))


class Sl427Speaker:
    protocol = "sl427"

    def __init__(self, settings: Sl427Uplink, zone: ZoneInfo, flow_device: str | None) -> None:
        self.s = settings
        self.edition = settings.edition
        self.table = settings.type_table
        self.zone = zone
        self.flow_device = flow_device
        self.password = (int(settings.password[0]), int(settings.password[1:]))
        mapped = settings.points.mapped()
        self.kinds = []
        for kind, elements in KINDS:
            if not any(element in mapped for element in elements):
                continue
            if kind not in sl427.TYPE_CODES[self.table]:
                log.warning("uplink %s: %s has no type code for %s: not reported",
                            settings.name, self.table, kind)
                continue
            self.kinds.append((kind, elements))

    # --- frames up -------------------------------------------------------------------------

    def _tp(self, wall: float) -> tuple:
        year, month, day, hour, minute, second = local_time(wall, self.zone)
        if self.edition == sl427.EDITION_2016:
            year = month = None
        return (year, month, day, hour, minute, second, self.s.time_tag_delay)

    def find_frame(self, buffer: bytes) -> tuple[int, int] | None:
        """(start, end) of the first 68 L 68 .. frame in buffer (bytes before it are stray)."""
        start = buffer.find(b"\x68")
        while start >= 0 and start + 3 <= len(buffer):
            if buffer[start + 2] == 0x68 and buffer[start + 1] >= 7:
                end = start + buffer[start + 1] + 5
                return (start, end) if end <= len(buffer) else None
            start = buffer.find(b"\x68", start + 1)
        return None

    def login(self, now: float) -> Message:
        tp = self._tp(now)
        return Message("login", lambda attempt: sl427.build_link_check(
            self.edition, self.s.county, self.s.station, sl427.LINK_LOGIN, tp,
            fcb=sl427.MAX_FCB - attempt), sl427.AFN_LINK)

    def keepalive(self, now: float) -> Message:
        tp = self._tp(now)
        return Message("keepalive", lambda attempt: sl427.build_link_check(
            self.edition, self.s.county, self.s.station, sl427.LINK_KEEPALIVE, tp,
            fcb=sl427.MAX_FCB - attempt), sl427.AFN_LINK)

    def words(self, report_alarms: dict[str, str], pump_running: bool | None) -> tuple[int, int]:
        """(alarm word, status word): the flow meter's fault, the pump's state."""
        alarm = (1 << ALARM_FLOW_METER) if flow_meter_alarm(report_alarms, self.flow_device) \
            else 0
        status = (1 << STATUS_PUMP_STOPPED) if pump_running is False else 0
        return alarm, status

    def _data(self, kind: str, elements: tuple[str, ...], values: dict, alarm: int,
              status: int) -> bytes:
        numbers = []
        for element in elements:
            value = values.get(element)
            numbers.append(value if isinstance(value, int | float) else None)
        try:
            frame = sl427.build_self_report(self.table, "000000", 1, kind, numbers, alarm,
                                            status, None, self.s.word_order)
        except ValueError as exc:
            log.warning("uplink %s: %s %s cannot be encoded (%s): sent as not measured",
                        self.s.name, kind, numbers, exc)
            frame = sl427.build_self_report(self.table, "000000", 1, kind,
                                            [None] * len(numbers), alarm, status, None,
                                            self.s.word_order)
        return sl427.parse_frame(frame, self.table, True, time_tag=False).data

    def _frame(self, afn: int, kind: str, data: bytes, tp: tuple | None, fcb: int) -> bytes:
        code = sl427.TYPE_CODES[self.table].index(kind)
        return sl427.build_frame(self.edition, sl427.Frame(
            True, fcb, code, None, self.s.county, self.s.station, afn, data, None, tp))

    def report_messages(self, report: Report, now: float) -> list[Message]:
        alarm, status = self.words(report.alarms, report.pump_running)
        tp = self._tp(report.observed)
        messages = []
        for kind, elements in self.kinds:
            data = self._data(kind, elements, report.values, alarm, status)
            messages.append(Message("report", lambda attempt, kind=kind, data=data: self._frame(
                sl427.AFN_SELF_REPORT, kind, data, tp, sl427.MAX_FCB - min(attempt, 3)),
                sl427.AFN_SELF_REPORT))
        return messages

    # --- frames down -----------------------------------------------------------------------

    def read(self, frame: bytes, now: float) -> Incoming:
        try:
            head = sl427.parse_frame(frame, self.edition, False, time_tag=False)
        except sl427.Sl427Error as exc:
            return Incoming(OTHER, reason=str(exc))
        if (head.county, head.station) != (self.s.county, self.s.station):
            return Incoming(OTHER, reason=f"a frame for station {head.county}/{head.station}")
        if head.afn in COMMANDS:
            return self._command(frame)
        try:
            _mode, tp = sl427.parse_ack(frame, self.edition, head.afn, self.s.county,
                                        self.s.station)
        except sl427.Sl427Error as exc:
            return Incoming(OTHER, reason=str(exc))
        return Incoming(ACK, head.afn, self._centre_time(tp, now))

    def _centre_time(self, tp: tuple | None, now: float) -> float | None:
        if tp is None:
            return None
        year, month, day, hour, minute, second, _ = tp
        if year is None:  # SZY206-2016: day, hour, minute, second only
            year, month = local_time(now, self.zone)[:2]
        try:
            return wall_of((year, month, day, hour, minute, second), self.zone)
        except ValueError:
            return None

    def _command(self, frame: bytes) -> Incoming:
        try:
            parsed, payload = commands.parse_command(frame, self.edition)
            clock = (wall_of(payload[:6], self.zone) if parsed.afn == commands.AFN_SET_CLOCK
                     else None)
        except (sl427.Sl427Error, ValueError) as exc:
            return Incoming(OTHER, reason=str(exc))
        password_ok = parsed.password == self.password
        return Incoming(COMMAND, command=CentreCommand(COMMANDS[parsed.afn], password_ok, clock,
                                                       (parsed, payload)))

    def reply(self, command: CentreCommand, answer: CommandAnswer, now: float) -> bytes:
        parsed, payload = command.context
        where = (self.edition, self.s.county, self.s.station)
        tp = self._tp(now)
        alarm, status = self.words({}, answer.pump_running)
        if command.kind == REALTIME:
            asked = sl427.type_name(self.edition, parsed.type_code)
            elements = dict(KINDS).get(asked)
            if elements is None or asked not in sl427.VALUE_LAYOUTS:
                asked, elements = "flow", ("flow", "volume")
            values = [value if isinstance(value := answer.values.get(element), int | float)
                      else None for element in elements]
            try:
                return commands.build_realtime_reply(*where, asked, values, alarm, status,
                                                     self.s.word_order, tp)
            except ValueError:
                return commands.build_realtime_reply(*where, asked, [None] * len(values),
                                                     alarm, status, self.s.word_order, tp)
        if command.kind == STATUS:
            return commands.build_status_reply(*where, alarm, status, self.s.word_order, tp)
        if command.kind == PARAMETERS and parsed.afn == commands.AFN_QUERY_ADDRESS:
            return commands.build_address_reply(*where, tp)
        if command.kind == PARAMETERS:
            return commands.build_mode_reply(*where, MODE_CONFIRMED, tp)
        if command.kind in (CLOCK_QUERY, CLOCK_SET):
            clock = answer.clock if answer.clock is not None else now
            weekday = datetime.fromtimestamp(clock, self.zone).isoweekday()
            return commands.build_clock_reply(*where, parsed.afn,
                                              (*local_time(clock, self.zone), weekday), tp)
        _device, number = payload
        return commands.build_pump_reply(*where, parsed.afn, number, answer.accepted, tp)
