"""SL 651-2014 (hydrological telemetry) HEX-mode sans-IO codec, station side and centre side.

Frame (SL 651-2014 clause 6, HEX/BCD mode), every multi-byte field high byte first:
  7E 7E | uplink: centre address (1), station address (5 BCD); downlink: station, then centre |
  password (2) | function (1) | direction (high nibble: 0 up, 8 down) + body length (low 12 bits) |
  STX 02, or SYN 16 + packet total (12 bits) and sequence (12 bits) in 3 bytes (M3) | body |
  end: ETX 03 / ETB 17 up; EOT 04 / ESC 1B / ACK 06 / NAK 15 / ENQ 05 down | CRC (2).
The length counts the body and, after SYN, the 3 packet bytes. The CRC is CRC-16/MODBUS over
every byte before it, sent high byte first (Modbus RTU sends it low byte first).
Report body: serial (2, 1-65535) | send time (6 BCD YYMMDDhhmmss) | F1 F1 + station address |
station class (1) | F0 F0 + observation time (5 BCD YYMMDDhhmm) | elements. A keep-alive (2F) and
the centre's acknowledgement carry only serial and send time.
Element: guide code (1, or FF + 1 for a user-defined identifier) | (byte count << 3 | decimals) |
value, BCD high digit first; a negative value starts with an FF byte (counted), all FF = no value.
"""

from drivers.modbus_rtu import crc16

START = b"\x7e\x7e"
STX = 0x02  # body follows, one packet
SYN = 0x16  # body follows, one packet of several (M3)
ETX = 0x03  # end, nothing follows
ETB = 0x17  # end, more packets follow
ENQ = 0x05  # end of a centre's query
EOT = 0x04  # centre: acknowledged, end the session
ACK = 0x06  # centre: acknowledged, every packet received (M3)
NAK = 0x15  # centre: packet refused, send it again (M3)
ESC = 0x1B  # centre: acknowledged, stay online (about 10 min)
UP = 0x0
DOWN = 0x8
UP_ENDS = (ETX, ETB)
DOWN_ENDS = (EOT, ESC, ACK, NAK, ENQ)
END_NAMES = {ETX: "ETX", ETB: "ETB", ENQ: "ENQ", EOT: "EOT", ACK: "ACK", NAK: "NAK", ESC: "ESC"}

KEEP_ALIVE = 0x2F  # link keep-alive, every 1-255 s (40 s recommended)
TEST = 0x30
EVENLY_TIMED = 0x31
TIMED = 0x32
ADD_REPORT = 0x33
HOURLY = 0x34
REPORT_FUNCTIONS = (TEST, EVENLY_TIMED, TIMED, ADD_REPORT, HOURLY)

GROUNDWATER = 0x47  # station classes (测站分类码), as ASCII letters: G
INTAKE = 0x49  # I (取水口)
PUMP_STATION = 0x44  # D (泵站)
STATION_CLASSES = (GROUNDWATER, INTAKE, PUMP_STATION)

STATION_GUIDE = b"\xf1\xf1"  # F1 F1 + station address (5)
OBSERVED_GUIDE = b"\xf0\xf0"  # F0 F0 + observation time (5)
USER_DEFINED = 0xFF  # first byte of a 2-byte user-defined identifier (FFxx)
NEGATIVE = 0xFF  # leading byte of a negative value
HEAD_SIZE = 14  # 7E 7E, 2 addresses, password, function, direction+length, STX/SYN
TAIL_SIZE = 3  # end byte, CRC
PACKET_INFO_SIZE = 3
MAX_LENGTH = 0xFFF  # 12 bits
MAX_PACKETS = 0xFFF
MAX_SERIAL = 0xFFFF

# Appendix C identifiers the gateway sends: guide code -> (name, byte count, decimals, unit).
# Byte counts and decimals are those of the usual length byte (see tests/drivers/vectors_sl651.py
# for the sources); a platform may agree other ones, so parsing reads them from the frame.
ELEMENTS = {
    0x27: ("instantaneous flow", 5, 3, "m3/s"),
    0x39: ("water level", 4, 3, "m"),
    0x0E: ("groundwater depth", 3, 2, "m"),
    0x38: ("supply voltage", 2, 2, "V"),
    0x45: ("status and alarm", 4, 0, "bits"),
}
for _meter in range(8):
    ELEMENTS[0x68 + _meter] = ("hourly volume of meter %d" % (_meter + 1), 5, 2, "m3")
