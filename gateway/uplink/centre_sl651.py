"""The station's side of SL 651-2014, HEX mode (drivers/sl651.py): timed reports (32), the
keep-alive (2F, not answered), the centre's EOT/ESC/NAK, and its commands with their answers.

A report is one timed report (function 32): serial, send time, station, station class, the
observation time (the report's first reading, to the minute) and its elements: 27 instantaneous
flow (m3/s, 6 decimals), the agreed FFxx for cumulative volume (m3, 2 decimals) and cumulative
energy (kWh, 2 decimals), 39 water level (m, 3 decimals), 45 the status/alarm word. The serial
is derived from the report's last seq, so a resend (NAK, no answer, a new connection) carries the
same serial and the same bytes. Commands (downlink, ending in ENQ): 37 real-time values, 51 the
clock, 4A set the clock (to the send time it carries), 46 the status word, 4C start/stop the pump
(N, then N bytes of pump bits: bit 0 of the first, pump 1, 1 start, 0 stop; answered with the
bits after the command), 41/43 the station's configuration (parameters(): never the
password); each answered with an uplink frame of the same function.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from drivers import sl651
from drivers import sl651_queries as queries
from gateway.config.centres import SL651_CLASSES, Sl651Uplink
from gateway.uplink.centre_reports import Report
from gateway.uplink.centre_speech import (
    ACK,
    ALARM_FLOW_METER,
    CLOCK_QUERY,
    CLOCK_SET,
    COMMAND,
    NAK,
    OTHER,
    PARAMETERS,
    PUMP_START,
    PUMP_STOP,
    REALTIME,
    STATUS,
    CentreCommand,
    CommandAnswer,
    Incoming,
    Message,
    flow_meter_alarm,
    local_time,
    wall_of,
)

COMMANDS = {queries.QUERY_REALTIME: REALTIME, queries.QUERY_CLOCK: CLOCK_QUERY,
            queries.SET_CLOCK: CLOCK_SET, queries.QUERY_STATUS: STATUS,
            queries.QUERY_BASIC: PARAMETERS, queries.QUERY_RUN: PARAMETERS}
WORK_MODE_CONFIRMED = 2  # 0C: self-report with confirmation (the centre acknowledges reports)
FLOW_ID, LEVEL_ID, STATUS_ID = 0x27, 0x39, 0x45
STATUS_PUMP_STOPPED = 10  # D10 of the 45 status/alarm word: 1 = pump stopped


def serial_of(last_seq: int) -> int:
    """The report's serial (1..65535) from the last seq it covers: the same for every resend."""
    return last_seq % sl651.MAX_SERIAL + 1


