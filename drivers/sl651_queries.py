"""SL 651-2014 HEX-mode centre queries and commands and the station's replies, sans-IO.

Downlink (centre to station, end ENQ 05), body: serial (2) | the centre's send time (6 BCD) |
function-specific data:
- 37 query real-time values, 51 query the clock, 46 query status and alarm: no data;
- 4A set the clock: no data, the station sets its clock to the frame's send time;
- 4C pump control: N (1 byte) then N bytes of pump bits, bit i of byte 0 = pump i + 1, 1 start,
  0 stop (AMBIGUOUS, see tests/drivers/vectors_sl651.py).
Uplink reply (end ETX), same function, body: serial (the query's) | the station's send time |
F1 F1+ station address (5) | function-specific data:
- 37: station class, F0 F0 + observation time, elements (the body of a report: decode_report);
- 46: element 45 (status and alarm word); 4C: N and the pump bits after execution;
- 51 and 4A: nothing more, the reply's send time is the station's clock.
"""

from drivers.sl651 import (
    DOWN,
    ENQ,
    ETX,
    STATION_GUIDE,
    UP,
    BodyError,
    FrameError,
    _hex,
    build_frame,
    decode_elements,
    decode_header,
    decode_report,
    decode_station,
    encode_header,
    encode_station,
    parse_frame,
)

QUERY_REALTIME = 0x37
QUERY_STATUS = 0x46
SET_CLOCK = 0x4A
PUMP_CONTROL = 0x4C
QUERY_CLOCK = 0x51
QUERIES = (QUERY_REALTIME, QUERY_STATUS, SET_CLOCK, PUMP_CONTROL, QUERY_CLOCK)
MAX_PUMP_BYTES = 8


def encode_pumps(states):
    """N and the pump bits of a list of booleans, pump 1 first (True = start / running)."""
    if not 1 <= len(states) <= 8 * MAX_PUMP_BYTES:
        raise ValueError("%d pump states: expected 1 to %d" % (len(states), 8 * MAX_PUMP_BYTES))
    count = (len(states) + 7) // 8
    bits = bytearray(count)
    for index in range(len(states)):
        if states[index]:
            bits[index // 8] |= 1 << (index % 8)
    return bytes((count,)) + bytes(bits)


def decode_pumps(data):
    """The pump states (booleans, pump 1 first, 8 per byte) of N and the pump bits."""
    if not data or not 1 <= data[0] <= MAX_PUMP_BYTES or len(data) != 1 + data[0]:
        raise BodyError("pump data [%s]: expected N (1-%d) then N bytes of pump bits"
                        % (_hex(data), MAX_PUMP_BYTES))
    return [bool(data[1 + index // 8] >> (index % 8) & 1) for index in range(8 * data[0])]


def _check_query(function):
    if function not in QUERIES:
        raise ValueError("function %r: expected a query or command, one of 37, 46, 4A, 4C, 51"
                         % (function,))


def build_query(centre, station, password, function, serial, send_time, data=b""):
    """The centre's query or command `function` (ENQ), data as the module docstring says."""
    _check_query(function)
    if function == PUMP_CONTROL:
        decode_pumps(data)
    elif data:
        raise ValueError("function %02X carries no data, got [%s]" % (function, _hex(data)))
    return build_frame(centre, station, password, function, DOWN,
                       encode_header(serial, send_time) + bytes(data), ENQ)


def parse_query(frame):
    """(Frame, serial, send time, data) of a centre's query or command, as the station reads it."""
    parsed = parse_frame(frame)
    if parsed.direction != DOWN or parsed.end != ENQ:
        raise FrameError("frame %r is not a centre's query: expected a downlink ending in ENQ"
                         % (parsed,))
    if parsed.function not in QUERIES:
        raise BodyError("function %02X is not a query or command here: expected 37, 46, 4A, 4C "
                        "or 51" % parsed.function)
    serial, send_time = decode_header(parsed.body)
    data = parsed.body[8:]
    if parsed.function == PUMP_CONTROL:
        decode_pumps(data)
    elif data:
        raise BodyError("function %02X carries data [%s], expected none"
                        % (parsed.function, _hex(data)))
    return parsed, serial, send_time, data


def build_reply(centre, station, password, function, serial, send_time, data=b""):
    """The station's reply to `function`: serial (the query's), its send time, F1 F1 + address,
    data (37: station class, F0 F0 + observation time, elements; 46: element 45; 4C: pumps)."""
    _check_query(function)
    body = encode_header(serial, send_time) + STATION_GUIDE + encode_station(station) + data
    return build_frame(centre, station, password, function, UP, body, ETX)


def parse_reply(frame):
    """(Frame, serial, send time, result) of a station's reply: result a Report for 37, the
    status word for 46, the pump states for 4C, None for 51 and 4A (the clock is send time)."""
    parsed = parse_frame(frame)
    if parsed.direction != UP or parsed.packet is not None:
        raise FrameError("frame %r is not a station's single-packet reply" % (parsed,))
    if parsed.function not in QUERIES:
        raise BodyError("function %02X is not a reply to a query here" % parsed.function)
    body = parsed.body
    serial, send_time = decode_header(body)
    if len(body) < 15 or body[8:10] != STATION_GUIDE:
        raise BodyError("reply body [%s]: expected serial, send time, F1 F1 + station address"
                        % _hex(body))
    if decode_station(body[10:15]) != parsed.station:
        raise BodyError("reply body names station %s, the frame's header %s"
                        % (decode_station(body[10:15]), parsed.station))
    data = body[15:]
    if parsed.function == QUERY_REALTIME:
        return parsed, serial, send_time, decode_report(body)
    if parsed.function == QUERY_STATUS:
        elements = decode_elements(data)
        if len(elements) != 1 or elements[0][0] != 0x45:
            raise BodyError("status reply data [%s]: expected the one element 45" % _hex(data))
        return parsed, serial, send_time, elements[0][1]
    if parsed.function == PUMP_CONTROL:
        return parsed, serial, send_time, decode_pumps(data)
    if data:
        raise BodyError("reply %02X carries [%s] after the address, expected nothing"
                        % (parsed.function, _hex(data)))
    return parsed, serial, send_time, None
