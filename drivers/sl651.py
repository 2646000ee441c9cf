"""SL 651-2014 (hydrological telemetry) HEX-mode sans-IO codec, station side and centre side.

Frame (SL 651-2014 clause 6, HEX/BCD mode), every multi-byte field high byte first:
  7E 7E | uplink: centre address (1), station address (5 BCD); downlink: station, then centre |
  password (2) | function (1) | direction (high nibble: 0 up, 8 down) + body length (low 12 bits) |
  STX 02, or SYN 16 + packet total (12 bits) and sequence (12 bits) in 3 bytes (M3) | body |
  end: ETX 03 / ETB 17 up; EOT 04 / ESC 1B / ACK 06 / NAK 15 / ENQ 05 down | CRC (2).
The length counts the body and, after SYN, the 3 packet bytes. The CRC is CRC-16/MODBUS over
every byte before it, sent high byte first (Modbus RTU sends it low byte first). The bodies and
their fields are drivers/sl651_fields.py, re-exported here.
"""

from drivers.modbus_rtu import crc16
from drivers.sl651_fields import (  # noqa: F401  (all re-exported: part of this module's API)
    BIT_ELEMENTS,
    ELEMENTS,
    GROUNDWATER,
    INTAKE,
    MAX_SERIAL,
    NEGATIVE,
    OBSERVED_GUIDE,
    PUMP_STATION,
    STATION_CLASSES,
    STATION_GUIDE,
    USER_DEFINED,
    BcdError,
    BodyError,
    CrcError,
    FrameError,
    Report,
    Sl651Error,
    _check_int,
    _hex,
    decode_elements,
    decode_header,
    decode_report,
    decode_station,
    decode_time,
    encode_element,
    encode_header,
    encode_report,
    encode_station,
    encode_time,
)

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
HEAD_SIZE = 14  # 7E 7E, 2 addresses, password, function, direction+length, STX/SYN
TAIL_SIZE = 3  # end byte, CRC
PACKET_INFO_SIZE = 3
MAX_LENGTH = 0xFFF  # 12 bits
MAX_PACKETS = 0xFFF


def crc_bytes(data):
    """The 2 CRC bytes of data: CRC-16/MODBUS, high byte first."""
    crc = crc16(data)
    return bytes((crc >> 8, crc & 0xFF))


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
