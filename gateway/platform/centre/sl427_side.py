"""The centre's side of SL/T 427-2021 / SZY206-2016: uplink frames in, acknowledgements and
commands out, every byte through drivers/sl427.py and drivers/sl427_commands.py.

Acknowledged (type code 0, data 1 byte mode 0, then the centre's clock as Tp): link checks
(AFN 02: login F0, logout F1, keep-alive F2) and self-reports (AFN C0). Replies to the centre's
commands (11, 50, 51, 52, 5E, 92, 93, B0) are not acknowledged. A frame whose Tp allows a delay
(last byte > 0) and is older than that is refused as stale, as the standard asks of a receiver.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from drivers import sl427
from drivers import sl427_commands as commands
from gateway.platform.centre.frames import Received, Refused, centre_now, split_stream

LINK_KINDS = {sl427.LINK_LOGIN: "login", sl427.LINK_LOGOUT: "logout",
              sl427.LINK_KEEPALIVE: "keepalive"}
VALUE_NAMES = {"flow": ("flow", "volume"), "water_level": ("level",), "energy": ("energy",)}
COMMANDS = ("query_realtime", "query_clock", "query_status", "query_address", "query_mode",
            "set_clock", "pump_start", "pump_stop")
SIMPLE_QUERIES = {"query_clock": commands.AFN_QUERY_CLOCK,
                  "query_status": commands.AFN_QUERY_STATUS,
                  "query_address": commands.AFN_QUERY_ADDRESS,
                  "query_mode": commands.AFN_QUERY_MODE}


def station_key(county: str, station: int) -> str:
    """How the simulator names an SL/T 427 station: county code / station number."""
    return f"{county}/{station}"


def _iso_time_tag(tag: tuple[Any, ...] | None) -> str | None:
    if tag is None:
        return None
    year, month, day, hour, minute, second, _delay = tag
    if year is None:  # SZY206-2016: day, hour, minute, second only
        return f"--{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _iso_clock(clock: tuple[int, ...]) -> str:
    year, month, day, hour, minute, second, _weekday = clock
    return f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"


def _keys(text: str) -> tuple[int, int]:
    """A `send` password (4 digits: key 1, then the 3 of key 2) as the frame's (key1, key2)."""
    if len(text) != 4 or not text.isdigit():
        raise ValueError(f"password {text!r}: expected 4 digits, key 1 then the 3 of key 2")
    return int(text[0]), int(text[1:])


