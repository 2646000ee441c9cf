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
"""

START = 0x68
END = 0x16
EDITION_2021 = "SL/T 427-2021"
EDITION_2016 = "SZY206-2016"
EDITIONS = (EDITION_2021, EDITION_2016)
TIME_TAG_LENGTH = {EDITION_2021: 7, EDITION_2016: 5}
CRC_POLYNOMIAL = 0xE5

DIRECTION_UP = 0x80
DIV_FLAG = 0x40
FCB_SHIFT = 4
TYPE_MASK = 0x0F
MAX_FCB = 3  # at most 3 resends

AFN_LINK = 0x02
AFN_ALARM = 0x81
AFN_QUERY_REALTIME = 0xB0
AFN_SELF_REPORT = 0xC0
LINK_LOGIN = 0xF0
LINK_LOGOUT = 0xF1
LINK_KEEPALIVE = 0xF2
LINK_KINDS = (LINK_LOGIN, LINK_LOGOUT, LINK_KEEPALIVE)

MAX_STATION = 60000
MAX_USER_DATA = 255  # L is one byte
SMALLEST_FRAME = 5 + 1 + 5 + 1  # 68 L 68 .. CS 16 around C, A, AFN
NOT_MEASURED = 0xAA
WORD_ORDERS = ("little", "big")  # of the alarm and status words; little = the standard's rule

# D3-D0 of C in uplink frames, by edition. SL/T 427-2021 puts meteorological data at 7 and
# electrical energy at 8; SZY206-2016 has air pressure (气压) at 7 and wind speed (风速) at 8.
TYPE_CODES = {
    EDITION_2021: ("ack", "rainfall", "water_level", "flow", "velocity", "gate", "power",
                   "meteorological", "energy", "water_temperature", "water_quality",
                   "soil_moisture", "evaporation", "alarm_status", "statistics",
                   "water_pressure"),
    EDITION_2016: ("ack", "rainfall", "water_level", "flow", "velocity", "gate", "power",
                   "air_pressure", "wind_speed", "water_temperature", "water_quality",
                   "soil_moisture", "evaporation", "alarm_status", "statistics",
                   "water_pressure"),
}

# Value layouts of the self-report types decoded here: per channel, (bytes, decimals, sign) with
# sign None (unsigned), "bit" (top bit of the last byte) or "nibble" (top nibble 0 or F).
VALUE_LAYOUTS = {
    "flow": ((5, 3, "bit"), (5, 0, "bit")),  # instantaneous flow, cumulative volume
    "water_level": ((4, 3, "nibble"),),
    "energy": ((4, 2, None),),
}

ALARM_BITS = ((0, "ac_power_loss"), (2, "water_level_over_limit"), (3, "flow_over_limit"),
              (5, "flow_meter_fault"), (6, "pump_state"), (12, "remaining_water_low"),
              (13, "cabinet_door_open"))
STATUS_BITS = ((2, "ic_card"), (3, "fixed_value_control"), (4, "pump_stopped"),
               (5, "cabinet_door"), (6, "on_battery"))


class Sl427Error(Exception):
    """Any refusal of an SL/T 427 / SZY206 frame."""


class FrameError(Sl427Error):
    """A frame that is malformed: markers, length, BCD digits, fields out of range."""


class ChecksumError(Sl427Error):
    """The frame's CS does not match the CRC-8 of its user data."""


class WrongDirection(FrameError):
    """An uplink frame where a downlink one was expected, or the other way round."""


class WrongAddress(Sl427Error):
    """The frame is for or from another station than the one expected."""


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


def _hex(data):
    return " ".join("%02X" % byte for byte in data)


def _check_edition(edition):
    if edition not in EDITIONS:
        raise ValueError("edition %r: expected one of %s" % (edition, ", ".join(EDITIONS)))


def _check_range(name, value, low, high):
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError("%s %r: expected an integer %d..%d" % (name, value, low, high))


