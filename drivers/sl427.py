"""SL/T 427-2021 / SZY206-2016 water-resources monitoring codec, sans-IO: 68 L 68 C A AFN .. CS 16.

Frame (every multi-byte value low byte first unless said otherwise):

    68 | L | 68 | C | [DIVS] | A (5) | AFN | data | [PW 2] | [Tp 7 or 5] | CS | 16

- L counts the user data, C through Tp; the whole frame is L + 5 bytes.
- C: D7 direction (1 = up, from the station), D6 DIV (divided frame: a DIVS byte follows C,
  counting down 255..1, 1 = last), D5-D4 FCB (frame count for resends: 3 first, one less a
  resend), D3-D0 the type code (TYPE_CODES, which differ between the editions).
- A, address mode 1: A1 = county code (GB/T 2260), 3 bytes BCD in the order the code is written
  (the real SZY206 frame's 53 03 81 is county 530381); A2 = station number, 2 bytes binary,
  low byte first, 1..60000.
- PW (downlink frames that change something): key 1 (0-9) in the high nibble, key 2 (0-999) as
  three BCD digits in the low 12 bits; the 16-bit word sent low byte first.
- Tp: second, minute, hour, day, month, year (BCD; SZY206-2016 stops after day), then the
  allowed delay in minutes, binary (0 = no check).
- CS: CRC-8, polynomial 0xE5 (x^7+x^6+x^5+x^2+1), init 0, MSB first, not reflected, over L's
  bytes. Check value of b"123456789": 0xF7.
- AFN 02 link check (data F0 login, F1 logout, F2 keep-alive); C0 self-report of real-time
  data: the values of the type code, then the alarm word and the status word (2 bytes each).
  Flow 5 bytes BCD, 3 decimals; cumulative volume 5 bytes BCD, whole m3 (both with the sign in
  the top bit); water level 4 bytes BCD, 3 decimals, sign in the top nibble (0 or F); energy
  4 bytes BCD, 2 decimals. A value not measured is all AA.

The edition (and the alarm/status byte order) is a parameter of every call: a frame does not
say which edition it is, and a 7-byte-Tp frame can parse as a valid SZY206-2016 frame with
other values. Ambiguous points are noted in tests/drivers/vectors_sl427.py.
"""

from drivers.sl427_fields import (  # noqa: F401  (all re-exported: part of this module's API)
    ALARM_BITS,
    CRC_POLYNOMIAL,
    DIRECTION_UP,
    DIV_FLAG,
    EDITION_2016,
    EDITION_2021,
    EDITIONS,
    FCB_SHIFT,
    MAX_FCB,
    MAX_STATION,
    NOT_MEASURED,
    STATUS_BITS,
    TIME_LIMITS,
    TIME_TAG_LENGTH,
    TYPE_CODES,
    TYPE_MASK,
    ChecksumError,
    FrameError,
    Sl427Error,
    WrongAddress,
    WrongDirection,
    _check_edition,
    _check_range,
    _hex,
    crc8,
    decode_address,
    decode_control,
    decode_password,
    decode_time_tag,
    decode_value,
    encode_address,
    encode_control,
    encode_password,
    encode_time_tag,
    encode_value,
    type_code_of,
    type_name,
    word_flags,
)

START = 0x68
END = 0x16
AFN_LINK = 0x02
AFN_ALARM = 0x81
AFN_QUERY_REALTIME = 0xB0
AFN_SELF_REPORT = 0xC0
LINK_LOGIN = 0xF0
LINK_LOGOUT = 0xF1
LINK_KEEPALIVE = 0xF2
LINK_KINDS = (LINK_LOGIN, LINK_LOGOUT, LINK_KEEPALIVE)

MAX_USER_DATA = 255  # L is one byte
SMALLEST_FRAME = 5 + 1 + 5 + 1  # 68 L 68 .. CS 16 around C, A, AFN
WORD_ORDERS = ("little", "big")  # of the alarm and status words; little = the standard's rule