del _meter
BIT_ELEMENTS = (0x45,)  # a 32-bit word, not BCD


class Sl651Error(Exception):
    """Any SL 651 frame the codec refuses."""


class CrcError(Sl651Error):
    """The frame's CRC does not match its bytes."""


class FrameError(Sl651Error):
    """A frame whose structure (start, length, direction, start or end byte) is wrong."""


class BcdError(FrameError):
    """A field that must be BCD (address, time, value) holds a nibble above 9 or a bad date."""


class BodyError(FrameError):
    """A body that does not hold what its function code requires."""


def _hex(data):
    return " ".join("%02X" % byte for byte in data)


def _check_int(name, value, low, high):
    if not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s %r is out of range: expected an integer from %d to %d"
                         % (name, value, low, high))


def crc_bytes(data):
    """The 2 CRC bytes of data: CRC-16/MODBUS, high byte first."""
    crc = crc16(data)
    return bytes((crc >> 8, crc & 0xFF))


# --- BCD fields --------------------------------------------------------------------------------


def _bcd_digits(data, what):
    for byte in data:
        if byte >> 4 > 9 or byte & 0xF > 9:
            raise BcdError("%s [%s]: %02X is not BCD" % (what, _hex(data), byte))
    return "".join("%02X" % byte for byte in data)


def encode_station(station):
    """5 address bytes from the station's 10 BCD digits, e.g. "0012345678"."""
    if not isinstance(station, str) or len(station) != 10 or not station.isdigit():
        raise ValueError("station address %r: expected 10 digits, e.g. '0012345678'"
                         % (station,))
    return bytes([int(station[index:index + 2], 16) for index in range(0, 10, 2)])


def decode_station(data):
    """The 10-digit station address of 5 BCD bytes."""
    return _bcd_digits(data, "station address")


_TIME_FIELDS = (("year", 2000, 2099), ("month", 1, 12), ("day", 1, 31), ("hour", 0, 23),
                ("minute", 0, 59), ("second", 0, 59))


