"""The centre's side of SL 651-2014 HEX mode: uplink frames in, replies and queries out, every
byte through drivers/sl651.py and drivers/sl651_queries.py.

Reports (30-34) in one packet are answered with the report's serial and the centre's clock,
ending EOT (done; ESC with --reply-end esc: stay online). M3 reports come in SYN packets: the
centre stays silent until the last (ETX) one, then answers ACK when every packet arrived or NAK
naming the first one missing (a damaged packet is refused, so it is missing); each packet
resent after that is answered the same way, ACK once the message is whole. Keep-alives (2F)
get no reply. Replies to the centre's queries (37, 41, 43, 46, 4A, 4C, 51) are not answered.
Frames for another centre address, or with another password when --password is set, are
refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drivers import sl651
from drivers import sl651_queries as queries
from gateway.platform.centre.frames import Received, Refused, centre_now, split_stream

QUERY_BY_NAME = {"query_realtime": queries.QUERY_REALTIME, "query_clock": queries.QUERY_CLOCK,
                 "query_status": queries.QUERY_STATUS, "set_clock": queries.SET_CLOCK,
                 "pump_start": queries.PUMP_CONTROL, "pump_stop": queries.PUMP_CONTROL,
                 "query_basic": queries.QUERY_BASIC, "query_run": queries.QUERY_RUN}
PARAMETER_NAMES = {queries.CENTRES: "centre_addresses", queries.STATION_ADDRESS: "station",
                   queries.PASSWORD: "password", queries.WORK_MODE: "work_mode",
                   queries.REPORT_HOURS: "report_hours",
                   queries.ADD_REPORT_MINUTES: "add_report_minutes"}
MAX_PENDING_MESSAGES = 16  # M3 messages being assembled at once


def _iso(moment: tuple[int, ...] | None) -> str | None:
    if moment is None:
        return None
    return datetime(*moment).isoformat()


def elements_of(report: sl651.Report) -> list[dict[str, Any]]:
    """The report's elements as stored: name = the identifier in hex, label, value."""
    out = []
    for identifier, value, _size, _decimals in report.elements:
        label = sl651.ELEMENTS.get(identifier, ("user-defined" if identifier > 0xFF
                                                else "element",))[0]
        out.append({"name": f"{identifier:02X}", "label": label, "value": value})
    return out