# Value layouts of the self-report types decoded here: per channel, (bytes, decimals, sign) with
# sign None (unsigned), "bit" (top bit of the last byte) or "nibble" (top nibble 0 or F).
VALUE_LAYOUTS = {
    "flow": ((5, 3, "bit"), (5, 0, "bit")),  # instantaneous flow, cumulative volume
    "water_level": ((4, 3, "nibble"),),
    "energy": ((4, 2, None),),
}


class Frame:
    """One parsed frame: control fields, address, AFN, data and the auxiliary PW and Tp."""

    FIELDS = ("up", "fcb", "type_code", "divs", "county", "station", "afn", "data",
              "password", "time_tag")

    def __init__(self, up, fcb, type_code, divs, county, station, afn, data, password=None,
                 time_tag=None):
        self.up = up
        self.fcb = fcb
        self.type_code = type_code
        self.divs = divs
        self.county = county
        self.station = station
        self.afn = afn
        self.data = data
        self.password = password
        self.time_tag = time_tag

    def fields(self):
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __eq__(self, other):
        return isinstance(other, Frame) and self.fields() == other.fields()

    def __repr__(self):
        return "Frame(%s)" % ", ".join("%s=%r" % (name, getattr(self, name))
                                       for name in self.FIELDS)


# --- frames ------------------------------------------------------------------------------------


def build_frame(edition, frame):
    """The bytes of a Frame (time_tag in edition's layout, password a (key1, key2) or None)."""
    _check_edition(edition)
    if frame.divs is not None:
        _check_range("DIVS", frame.divs, 1, 255)
    _check_range("AFN", frame.afn, 0, 255)
    user = bytearray((encode_control(frame.up, frame.type_code, frame.fcb,
                                     frame.divs is not None),))
    if frame.divs is not None:
        user.append(frame.divs)
    user += encode_address(frame.county, frame.station)
    user.append(frame.afn)
    user += frame.data
    if frame.password is not None:
        user += encode_password(frame.password[0], frame.password[1])
    if frame.time_tag is not None:
        user += encode_time_tag(edition, frame.time_tag)
    if len(user) > MAX_USER_DATA:
        raise ValueError("%d bytes of user data: L holds at most %d" % (len(user), MAX_USER_DATA))
    return bytes((START, len(user), START)) + bytes(user) + bytes((crc8(user), END))


def parse_frame(frame, edition, up, password=False, time_tag=True):
    """A Frame from bytes, strictly: markers, L, CS, direction, address and BCD all checked.

    up: the direction expected; password/time_tag: whether PW and Tp follow the data."""
    _check_edition(edition)
    frame = bytes(frame)
    if len(frame) < SMALLEST_FRAME:
        raise FrameError("frame [%s] of %d bytes is shorter than the smallest (%d)"
                         % (_hex(frame), len(frame), SMALLEST_FRAME))
    if frame[0] != START or frame[2] != START:
        raise FrameError("frame [%s] lacks the 68 markers at its bytes 0 and 2" % _hex(frame))
    if len(frame) != frame[1] + 5:
        raise FrameError("frame [%s] has %d bytes, its L=%d means %d"
                         % (_hex(frame), len(frame), frame[1], frame[1] + 5))
    if frame[-1] != END:
        raise FrameError("frame [%s] ends in %02X, expected 16" % (_hex(frame), frame[-1]))
    user = frame[3:-2]
    if frame[-2] != crc8(user):
        raise ChecksumError("frame [%s] has CS %02X, the CRC-8 of its user data is %02X"
                            % (_hex(frame), frame[-2], crc8(user)))
    is_up, divided, fcb, type_code = decode_control(user[0])
    if is_up != bool(up):
        raise WrongDirection("frame [%s]: control %02X is %s, expected %s" % (
            _hex(frame), user[0], "up" if is_up else "down", "up" if up else "down"))
    offset = 1
    divs = None
    if divided:
        divs = user[1]
        if divs == 0:
            raise FrameError("frame [%s]: DIVS 0, expected 1..255" % _hex(frame))
        offset = 2
    aux = (2 if password else 0) + (TIME_TAG_LENGTH[edition] if time_tag else 0)
    if len(user) < offset + 6 + aux:
        raise FrameError("frame [%s]: %d bytes of user data, expected at least %d (C, %sA, "
                         "AFN%s)" % (_hex(frame), len(user), offset + 6 + aux,
                                     "DIVS, " if divided else "",
                                     ", PW" * bool(password) + ", Tp" * bool(time_tag)))
    county, station = decode_address(user[offset:offset + 5])
    afn = user[offset + 5]
    end = len(user) - aux
    data = user[offset + 6:end]
    pw = decode_password(user[end:end + 2]) if password else None
    tag = decode_time_tag(edition, user[len(user) - TIME_TAG_LENGTH[edition]:]) \
        if time_tag else None
    return Frame(is_up, fcb, type_code, divs, county, station, afn, data, pw, tag)