def crc8(data):
    """CRC-8 of the user data: polynomial 0xE5, init 0, MSB first, not reflected."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ CRC_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


# --- fields ------------------------------------------------------------------------------------


def encode_control(up, type_code, fcb=MAX_FCB, divided=False):
    """The control byte C from direction, type code (0-15), FCB (0-3) and the DIV flag."""
    _check_range("type code", type_code, 0, TYPE_MASK)
    _check_range("FCB", fcb, 0, MAX_FCB)
    return ((DIRECTION_UP if up else 0) | (DIV_FLAG if divided else 0) | fcb << FCB_SHIFT
            | type_code)


def decode_control(control):
    """(up, divided, fcb, type_code) of a control byte."""
    return (bool(control & DIRECTION_UP), bool(control & DIV_FLAG),
            (control >> FCB_SHIFT) & MAX_FCB, control & TYPE_MASK)


def type_name(edition, type_code):
    """The name of a type code (0-15) in an edition's table, e.g. 3 -> "flow"."""
    _check_edition(edition)
    return TYPE_CODES[edition][type_code & TYPE_MASK]


def type_code_of(edition, name):
    """The type code of a name in an edition's table; ValueError if that edition lacks it."""
    _check_edition(edition)
    table = TYPE_CODES[edition]
    if name not in table:
        raise ValueError("type %r is not in %s's table: expected one of %s"
                         % (name, edition, ", ".join(table)))
    return table.index(name)


def _bcd_byte(value):
    return (value // 10) << 4 | value % 10


def _bcd_value(byte, what):
    if byte >> 4 > 9 or byte & 0xF > 9:
        raise FrameError("%s byte %02X is not BCD" % (what, byte))
    return (byte >> 4) * 10 + (byte & 0xF)


def encode_address(county, station):
    """A (5 bytes): the 6-digit county code as written, then the station number low byte first."""
    if not isinstance(county, str) or len(county) != 6 or not county.isdigit():
        raise ValueError("county code %r: expected 6 digits (GB/T 2260), e.g. '530381'"
                         % (county,))
    _check_range("station number", station, 1, MAX_STATION)
    digits = [int(char) for char in county]
    return bytes([digits[i] << 4 | digits[i + 1] for i in (0, 2, 4)]
                 + [station & 0xFF, station >> 8])


def decode_address(data):
    """(county code, station number) of the 5 address bytes; FrameError if out of range."""
    if len(data) != 5:
        raise FrameError("address of %d bytes [%s]: expected 5" % (len(data), _hex(data)))
    county = "".join("%02d" % _bcd_value(byte, "county code") for byte in data[:3])
    station = data[3] | data[4] << 8
    if not 1 <= station <= MAX_STATION:
        raise FrameError("station number %d in [%s]: expected 1..%d"
                         % (station, _hex(data), MAX_STATION))
    return county, station


TIME_LIMITS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
               ("month", 1, 12), ("year", 0, 99))


def encode_time_tag(edition, time_tag):
    """Tp from (year, month, day, hour, minute, second, delay); SZY206-2016 omits year, month."""
    _check_edition(edition)
    if not isinstance(time_tag, tuple) or len(time_tag) != 7:
        raise ValueError("time tag %r: expected (year, month, day, hour, minute, second, delay "
                         "minutes)" % (time_tag,))
    year, month, day, hour, minute, second, delay = time_tag
    fields = [second, minute, hour, day]
    if edition == EDITION_2021:
        _check_range("year", year, 2000, 2099)
        fields += [month, year - 2000]
    elif year is not None or month is not None:
        raise ValueError("time tag %r: %s carries no year or month, expected None for both"
                         % (time_tag, edition))
    out = bytearray()
    for index, value in enumerate(fields):  # no zip(strict=) on MicroPython
        name, low, high = TIME_LIMITS[index]
        _check_range(name, value, low, high)
        out.append(_bcd_byte(value))
    _check_range("allowed delay (minutes)", delay, 0, 255)
    out.append(delay)
    return bytes(out)


def decode_time_tag(edition, data):
    """(year, month, day, hour, minute, second, delay) of Tp; year and month None in SZY206-2016."""
    _check_edition(edition)
    if len(data) != TIME_TAG_LENGTH[edition]:
        raise FrameError("time tag [%s] of %d bytes: %s expects %d"
                         % (_hex(data), len(data), edition, TIME_TAG_LENGTH[edition]))
    values = []
    for index in range(len(data) - 1):
        name, low, high = TIME_LIMITS[index]
        value = _bcd_value(data[index], "time tag " + name)
        if not low <= value <= high:
            raise FrameError("time tag [%s]: %s %d, expected %d..%d"
                             % (_hex(data), name, value, low, high))
        values.append(value)
    year = month = None
    if edition == EDITION_2021:
        month, year = values[4], 2000 + values[5]
    return (year, month, values[3], values[2], values[1], values[0], data[-1])