class Sl651Side:
    """One centre address; the station's password is checked only when one is given."""

    protocol = "sl651"

    def __init__(self, centre: int = 1, password: int | None = None, reply_end: str = "eot",
                 clock: Any = centre_now) -> None:
        self.centre = centre
        self.password = password
        self.reply_end = sl651.ESC if reply_end == "esc" else sl651.EOT
        self.clock = clock
        self._serial = 0
        self._packets: dict[tuple[str, int, int], dict[int, bytes]] = {}
        self._passwords: dict[str, int] = {}

    def split(self, buffer: bytearray) -> list[tuple[str, bytes]]:
        return split_stream(buffer, sl651.find_frame, sl651.START)

    def _send_time(self) -> tuple[int, ...]:
        now = self.clock()
        return (now.year, now.month, now.day, now.hour, now.minute, now.second)

    def _answer(self, parsed: sl651.Frame, serial: int, end: int,
                packet: tuple[int, int] | None = None) -> bytes:
        return sl651.build_ack(self.centre, parsed.station, parsed.password, parsed.function,
                               serial, self._send_time(), end, packet)

    def receive(self, frame: bytes) -> Received:
        """What the frame is; raises the driver's Sl651Error or Refused with the reason."""
        parsed = sl651.parse_frame(frame)
        if parsed.direction != sl651.UP:
            raise Refused(f"downlink frame to station {parsed.station}: a centre takes uplinks")
        if parsed.centre != self.centre:
            raise Refused(f"frame for centre address {parsed.centre}, this centre is "
                          f"{self.centre}")
        if self.password is not None and parsed.password != self.password:
            raise Refused(f"password {parsed.password:04X}, the station's is "
                          f"{self.password:04X}")
        station = parsed.station
        self._passwords[station] = parsed.password
        if parsed.packet is not None:
            return self._packet(parsed)
        if parsed.function == sl651.KEEP_ALIVE:
            sl651.parse_uplink(frame)
            return Received(station, "keepalive")
        if parsed.function in sl651.REPORT_FUNCTIONS:
            _, report = sl651.parse_uplink(frame)
            return self._report(parsed, report)
        if parsed.function in queries.QUERIES:
            _, serial, send_time, result = queries.parse_reply(frame)
            return Received(station, "reply", reply_key=f"{parsed.function:02X}#{serial}",
                            result=self._result(parsed.function, send_time, result),
                            extra={"serial": serial})
        raise Refused(f"function {parsed.function:02X} is neither a keep-alive, a report "
                      "(30-34) nor a reply to a query this simulator sends")

    def _report(self, parsed: sl651.Frame, report: sl651.Report) -> Received:
        stored = {"function": f"{parsed.function:02X}", "observed": _iso(report.observed),
                  "elements": elements_of(report)}
        return Received(parsed.station, "report", report=stored,
                        ack=self._answer(parsed, report.serial, self.reply_end),
                        nak=self._answer(parsed, report.serial, sl651.NAK),
                        extra={"serial": report.serial})

    def _packet(self, parsed: sl651.Frame) -> Received:
        total, sequence = parsed.packet
        key = (parsed.station, parsed.function, total)
        if key not in self._packets and len(self._packets) >= MAX_PENDING_MESSAGES:
            self._packets.pop(next(iter(self._packets)))
        packets = self._packets.setdefault(key, {})
        packets[sequence] = parsed.body
        last_seen = total in packets  # a resent packet after a NAK completes the message too
        missing = [number for number in range(1, total + 1) if number not in packets]
        if not last_seen:
            return Received(parsed.station, "packet")
        if missing:
            first = packets.get(1, b"")
            serial = sl651.decode_header(first)[0] if len(first) >= 8 else 1
            return Received(parsed.station, "packet",
                            ack=self._answer(parsed, serial, sl651.NAK, (total, missing[0])),
                            extra={"missing": missing})
        del self._packets[key]
        body = b"".join(packets[number] for number in range(1, total + 1))
        report = sl651.decode_report(body)
        if report.station != parsed.station:
            raise sl651.BodyError(f"report body names station {report.station}, the frames' "
                                  f"header {parsed.station}")
        received = self._report(parsed, report)
        received.ack = self._answer(parsed, report.serial, sl651.ACK)
        return received

    def _result(self, function: int, send_time: tuple[int, ...], result: Any) -> dict[str, Any]:
        if function == queries.QUERY_REALTIME:
            return {"observed": _iso(result.observed), "elements": elements_of(result),
                    "station_time": _iso(send_time)}
        if function == queries.QUERY_STATUS:
            return {"status_word": result, "station_time": _iso(send_time)}
        if function == queries.PUMP_CONTROL:
            return {"pumps": result, "station_time": _iso(send_time)}
        if function in (queries.QUERY_BASIC, queries.QUERY_RUN):
            return {"parameters": {PARAMETER_NAMES[identifier]: value
                                   for identifier, value in result},
                    "station_time": _iso(send_time)}
        return {"clock": _iso(send_time)}

    def command(self, station: str, name: str, args: dict[str, Any]) -> tuple[bytes, str]:
        """(frame, reply key) of a query or command to a station (10 digits)."""
        if name not in QUERY_BY_NAME:
            raise ValueError(f"command {name!r}: expected one of {', '.join(QUERY_BY_NAME)}")
        function = QUERY_BY_NAME[name]
        self._serial = self._serial % sl651.MAX_SERIAL + 1
        now = datetime.fromisoformat(args["clock"]) if name == "set_clock" and "clock" in args \
            else self.clock()
        send_time = (now.year, now.month, now.day, now.hour, now.minute, now.second)
        data = b""
        if function == queries.PUMP_CONTROL:
            states = args.get("pumps")
            if states is None:
                pump = int(args.get("pump", 1))
                states = [index + 1 == pump and name == "pump_start"
                          for index in range(max(8, pump))]
            data = queries.encode_pumps([bool(state) for state in states])
        elif function in (queries.QUERY_BASIC, queries.QUERY_RUN):  # all it reads by default
            wanted = args.get("parameters") or [
                f"{identifier:02X}" for identifier in (queries.BASIC_PARAMETERS if function ==
                                                       queries.QUERY_BASIC else
                                                       queries.RUN_PARAMETERS)]
            data = queries.encode_parameter_request(function, [int(str(identifier), 16)
                                                               for identifier in wanted])
        password = self._passwords.get(station, self.password or 0)
        frame = queries.build_query(self.centre, station, password, function, self._serial,
                                    send_time, data)
        return frame, f"{function:02X}#{self._serial}"  # the reply must carry our serial