def _check_station(frame, county, station):
    if county is not None and (frame.county, frame.station) != (county, station):
        raise WrongAddress("frame of station %s/%d, expected %s/%d"
                           % (frame.county, frame.station, county, station))


def _check_afn(frame, afn):
    if frame.afn != afn:
        raise FrameError("frame carries AFN %02X, expected %02X" % (frame.afn, afn))


def _parse_one_byte_frame(frame, edition, up, afn):
    """Parse a frame whose data is one byte, then an optional Tp (told apart by the length)."""
    parsed = parse_frame(frame, edition, up, time_tag=False)
    if len(parsed.data) == 1 + TIME_TAG_LENGTH[edition]:
        parsed = parse_frame(frame, edition, up, time_tag=True)
    elif len(parsed.data) != 1:
        raise FrameError("AFN %02X frame carries %d bytes after AFN, expected 1 or %d (with Tp)"
                         % (parsed.afn, len(parsed.data), 1 + TIME_TAG_LENGTH[edition]))
    _check_afn(parsed, afn)
    return parsed


# --- link check (AFN 02) -----------------------------------------------------------------------


def build_link_check(edition, county, station, kind, time_tag=None, fcb=MAX_FCB):
    """Station's login (F0), logout (F1) or keep-alive (F2), type code 0, Tp optional."""
    if kind not in LINK_KINDS:
        raise ValueError("link check %r: expected F0 login, F1 logout or F2 keep-alive" % (kind,))
    return build_frame(edition, Frame(True, fcb, 0, None, county, station, AFN_LINK,
                                      bytes((kind,)), None, time_tag))


def parse_link_check(frame, edition):
    """(Frame, kind) of a station's link check; kind one of LINK_KINDS."""
    parsed = _parse_one_byte_frame(frame, edition, True, AFN_LINK)
    if parsed.data[0] not in LINK_KINDS:
        raise FrameError("link check data %02X: expected F0, F1 or F2" % parsed.data[0])
    return parsed, parsed.data[0]


# --- centre's acknowledgement ------------------------------------------------------------------


def build_ack(edition, county, station, afn, mode=0, time_tag=None, fcb=MAX_FCB):
    """Centre's acknowledgement (downlink, type code 0) of a frame with `afn`: 1 byte, [Tp]."""
    _check_range("ack mode", mode, 0, 255)
    return build_frame(edition, Frame(False, fcb, 0, None, county, station, afn, bytes((mode,)),
                                      None, time_tag))


def parse_ack(frame, edition, afn, county=None, station=None):
    """(mode, centre's clock Tp or None) of the centre's ack of a frame with `afn`."""
    parsed = _parse_one_byte_frame(frame, edition, False, afn)
    _check_station(parsed, county, station)
    if parsed.type_code != 0:
        raise FrameError("ack with type code %d, expected 0" % parsed.type_code)
    return parsed.data[0], parsed.time_tag


# --- self-report (AFN C0) ----------------------------------------------------------------------


def _check_order(order):
    if order not in WORD_ORDERS:
        raise ValueError("alarm/status byte order %r: expected 'little' (the standard's low "
                         "byte first) or 'big'" % (order,))


