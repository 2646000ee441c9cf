"""SL/T 427-2021 / SZY206-2016 fields: errors, CRC-8, control byte, address, Tp, PW, BCD values.

The frame layout and the encodings are described in drivers/sl427.py, which re-exports all of this.
"""

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
MAX_STATION = 60000
NOT_MEASURED = 0xAA

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



def word_flags(word, bits):
    """Names of the set bits of an alarm or status word (bits: ALARM_BITS or STATUS_BITS)."""
    return [name for bit, name in bits if word >> bit & 1]