class Sl427Side:
    """Frames of one edition; alarm/status byte order and the command password are settings."""

    protocol = "sl427"

    def __init__(self, edition: str = sl427.EDITION_2021, order: str = "little",
                 password: tuple[int, int] = (0, 0), clock: Any = centre_now) -> None:
        self.edition = edition
        self.order = order
        self.password = password
        self.clock = clock

    def split(self, buffer: bytearray) -> list[tuple[str, bytes]]:
        return split_stream(buffer, sl427.find_frame, bytes((sl427.START,)))

    def time_tag(self, delay: int = 0, now: datetime | None = None) -> tuple[Any, ...]:
        now = now or self.clock()
        if self.edition == sl427.EDITION_2016:
            return (None, None, now.day, now.hour, now.minute, now.second, delay)
        return (now.year, now.month, now.day, now.hour, now.minute, now.second, delay)

    def _check_fresh(self, tag: tuple[Any, ...] | None) -> None:
        if tag is None or tag[-1] == 0:
            return
        now = self.clock()
        year, month, day, hour, minute, second, delay = tag
        try:
            sent = datetime(year or now.year, month or now.month, day, hour, minute, second)
        except ValueError as exc:
            raise Refused(f"Tp {_iso_time_tag(tag)} is no date: {exc}") from None
        if now - sent > timedelta(minutes=delay):
            raise Refused(f"stale frame: Tp {_iso_time_tag(tag)} is more than its allowed "
                          f"{delay} min older than the centre's clock {now.isoformat()}")

    def _ack(self, frame: sl427.Frame, afn: int) -> bytes:
        return sl427.build_ack(self.edition, frame.county, frame.station, afn, 0,
                               self.time_tag())

    def receive(self, frame: bytes) -> Received:
        """What the frame is; raises the driver's Sl427Error or Refused with the reason."""
        head = sl427.parse_frame(frame, self.edition, True, time_tag=False)
        station = station_key(head.county, head.station)
        if head.afn == sl427.AFN_LINK:
            parsed, kind = sl427.parse_link_check(frame, self.edition)
            self._check_fresh(parsed.time_tag)
            return Received(station, LINK_KINDS[kind], ack=self._ack(parsed, sl427.AFN_LINK))
        if head.afn == sl427.AFN_SELF_REPORT:
            parsed, kind, values, alarm, status = sl427.parse_self_report(frame, self.edition,
                                                                          self.order)
            self._check_fresh(parsed.time_tag)
            report = {"function": "C0", "observed": _iso_time_tag(parsed.time_tag),
                      "elements": self._elements(kind, values, alarm, status)}
            return Received(station, "report", report=report,
                            ack=self._ack(parsed, sl427.AFN_SELF_REPORT))
        return Received(station, "reply", reply_key=f"{head.afn:02X}",
                        result=self._reply(frame, head.afn))

    def _elements(self, kind: str, values: Any, alarm: int, status: int) -> list[dict[str, Any]]:
        if isinstance(values, (bytes, bytearray)):
            elements = [{"name": kind, "value": bytes(values).hex(" ").upper()}]
        else:
            names = VALUE_NAMES[kind]
            elements = [{"name": f"{names[i % len(names)]}_{i // len(names) + 1}", "value": value}
                        for i, value in enumerate(values)]
        return [*elements, {"name": "alarm_word", "value": alarm},
                {"name": "status_word", "value": status}]

    def _reply(self, frame: bytes, afn: int) -> dict[str, Any]:
        if afn in (commands.AFN_QUERY_CLOCK, commands.AFN_SET_CLOCK):
            _, clock = commands.parse_clock_reply(frame, self.edition, afn)
            return {"clock": _iso_clock(clock), "weekday": clock[-1]}
        if afn in (commands.AFN_PUMP_START, commands.AFN_PUMP_STOP):
            _, number, done = commands.parse_pump_reply(frame, self.edition, afn)
            return {"pump": number, "done": done}
        if afn == commands.AFN_QUERY_ADDRESS:
            _, county, number = commands.parse_address_reply(frame, self.edition)
            return {"county": county, "station": number}
        if afn == commands.AFN_QUERY_MODE:
            _, mode = commands.parse_mode_reply(frame, self.edition)
            return {"work_mode": mode, "mode": commands.WORK_MODES[mode]}
        if afn == commands.AFN_QUERY_STATUS:
            _, alarm, status = commands.parse_status_reply(frame, self.edition, self.order)
            return {"alarm_word": alarm, "status_word": status,
                    "alarms": sl427.word_flags(alarm, sl427.ALARM_BITS),
                    "status": sl427.word_flags(status, sl427.STATUS_BITS)}
        if afn == sl427.AFN_QUERY_REALTIME:
            parsed, kind, values, alarm, status = commands.parse_realtime_reply(
                frame, self.edition, self.order)
            return {"kind": kind, "elements": self._elements(kind, values, alarm, status),
                    "time_tag": _iso_time_tag(parsed.time_tag)}
        raise Refused(f"AFN {afn:02X} is neither a link check, a self-report nor a reply to a "
                      "command this simulator sends (11, 50, 51, 52, 5E, 92, 93, B0)")

    def command(self, station: str, name: str, args: dict[str, Any]) -> tuple[bytes, str]:
        """(frame, reply key) of a command to a station named county/number."""
        county, _, number_text = station.partition("/")
        number = int(number_text) if number_text.isdigit() else 0
        if name == "query_realtime":
            kind = args.get("kind", "flow")
            return (commands.build_query(self.edition, county, number,
                                         sl427.AFN_QUERY_REALTIME, kind), "B0")
        if name in SIMPLE_QUERIES:
            afn = SIMPLE_QUERIES[name]
            return commands.build_query(self.edition, county, number, afn), f"{afn:02X}"
        delay = int(args.get("delay", 0))
        password = _keys(str(args["password"])) if "password" in args else self.password
        if name == "set_clock":
            when = datetime.fromisoformat(args["clock"]) if "clock" in args else self.clock()
            clock = (when.year, when.month, when.day, when.hour, when.minute, when.second,
                     when.isoweekday())
            return (commands.build_set_clock(self.edition, county, number, clock, password,
                                             self.time_tag(delay)), "11")
        if name in ("pump_start", "pump_stop"):
            start = name == "pump_start"
            frame = commands.build_pump_control(
                self.edition, county, number, start, int(args.get("pump", 1)), password,
                self.time_tag(delay), commands.GATE_DEVICE if args.get("gate") else
                commands.PUMP_DEVICE)
            return frame, "92" if start else "93"
        raise ValueError(f"command {name!r}: expected one of {', '.join(COMMANDS)}")
