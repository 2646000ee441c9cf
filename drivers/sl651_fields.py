"""SL 651-2014 HEX-mode fields: errors, BCD station address and times, elements, report bodies.

Report body: serial (2, 1-65535) | send time (6 BCD YYMMDDhhmmss) | F1 F1 + station address (5 BCD)
| station class (1) | F0 F0 + observation time (5 BCD YYMMDDhhmm) | elements. A keep-alive (2F) and
the centre's acknowledgement carry only serial and send time.
Element: guide code (1, or FF + 1 for a user-defined identifier) | (byte count << 3 | decimals) |
value, BCD high digit first; a negative value starts with an FF byte (counted), all FF = no value.
drivers/sl651.py frames them and re-exports all of this.
"""

GROUNDWATER = 0x47  # station classes (测站分类码), as ASCII letters: G
INTAKE = 0x49  # I (取水口)
PUMP_STATION = 0x44  # D (泵站)
STATION_CLASSES = (GROUNDWATER, INTAKE, PUMP_STATION)
STATION_GUIDE = b"\xf1\xf1"  # F1 F1 + station address (5)
OBSERVED_GUIDE = b"\xf0\xf0"  # F0 F0 + observation time (5)
USER_DEFINED = 0xFF  # first byte of a 2-byte user-defined identifier (FFxx)
NEGATIVE = 0xFF  # leading byte of a negative value
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
    if len(body) < 23 or body[8:10] != STATION_GUIDE or body[16:18] != OBSERVED_GUIDE:
        raise BodyError("report body [%s]: expected serial, send time, F1 F1 + station address, "
                        "station class, F0 F0 + observation time" % _hex(body))
    if body[15] not in STATION_CLASSES:
        raise BodyError("report body [%s] has station class %02X: expected 47, 49 or 44"
                        % (_hex(body), body[15]))
    return Report(serial, send_time, decode_station(body[10:15]), body[15],
                  decode_time(body[18:23]), decode_elements(body[23:]))