def encode_time(moment):
    """BCD YYMMDDhhmm[ss] of (year, month, day, hour, minute[, second]); year 2000-2099."""
    if not isinstance(moment, tuple) or len(moment) not in (5, 6):
        raise ValueError("time %r: expected (year, month, day, hour, minute[, second])"
                         % (moment,))
    out = bytearray()
    for index in range(len(moment)):  # not zip(): MicroPython's zip() has no strict=
        name, low, high = _TIME_FIELDS[index]
        _check_int(name, moment[index], low, high)
        value = moment[index] % 100
        out.append((value // 10) << 4 | value % 10)
    return bytes(out)


def decode_time(data):
    """(year, month, day, hour, minute[, second]) of 5 or 6 BCD bytes; refuses a bad date."""
    digits = _bcd_digits(data, "time")
    moment = [int(digits[index:index + 2]) for index in range(0, len(digits), 2)]
    moment[0] += 2000
    for index in range(len(moment)):
        value = moment[index]
        name, low, high = _TIME_FIELDS[index]
        if not low <= value <= high:
            raise BcdError("time [%s]: %s %d, expected %d to %d"
                           % (_hex(data), name, value, low, high))
    return tuple(moment)


# --- frames ------------------------------------------------------------------------------------


class Frame:
    """One parsed frame: addresses, password, function, direction, body, end, packet (M3)."""

    def __init__(self, centre, station, password, function, direction, body, end, packet=None):
        self.centre = centre
        self.station = station
        self.password = password
        self.function = function
        self.direction = direction
        self.body = body
        self.end = end
        self.packet = packet  # (total, sequence) after SYN, else None

    def _fields(self):
        return (self.centre, self.station, self.password, self.function, self.direction,
                self.body, self.end, self.packet)

    def __eq__(self, other):
        return isinstance(other, Frame) and self._fields() == other._fields()

    def __repr__(self):
        return ("Frame(centre=%d, station=%r, password=0x%04X, function=0x%02X, %s, body=[%s], "
                "end=%s, packet=%r)" % (self.centre, self.station, self.password, self.function,
                                         "up" if self.direction == UP else "down",
                                         _hex(self.body), END_NAMES.get(self.end, self.end),
                                         self.packet))


def build_frame(centre, station, password, function, direction, body, end, packet=None):
    """The bytes of one frame; packet = (total, sequence) makes an M3 frame (SYN)."""
    _check_int("centre address", centre, 1, 255)
    _check_int("password", password, 0, 0xFFFF)
    _check_int("function", function, 0, 0xFF)
    if direction not in (UP, DOWN):
        raise ValueError("direction %r: expected UP (0) or DOWN (8)" % (direction,))
    ends = UP_ENDS if direction == UP else DOWN_ENDS
    if end not in ends:
        raise ValueError("end byte %r: a %s frame ends in %s" % (
            end, "up" if direction == UP else "down",
            ", ".join("%s %02X" % (END_NAMES[e], e) for e in ends)))
    body = bytes(body)
    length = len(body)
    head = bytearray(START)
    if direction == UP:
        head.append(centre)
        head += encode_station(station)
    else:
        head += encode_station(station)
        head.append(centre)
    head += bytes((password >> 8, password & 0xFF, function))
    if packet is not None:
        total, sequence = _check_packet(packet, direction, end)
        length += PACKET_INFO_SIZE
    if length > MAX_LENGTH:
        raise ValueError("body of %d bytes: a frame holds at most %d" % (length, MAX_LENGTH))
    head += bytes((direction << 4 | length >> 8, length & 0xFF))
    if packet is None:
        head.append(STX)
    else:
        head += bytes((SYN, total >> 4, (total & 0xF) << 4 | sequence >> 8, sequence & 0xFF))
    head += body
    head.append(end)
    return bytes(head) + crc_bytes(head)


def _check_packet(packet, direction, end):
    if not isinstance(packet, tuple) or len(packet) != 2:
        raise ValueError("packet %r: expected (total, sequence)" % (packet,))
    total, sequence = packet
    _check_int("packet total", total, 1, MAX_PACKETS)
    _check_int("packet sequence", sequence, 1, total)
    if direction == UP and end != (ETX if sequence == total else ETB):
        raise ValueError("packet %d of %d ends in %s, expected %s" % (
            sequence, total, END_NAMES[end], "ETX" if sequence == total else "ETB"))
    return total, sequence


def parse_frame(frame):
    """The Frame of exactly one frame's bytes; every check refuses with its reason.

    Raises FrameError (start, length, direction, start/end byte, packet numbers), CrcError, and
    BcdError (station address)."""
    frame = bytes(frame)
    size = len(frame)
    if size < HEAD_SIZE + TAIL_SIZE:
        raise FrameError("frame [%s] of %d bytes is shorter than the smallest frame (%d)"
                         % (_hex(frame), size, HEAD_SIZE + TAIL_SIZE))
    if frame[:2] != START:
        raise FrameError("frame [%s] starts with %s, expected 7E 7E" % (_hex(frame),
                                                                        _hex(frame[:2])))
    length = (frame[11] & 0xF) << 8 | frame[12]
    if size != HEAD_SIZE + length + TAIL_SIZE:
        raise FrameError("frame [%s] has %d bytes, its length field %d means %d"
                         % (_hex(frame), size, length, HEAD_SIZE + length + TAIL_SIZE))
    crc = crc_bytes(frame[:-2])
    if frame[-2:] != crc:
        raise CrcError("frame [%s] ends in CRC %s, computed %s"
                       % (_hex(frame), _hex(frame[-2:]), _hex(crc)))
    direction = frame[11] >> 4
    if direction not in (UP, DOWN):
        raise FrameError("direction nibble %X in frame [%s]: expected 0 (up) or 8 (down)"
                         % (direction, _hex(frame)))
    if direction == UP:
        centre, station = frame[2], decode_station(frame[3:8])
    else:
        station, centre = decode_station(frame[2:7]), frame[7]
    if centre == 0:
        raise FrameError("centre address 0 in frame [%s]: expected 1 to 255" % _hex(frame))
    end = frame[-3]
    ends = UP_ENDS if direction == UP else DOWN_ENDS
    if end not in ends:
        raise FrameError("%s frame [%s] ends in %02X, expected one of %s" % (
            "up" if direction == UP else "down", _hex(frame), end,
            ", ".join("%02X (%s)" % (e, END_NAMES[e]) for e in ends)))
    password = frame[8] << 8 | frame[9]
    packet = None
    if frame[13] == SYN:
        packet = _parse_packet(frame, length, direction, end)
        body = frame[HEAD_SIZE + PACKET_INFO_SIZE:-TAIL_SIZE]
    elif frame[13] == STX:
        body = frame[HEAD_SIZE:-TAIL_SIZE]
    else:
        raise FrameError("frame [%s] has %02X where STX 02 or SYN 16 starts the body"
                         % (_hex(frame), frame[13]))
    return Frame(centre, station, password, frame[10], direction, body, end, packet)


def _parse_packet(frame, length, direction, end):
    if length < PACKET_INFO_SIZE:
        raise FrameError("M3 frame [%s] has length %d, too short for its %d packet bytes"
                         % (_hex(frame), length, PACKET_INFO_SIZE))
    info = frame[HEAD_SIZE:HEAD_SIZE + PACKET_INFO_SIZE]
    total = info[0] << 4 | info[1] >> 4
    sequence = (info[1] & 0xF) << 8 | info[2]
    if not 1 <= sequence <= total:
        raise FrameError("M3 packet bytes [%s]: packet %d of %d, expected 1 <= packet <= total"
                         % (_hex(info), sequence, total))
    if direction == UP and end != (ETX if sequence == total else ETB):
        raise FrameError("M3 packet %d of %d ends in %s, expected %s" % (
            sequence, total, END_NAMES[end], "ETX" if sequence == total else "ETB"))
    return (total, sequence)


def find_frame(buffer):
    """(start, end) of the first complete frame in buffer, stray bytes skipped; None if none.

    Only 7E 7E and the length field are read: parse_frame checks the rest, so a damaged frame is
    reported, not skipped."""
    data = bytes(buffer)
    start = data.find(START)
    while 0 <= start and start + 13 <= len(data):
        if data[start + 11] >> 4 in (UP, DOWN):
            length = (data[start + 11] & 0xF) << 8 | data[start + 12]
            end = start + HEAD_SIZE + length + TAIL_SIZE
            return (start, end) if end <= len(data) else None
        start = data.find(START, start + 1)
    return None


# --- elements ----------------------------------------------------------------------------------


def _identifier_bytes(identifier):
    if isinstance(identifier, int) and 0 <= identifier <= 0xFF and identifier != USER_DEFINED:
        return bytes((identifier,))
    if isinstance(identifier, int) and USER_DEFINED << 8 <= identifier <= 0xFFFF:
        return bytes((USER_DEFINED, identifier & 0xFF))
    raise ValueError("element identifier %r: expected a guide code 0x00-0xFE or a user-defined "
                     "0xFF00-0xFFFF" % (identifier,))


def encode_element(identifier, value, size, decimals):
    """Identifier, length byte and value; value None sends `size` FF bytes (no value).

    size counts the value bytes, the sign byte of a negative value included; status/alarm (45)
    is an unsigned 32-bit word, not BCD."""
    _check_int("element size", size, 1, 31)
    _check_int("element decimals", decimals, 0, 7)
    out = _identifier_bytes(identifier) + bytes((size << 3 | decimals,))
    if value is None:
        return out + b"\xff" * size
    if identifier in BIT_ELEMENTS:
        _check_int("status word", value, 0, (1 << 8 * size) - 1)
        return out + bytes([value >> 8 * (size - 1 - index) & 0xFF for index in range(size)])
    negative = value < 0
    digits = 2 * (size - 1 if negative else size)
    number = round(abs(value) * 10 ** decimals)
    if digits == 0 or number >= 10 ** digits:
        raise ValueError("%r does not fit an element of %d bytes with %d decimals%s" % (
            value, size, decimals, " (one is the sign byte)" if negative else ""))
    text = str(number)
    text = "0" * (digits - len(text)) + text
    value_bytes = bytes([int(text[index:index + 2], 16) for index in range(0, digits, 2)])
    return out + (bytes((NEGATIVE,)) if negative else b"") + value_bytes


def decode_elements(data):
    """[(identifier, value, size, decimals)] of the elements in data; value None = no value."""
    data = bytes(data)
    elements = []
    index = 0
    while index < len(data):
        identifier = data[index]
        index += 1
        if identifier == USER_DEFINED:
            if index >= len(data):
                raise BodyError("elements [%s] end inside a user-defined identifier"
                                % _hex(data))
            identifier = USER_DEFINED << 8 | data[index]
            index += 1
        if index >= len(data):
            raise BodyError("elements [%s]: identifier %X has no length byte"
                            % (_hex(data), identifier))
        size, decimals = data[index] >> 3, data[index] & 7
        index += 1
        value_bytes = data[index:index + size]
        if size == 0 or len(value_bytes) != size:
            raise BodyError("elements [%s]: identifier %X says %d value bytes, %d are left"
                            % (_hex(data), identifier, size, len(value_bytes)))
        index += size
        elements.append((identifier, _element_value(identifier, value_bytes, decimals), size,
                         decimals))
    return elements


def _element_value(identifier, value_bytes, decimals):
    if value_bytes == b"\xff" * len(value_bytes):
        return None
    if identifier in BIT_ELEMENTS:
        value = 0
        for byte in value_bytes:
            value = value << 8 | byte
        return value
    negative = value_bytes[0] == NEGATIVE and len(value_bytes) > 1
    digits = _bcd_digits(value_bytes[1:] if negative else value_bytes,
                         "value of element %X" % identifier)
    number = int(digits)
    value = number / 10 ** decimals if decimals else number
    return -value if negative else value


# --- report and acknowledgement bodies ---------------------------------------------------------


def encode_header(serial, send_time):
    """Serial (2 bytes) and send time (6 BCD): the body of a keep-alive and of an ack."""
    _check_int("serial", serial, 1, MAX_SERIAL)
    if len(send_time) != 6:
        raise ValueError("send time %r: expected (year, month, day, hour, minute, second)"
                         % (send_time,))
    return bytes((serial >> 8, serial & 0xFF)) + encode_time(send_time)


def decode_header(body):
    """(serial, send time) of the first 8 body bytes."""
    if len(body) < 8:
        raise BodyError("body [%s] of %d bytes: expected at least serial (2) and send time (6)"
                        % (_hex(body), len(body)))
    serial = body[0] << 8 | body[1]
    if serial == 0:
        raise BodyError("body [%s] has serial 0: expected 1 to 65535" % _hex(body))
    return serial, decode_time(body[2:8])


def encode_report(serial, send_time, station, station_class, observed, elements):
    """Body of a test/timed/add/hourly report; elements = [(identifier, value, size, decimals)]."""
    if station_class not in STATION_CLASSES:
        raise ValueError("station class %r: expected 0x47 (groundwater), 0x49 (intake) or 0x44 "
                         "(pump station)" % (station_class,))
    if len(observed) != 5:
        raise ValueError("observation time %r: expected (year, month, day, hour, minute)"
                         % (observed,))
    out = bytearray(encode_header(serial, send_time))
    out += STATION_GUIDE + encode_station(station) + bytes((station_class,))
    out += OBSERVED_GUIDE + encode_time(observed)
    for identifier, value, size, decimals in elements:
        out += encode_element(identifier, value, size, decimals)
    return bytes(out)


class Report:
    """A parsed report body: serial, send_time, station, station_class, observed, elements."""

    def __init__(self, serial, send_time, station, station_class, observed, elements):
        self.serial = serial
        self.send_time = send_time
        self.station = station
        self.station_class = station_class
        self.observed = observed
        self.elements = elements

    def value(self, identifier):
        """The value of the first element with this identifier; KeyError if there is none."""
        for element in self.elements:
            if element[0] == identifier:
                return element[1]
        raise KeyError("no element %X in the report" % identifier)


def decode_report(body):
    """The Report of a test/timed/add/hourly report body."""
    serial, send_time = decode_header(body)
    if len(body) < 22 or body[8:10] != STATION_GUIDE or body[16:18] != OBSERVED_GUIDE:
        raise BodyError("report body [%s]: expected serial, send time, F1 F1 + station address, "
                        "station class, F0 F0 + observation time" % _hex(body))
    if body[15] not in STATION_CLASSES:
        raise BodyError("report body [%s] has station class %02X: expected 47, 49 or 44"
                        % (_hex(body), body[15]))
    return Report(serial, send_time, decode_station(body[10:15]), body[15],
                  decode_time(body[18:23]), decode_elements(body[23:]))


# --- whole messages ----------------------------------------------------------------------------


def build_keep_alive(centre, station, password, serial, send_time):
    """Keep-alive (2F) from the station: serial and send time."""
    return build_frame(centre, station, password, KEEP_ALIVE, UP,
                       encode_header(serial, send_time), ETX)


def build_report(centre, station, password, function, report_body):
    """A report frame (30-34) of a body made by encode_report, in one packet."""
    if function not in REPORT_FUNCTIONS:
        raise ValueError("function 0x%02X is not a report: expected 30-34" % (function,))
    return build_frame(centre, station, password, function, UP, report_body, ETX)


def parse_uplink(frame):
    """(Frame, body) of a station's single-packet frame: body (serial, send time) for a keep-alive,
    a Report for 30-34, the raw bytes otherwise; refuses a downlink frame."""
    parsed = parse_frame(frame)
    if parsed.direction != UP:
        raise FrameError("frame to station %s is a downlink, expected an uplink" % parsed.station)
    if parsed.packet is not None:
        return parsed, parsed.body
    if parsed.function == KEEP_ALIVE:
        if len(parsed.body) != 8:
            raise BodyError("keep-alive body [%s] of %d bytes: expected 8 (serial, send time)"
                            % (_hex(parsed.body), len(parsed.body)))
        return parsed, decode_header(parsed.body)
    if parsed.function in REPORT_FUNCTIONS:
        report = decode_report(parsed.body)
        if report.station != parsed.station:
            raise BodyError("report body names station %s, the frame's header %s"
                            % (report.station, parsed.station))
        return parsed, report
    return parsed, parsed.body


def build_ack(centre, station, password, function, serial, send_time, end=EOT, packet=None):
    """The centre's reply to a report: EOT (done), ESC (stay online), NAK or ACK (M3 packets)."""
    return build_frame(centre, station, password, function, DOWN,
                       encode_header(serial, send_time), end, packet)


def parse_ack(frame, station, function, serial):
    """(end, send time, packet) of the centre's reply to our frame `function` numbered `serial`."""
    parsed = parse_frame(frame)
    if parsed.direction != DOWN:
        raise FrameError("reply from station %s is an uplink, expected the centre's downlink"
                         % parsed.station)
    if parsed.station != station:
        raise FrameError("reply is to station %s, expected %s" % (parsed.station, station))
    if parsed.function != function:
        raise BodyError("reply has function %02X, expected %02X" % (parsed.function, function))
    if len(parsed.body) != 8:
        raise BodyError("reply body [%s] of %d bytes: expected 8 (serial, send time)"
                        % (_hex(parsed.body), len(parsed.body)))
    got_serial, send_time = decode_header(parsed.body)
    if got_serial != serial:
        raise BodyError("reply acknowledges serial %d, expected %d" % (got_serial, serial))
    if parsed.end == ENQ:
        raise FrameError("reply ends in ENQ (a query), expected EOT, ESC, ACK or NAK")
    return parsed.end, send_time, parsed.packet


def build_packets(centre, station, password, function, body, size):
    """M3: body split into packets of at most `size` bytes, SYN-framed, ETB then a last ETX."""
    _check_int("packet size", size, 1, MAX_LENGTH - PACKET_INFO_SIZE)
    body = bytes(body)
    total = max(1, (len(body) + size - 1) // size)
    _check_int("packet total", total, 1, MAX_PACKETS)
    return [build_frame(centre, station, password, function, UP,
                        body[(sequence - 1) * size:sequence * size],
                        ETX if sequence == total else ETB, (total, sequence))
            for sequence in range(1, total + 1)]


def join_packets(frames):
    """The body of M3 frames given in any order; refuses gaps, duplicates and mixed messages."""
    parsed = [parse_frame(frame) for frame in frames]
    if not parsed:
        raise FrameError("no packets to join")
    first = parsed[0]
    by_sequence = {}
    for packet in parsed:
        if packet.packet is None or packet.direction != UP:
            raise FrameError("%r is not an M3 uplink packet" % (packet,))
        if (packet.station, packet.function, packet.packet[0]) != (
                first.station, first.function, first.packet[0]):
            raise FrameError("packets of different messages: %r and %r" % (first, packet))
        if packet.packet[1] in by_sequence:
            raise FrameError("packet %d of %d arrived twice" % packet.packet)
        by_sequence[packet.packet[1]] = packet.body
    total = first.packet[0]
    missing = [sequence for sequence in range(1, total + 1) if sequence not in by_sequence]
    if missing:
        raise FrameError("packets %s of %d are missing" % (missing, total))
    return b"".join(by_sequence[sequence] for sequence in range(1, total + 1))