def _word_bytes(name, word, order):
    _check_range(name, word, 0, 0xFFFF)
    low, high = word & 0xFF, word >> 8
    return bytes((low, high) if order == "little" else (high, low))


def _values_bytes(kind, values):
    if kind not in VALUE_LAYOUTS:
        if not isinstance(values, (bytes, bytearray)):
            raise ValueError("type %r has no value layout here: expected its raw value bytes, "
                             "got %r" % (kind, values))
        return bytes(values)
    layout = VALUE_LAYOUTS[kind]
    if not values or len(values) % len(layout):
        raise ValueError("%d %s values: expected whole channels of %d" % (
            len(values), kind, len(layout)))
    out = bytearray()
    for index, value in enumerate(values):
        length, decimals, sign = layout[index % len(layout)]
        out += encode_value(value, length, decimals, sign)
    return bytes(out)


def encode_report_data(kind, values, alarm, status, order="little"):
    """The data of a C0 self-report (or a B0 reply): values of `kind`, alarm and status words."""
    _check_order(order)
    return (_values_bytes(kind, values) + _word_bytes("alarm word", alarm, order)
            + _word_bytes("status word", status, order))


def build_self_report(edition, county, station, kind, values, alarm, status, time_tag,
                      order="little", fcb=MAX_FCB, divs=None):
    """AFN C0 frame: values of type `kind` (e.g. flow: [flow, volume, ...]), alarm, status, Tp.

    For a kind without a value layout here, values are its raw bytes. None = not measured."""
    data = encode_report_data(kind, values, alarm, status, order)
    return build_frame(edition, Frame(True, fcb, type_code_of(edition, kind), divs, county,
                                      station, AFN_SELF_REPORT, data, None, time_tag))


def parse_self_report(frame, edition, order="little", county=None, station=None):
    """(Frame, kind, values, alarm, status) of a C0 self-report; values raw bytes if no layout."""
    _check_order(order)
    parsed = parse_frame(frame, edition, True)
    _check_afn(parsed, AFN_SELF_REPORT)
    _check_station(parsed, county, station)
    kind = type_name(edition, parsed.type_code)
    values, alarm, status = decode_report_data(kind, parsed.data, order)
    return parsed, kind, values, alarm, status


def decode_report_data(kind, data, order="little"):
    """(values, alarm, status) of the data of a C0 self-report (or a B0 reply) of type `kind`:
    the values (raw bytes for a kind without a layout here), then the alarm and status words."""
    _check_order(order)
    if len(data) < 5:
        raise FrameError("self-report carries %d data bytes, expected values then 2 alarm and "
                         "2 status bytes" % len(data))
    words = data[-4:] if order == "little" else bytes((data[-3], data[-4], data[-1], data[-2]))
    alarm, status = words[0] | words[1] << 8, words[2] | words[3] << 8
    raw = data[:-4]
    if kind not in VALUE_LAYOUTS:
        return raw, alarm, status
    layout = VALUE_LAYOUTS[kind]
    channel = sum(item[0] for item in layout)
    if len(raw) % channel:
        raise FrameError("%s self-report with %d value bytes [%s]: expected channels of %d"
                         % (kind, len(raw), _hex(raw), channel))
    values = []
    offset = 0
    while offset < len(raw):
        for length, decimals, sign in layout:
            values.append(decode_value(raw[offset:offset + length], decimals, sign))
            offset += length
    return values, alarm, status


# --- framing of a byte stream ------------------------------------------------------------------


def find_frame(buffer):
    """(start, end) of the first candidate frame in buffer (68 L 68 .. L + 5 bytes), None if none
    is complete yet; bytes before start are not a frame.

    Only the markers and L are read: parse_frame checks the rest, so a damaged frame is
    reported, not skipped."""
    data = bytes(buffer)
    start = data.find(bytes((START,)))
    while 0 <= start and start + 3 <= len(data):
        if data[start + 2] == START and data[start + 1] >= 7:  # C, A and AFN at least
            end = start + data[start + 1] + 5
            return (start, end) if end <= len(data) else None
        start = data.find(bytes((START,)), start + 1)
    return None