class Sl651Speaker:
    protocol = "sl651"

    def __init__(self, settings: Sl651Uplink, zone: ZoneInfo, flow_device: str | None) -> None:
        self.s = settings
        self.zone = zone
        self.flow_device = flow_device
        self.password = int(settings.password, 16)
        self.station_class = SL651_CLASSES[settings.station_class]
        # element -> (identifier, size, decimals, scale from the store's unit)
        self.layout = {"flow": (FLOW_ID, 5, 6, 1 / 3600),
                       "volume": (int(settings.volume_identifier, 16), 6, 2, 1.0),
                       "energy": (int(settings.energy_identifier, 16), 5, 2, 1.0),
                       "water_level": (LEVEL_ID, 4, 3, 1.0)}
        self.mapped = [name for name in self.layout if name in settings.points.mapped()]
        self._keepalive_serial = 0

    def find_frame(self, buffer: bytes) -> tuple[int, int] | None:
        return sl651.find_frame(buffer)

    def login(self, now: float) -> Message | None:
        return None

    def keepalive(self, now: float) -> Message:
        self._keepalive_serial = self._keepalive_serial % sl651.MAX_SERIAL + 1
        frame = sl651.build_keep_alive(self.s.centre_address, self.s.station, self.password,
                                       self._keepalive_serial, local_time(now, self.zone))
        return Message("keepalive", lambda attempt: frame, None, acked=False)

    def status_word(self, alarms: dict[str, str], pump_running: bool | None) -> int:
        word = (1 << ALARM_FLOW_METER) if flow_meter_alarm(alarms, self.flow_device) else 0
        return word | ((1 << STATUS_PUMP_STOPPED) if pump_running is False else 0)

    def elements(self, values: dict, status: int) -> list[tuple]:
        out = []
        for name in self.mapped:
            identifier, size, decimals, scale = self.layout[name]
            value = values.get(name)
            number = value * scale if isinstance(value, int | float) else None
            if number is not None:
                try:
                    sl651.encode_element(identifier, number, size, decimals)
                except ValueError:
                    number = None  # out of the element's range: sent as no value
            out.append((identifier, number, size, decimals))
        out.append((STATUS_ID, status, 4, 0))
        return out

    def report_messages(self, report: Report, now: float) -> list[Message]:
        serial = serial_of(report.last_seq)
        status = self.status_word(report.alarms, report.pump_running)
        body = sl651.encode_report(serial, local_time(now, self.zone), self.s.station,
                                   self.station_class, local_time(report.observed, self.zone)[:5],
                                   self.elements(report.values, status))
        frame = sl651.build_report(self.s.centre_address, self.s.station, self.password,
                                   sl651.TIMED, body)
        return [Message("report", lambda attempt: frame, (sl651.TIMED, serial))]

    def read(self, frame: bytes, now: float) -> Incoming:
        try:
            parsed = sl651.parse_frame(frame)
        except sl651.Sl651Error as exc:
            return Incoming(OTHER, reason=str(exc))
        if parsed.direction != sl651.DOWN or parsed.station != self.s.station:
            return Incoming(OTHER, reason=f"not a downlink to station {self.s.station}")
        if parsed.end == sl651.ENQ:
            return self._command(frame)
        try:
            serial, send_time = sl651.decode_header(parsed.body)
        except sl651.Sl651Error as exc:
            return Incoming(OTHER, reason=str(exc))
        centre_time = wall_of(send_time, self.zone)
        kind = NAK if parsed.end == sl651.NAK else ACK
        return Incoming(kind, (parsed.function, serial), centre_time)

    def _command(self, frame: bytes) -> Incoming:
        try:
            parsed, serial, send_time, data = queries.parse_query(frame)
        except sl651.Sl651Error as exc:
            return Incoming(OTHER, reason=str(exc))
        if parsed.function == queries.PUMP_CONTROL:
            kind = PUMP_START if queries.decode_pumps(data)[0] else PUMP_STOP
        else:
            kind = COMMANDS[parsed.function]
        clock = wall_of(send_time, self.zone) if kind == CLOCK_SET else None
        return Incoming(COMMAND, command=CentreCommand(
            kind, parsed.password == self.password, clock, (parsed, serial, data)))

    def parameters(self, identifiers: list[int]) -> list[tuple[int, object]]:
        """The parameters asked for that this station keeps, from its config, in the order
        asked: 01 the centre address, 02 the station, 0C self-report with confirmation, 20 the
        report period when it is whole hours. The password (03) is never sent back: a centre
        that holds it has no need of it, and anyone else must not learn it; nor 21 (no
        add-reports)."""
        hours, part = divmod(self.s.report_period, 3600.0)
        known: dict[int, object] = {queries.CENTRES: [self.s.centre_address, 0, 0, 0],
                                    queries.STATION_ADDRESS: self.s.station,
                                    queries.WORK_MODE: WORK_MODE_CONFIRMED}
        if part == 0 and 1 <= hours <= 99:
            known[queries.REPORT_HOURS] = int(hours)
        return [(identifier, known[identifier]) for identifier in identifiers
                if identifier in known]

    def reply(self, command: CentreCommand, answer: CommandAnswer, now: float) -> bytes:
        parsed, serial, data = command.context
        send_time = local_time(now, self.zone)
        status = self.status_word({}, answer.pump_running)
        out = b""
        if command.kind == REALTIME:
            out = bytes((self.station_class,)) + sl651.OBSERVED_GUIDE + sl651.encode_time(
                send_time[:5]) + b"".join(sl651.encode_element(*element) for element in
                                          self.elements(answer.values, status))
        elif command.kind == STATUS:
            out = sl651.encode_element(STATUS_ID, status, 4, 0)
        elif command.kind == PARAMETERS:
            out = queries.encode_parameters(self.parameters(
                queries.decode_parameter_request(parsed.function, data)))
        elif command.kind in (CLOCK_QUERY, CLOCK_SET):
            clock = answer.clock if answer.clock is not None else now
            send_time = local_time(clock, self.zone)
        else:  # the pump bits after the command: pump 1 as it now is
            pumps = queries.decode_pumps(data)
            running = answer.pump_running
            if answer.accepted:
                running = command.kind == PUMP_START
            pumps[0] = bool(running)
            out = queries.encode_pumps(pumps)
        return queries.build_reply(self.s.centre_address, self.s.station, self.password,
                                   parsed.function, serial, send_time, out)
