"""SL 651-2014 HEX-mode centre queries and commands and the station's replies, sans-IO.

Downlink (centre to station, end ENQ 05), body: serial (2) | the centre's send time (6 BCD) |
function-specific data:
- 37 query real-time values, 51 query the clock, 46 query status and alarm: no data;
- 4A set the clock: no data, the station sets its clock to the frame's send time;
- 4C pump control: N (1 byte) then N bytes of pump bits, bit i of byte 0 = pump i + 1, 1 start,
  0 stop (AMBIGUOUS, see tests/drivers/vectors_sl651.py);
- 41 read the basic configuration, 43 read the run parameters: the parameters wanted, each as
  its identifier and its length byte (high 5 bits the data bytes, low 3 the decimals).
Uplink reply (end ETX), same function, body: serial (the query's) | the station's send time |
F1 F1+ station address (5) | function-specific data:
- 37: station class, F0 F0 + observation time, elements (the body of a report: decode_report);
- 46: element 45 (status and alarm word); 4C: N and the pump bits after execution;
- 51 and 4A: nothing more, the reply's send time is the station's clock;
- 41/43: each parameter the station answers: identifier, length byte, data (a parameter it
  does not keep or will not disclose is left out).
Parameters (SL 651-2014 Appendix; layouts as xiaozhuweini/fyyp_rtu sl651.h/.c answer them):
01 centre addresses (4 bytes, one per centre, 0 = none), 02 station address (5 bytes BCD),
03 password (2 bytes), 0C work mode (1 byte BCD: 1 self-report, 2 self-report with
confirmation, 3 query/answer, 4 debug), 20 timed-report interval (1 byte BCD, hours), 21
add-report interval (1 byte BCD, minutes).
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
QUERY_BASIC = 0x41
QUERY_RUN = 0x43
QUERIES = (QUERY_REALTIME, QUERY_STATUS, SET_CLOCK, PUMP_CONTROL, QUERY_CLOCK, QUERY_BASIC,
           QUERY_RUN)
MAX_PUMP_BYTES = 8
CENTRES, STATION_ADDRESS, PASSWORD, WORK_MODE = 0x01, 0x02, 0x03, 0x0C
REPORT_HOURS, ADD_REPORT_MINUTES = 0x20, 0x21
# identifier -> length byte (data bytes << 3 | decimals)
PARAMETER_LENGTHS = {CENTRES: 0x20, STATION_ADDRESS: 0x28, PASSWORD: 0x10, WORK_MODE: 0x08,
                     REPORT_HOURS: 0x08, ADD_REPORT_MINUTES: 0x08}
BASIC_PARAMETERS = (CENTRES, STATION_ADDRESS, PASSWORD, WORK_MODE)
RUN_PARAMETERS = (REPORT_HOURS, ADD_REPORT_MINUTES)
BCD_LIMITS = {WORK_MODE: (1, 4), REPORT_HOURS: (0, 99), ADD_REPORT_MINUTES: (0, 99)}


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
        raise ValueError("function %r: expected a query or command, one of 37, 41, 43, 46, 4A, "
                         "4C, 51" % (function,))


def _parameter_set(function):
    return BASIC_PARAMETERS if function == QUERY_BASIC else RUN_PARAMETERS


def encode_parameter_request(function, identifiers):
    """The data of a 41/43 query: each identifier wanted with its length byte."""
    out = bytearray()
    for identifier in identifiers:
        if identifier not in _parameter_set(function):
            raise ValueError("parameter %r: function %02X reads %s" % (
                identifier, function, ", ".join("%02X" % i for i in _parameter_set(function))))
        out += bytes((identifier, PARAMETER_LENGTHS[identifier]))
    if not out:
        raise ValueError("function %02X: name at least one parameter" % function)
    return bytes(out)


def decode_parameter_request(function, data):
    """The identifiers a 41/43 query asks for (each with its length byte checked)."""
    if not data or len(data) % 2:
        raise BodyError("parameter request [%s]: expected identifier and length byte pairs"
                        % _hex(data))
    identifiers = []
    for index in range(0, len(data), 2):
        identifier, length = data[index], data[index + 1]
        if identifier not in _parameter_set(function) or \
                PARAMETER_LENGTHS[identifier] != length:
            raise BodyError("parameter request [%s]: %02X %02X is not a parameter function %02X "
                            "reads (%s)" % (_hex(data), identifier, length, function, ", ".join(
                                "%02X %02X" % (i, PARAMETER_LENGTHS[i])
                                for i in _parameter_set(function))))
        identifiers.append(identifier)
    return identifiers


def _bcd(value):
    return ((value // 10) << 4) | (value % 10)


def _encode_parameter(identifier, value):
    if identifier == CENTRES:
        if len(value) != 4 or any(not 0 <= centre <= 255 for centre in value):
            raise ValueError("centre addresses %r: expected 4, each 0-255" % (value,))
        return bytes(value)
    if identifier == STATION_ADDRESS:
        return encode_station(value)
    if identifier == PASSWORD:
        if not 0 <= value <= 0xFFFF:
            raise ValueError("password %r: expected 0-FFFF" % (value,))
        return bytes((value >> 8, value & 0xFF))
    low, high = BCD_LIMITS[identifier]
    if not isinstance(value, int) or not low <= value <= high:
        raise ValueError("parameter %02X = %r: expected %d..%d" % (identifier, value, low, high))
    return bytes((_bcd(value),))


def encode_parameters(parameters):
    """The data of a 41/43 reply: each (identifier, value) as identifier, length byte, data."""
    out = bytearray()
    for identifier, value in parameters:
        if identifier not in PARAMETER_LENGTHS:
            raise ValueError("parameter %r: expected one of %s" % (identifier, ", ".join(
                "%02X" % i for i in PARAMETER_LENGTHS)))
        out += bytes((identifier, PARAMETER_LENGTHS[identifier]))
        out += _encode_parameter(identifier, value)
    return bytes(out)


def _decode_parameter(identifier, data):
    if identifier == CENTRES:
        return list(data)
    if identifier == STATION_ADDRESS:
        return decode_station(data)
    if identifier == PASSWORD:
        return data[0] << 8 | data[1]
    high, low = data[0] >> 4, data[0] & 0xF
    value = high * 10 + low
    limits = BCD_LIMITS[identifier]
    if high > 9 or low > 9 or not limits[0] <= value <= limits[1]:
        raise BodyError("parameter %02X byte %02X: expected BCD %d..%d" % (
            identifier, data[0], limits[0], limits[1]))
    return value


def decode_parameters(function, data):
    """[(identifier, value)] of a 41/43 reply's data (every identifier one the function reads)."""
    out, index = [], 0
    while index < len(data):
        if index + 2 > len(data):
            raise BodyError("parameters [%s]: a lone byte at %d" % (_hex(data), index))
        identifier, length = data[index], data[index + 1]
        if identifier not in _parameter_set(function) or \
                PARAMETER_LENGTHS[identifier] != length:
            raise BodyError("parameters [%s]: %02X %02X at %d is not a parameter function %02X "
                            "reads" % (_hex(data), identifier, length, index, function))
        size = length >> 3
        value = data[index + 2:index + 2 + size]
        if len(value) != size:
            raise BodyError("parameters [%s]: %02X needs %d bytes, %d left" % (
                _hex(data), identifier, size, len(value)))
        out.append((identifier, _decode_parameter(identifier, value)))
        index += 2 + size
    return out