def encode_password(key1, key2):
    """PW (2 bytes): key 1 (0-9) in the high nibble, key 2 (0-999) as 3 BCD digits below."""
    _check_range("password key 1", key1, 0, 9)
    _check_range("password key 2", key2, 0, 999)
    word = key1 << 12 | (key2 // 100) << 8 | _bcd_byte(key2 % 100)
    return bytes((word & 0xFF, word >> 8))


def decode_password(data):
    """(key1, key2) of the 2 PW bytes."""
    if len(data) != 2:
        raise FrameError("password of %d bytes [%s]: expected 2" % (len(data), _hex(data)))
    if data[1] >> 4 > 9 or data[1] & 0xF > 9:
        raise FrameError("password [%s]: high byte %02X is not BCD" % (_hex(data), data[1]))
    return data[1] >> 4, (data[1] & 0xF) * 100 + _bcd_value(data[0], "password key 2")


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


def encode_value(value, length, decimals, sign):
    """`length` BCD bytes, low byte first, of value x 10^decimals; None -> AA (not measured)."""
    if value is None:
        return bytes([NOT_MEASURED] * length)
    if value < 0 and sign is None:
        raise ValueError("%r is negative: this value is unsigned" % (value,))
    number = round(abs(value) * 10 ** decimals)
    digits = 2 * length - (1 if sign == "nibble" else 0)
    limit = (8 * 10 ** (digits - 1)) if sign == "bit" else 10 ** digits
    if number >= limit:
        raise ValueError("%r does not fit %d BCD bytes with %d decimals: at most %s"
                         % (value, length, decimals, (limit - 1) / 10 ** decimals))
    out = bytearray(length)
    for index in range(length):
        number, pair = divmod(number, 100)
        out[index] = _bcd_byte(pair)
    if value < 0:
        out[-1] |= 0x80 if sign == "bit" else 0xF0
    return bytes(out)


def decode_value(data, decimals, sign):
    """The value of BCD bytes sent low byte first (sign None, "bit" or "nibble"); AA.. -> None."""
    if data == bytes([NOT_MEASURED] * len(data)):
        return None
    last = len(data) - 1
    negative = False
    number = 0
    for index in range(last, -1, -1):
        byte = data[index]
        if index == last and sign == "bit":
            negative, byte = bool(byte & 0x80), byte & 0x7F
        elif index == last and sign == "nibble":
            if byte >> 4 not in (0, 0xF):
                raise FrameError("value [%s]: sign nibble %X, expected 0 or F"
                                 % (_hex(data), byte >> 4))
            negative, byte = byte >> 4 == 0xF, byte & 0xF
        number = number * 100 + _bcd_value(byte, "value [%s]" % _hex(data))
    result = number / 10 ** decimals
    return -result if negative else result


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


def build_self_report(edition, county, station, kind, values, alarm, status, time_tag,
                      order="little", fcb=MAX_FCB, divs=None):
    """AFN C0 frame: values of type `kind` (e.g. flow: [flow, volume, ...]), alarm, status, Tp.

    For a kind without a value layout here, values are its raw bytes. None = not measured."""
    _check_order(order)
    data = (_values_bytes(kind, values) + _word_bytes("alarm word", alarm, order)
            + _word_bytes("status word", status, order))
    return build_frame(edition, Frame(True, fcb, type_code_of(edition, kind), divs, county,
                                      station, AFN_SELF_REPORT, data, None, time_tag))


def parse_self_report(frame, edition, order="little", county=None, station=None):
    """(Frame, kind, values, alarm, status) of a C0 self-report; values raw bytes if no layout."""
    _check_order(order)
    parsed = parse_frame(frame, edition, True)
    _check_afn(parsed, AFN_SELF_REPORT)
    _check_station(parsed, county, station)
    kind = type_name(edition, parsed.type_code)
    data = parsed.data
    if len(data) < 5:
        raise FrameError("self-report carries %d data bytes, expected values then 2 alarm and "
                         "2 status bytes" % len(data))
    words = data[-4:] if order == "little" else bytes((data[-3], data[-4], data[-1], data[-2]))
    alarm, status = words[0] | words[1] << 8, words[2] | words[3] << 8
    raw = data[:-4]
    if kind not in VALUE_LAYOUTS:
        return parsed, kind, raw, alarm, status
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
    return parsed, kind, values, alarm, status


def word_flags(word, bits):
    """Names of the set bits of an alarm or status word (bits: ALARM_BITS or STATUS_BITS)."""
    return [name for bit, name in bits if word >> bit & 1]