def _check_data(function, data, error):
    """Check a query's data: pump bits for 4C, parameters wanted for 41/43, nothing else."""
    if function == PUMP_CONTROL:
        decode_pumps(data)
    elif function in (QUERY_BASIC, QUERY_RUN):
        try:
            decode_parameter_request(function, data)
        except BodyError as exc:
            raise error(str(exc)) from None
    elif data:
        raise error("function %02X carries data [%s], expected none" % (function, _hex(data)))


def build_query(centre, station, password, function, serial, send_time, data=b""):
    """The centre's query or command `function` (ENQ), data as the module docstring says."""
    _check_query(function)
    _check_data(function, bytes(data), ValueError)
    return build_frame(centre, station, password, function, DOWN,
                       encode_header(serial, send_time) + bytes(data), ENQ)


def parse_query(frame):
    """(Frame, serial, send time, data) of a centre's query or command, as the station reads it."""
    parsed = parse_frame(frame)
    if parsed.direction != DOWN or parsed.end != ENQ:
        raise FrameError("frame %r is not a centre's query: expected a downlink ending in ENQ"
                         % (parsed,))
    if parsed.function not in QUERIES:
        raise BodyError("function %02X is not a query or command here: expected 37, 41, 43, 46, "
                        "4A, 4C or 51" % parsed.function)
    serial, send_time = decode_header(parsed.body)
    data = parsed.body[8:]
    _check_data(parsed.function, data, BodyError)
    return parsed, serial, send_time, data


def build_reply(centre, station, password, function, serial, send_time, data=b""):
    """The station's reply to `function`: serial (the query's), its send time, F1 F1 + address,
    data (37: station class, F0 F0 + observation time, elements; 46: element 45; 4C: pumps)."""
    _check_query(function)
    body = encode_header(serial, send_time) + STATION_GUIDE + encode_station(station) + data
    return build_frame(centre, station, password, function, UP, body, ETX)


def parse_reply(frame):
    """(Frame, serial, send time, result) of a station's reply: result a Report for 37, the
    status word for 46, the pump states for 4C, [(identifier, value)] for 41/43, None for 51
    and 4A (the clock is send time)."""
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
    if parsed.function in (QUERY_BASIC, QUERY_RUN):
        return parsed, serial, send_time, decode_parameters(parsed.function, data)
    if data:
        raise BodyError("reply %02X carries [%s] after the address, expected nothing"
                        % (parsed.function, _hex(data)))
    return parsed, serial, send_time, None
