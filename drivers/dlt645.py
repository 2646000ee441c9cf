"""DL/T 645-2007 sans-IO codec; frame: [FE×4] 68 A0..A5 68 C L DATA(+33h) CS(sum mod 256) 16."""

BROADCAST_ADDRESS = "AAAAAAAAAAAA"  # answered by any meter: only with one meter on the bus
CONTROL_READ = 0x11
CONTROL_READ_ADDRESS = 0x13
PREAMBLE = b"\xfe\xfe\xfe\xfe"  # wakes the receiver; not part of the checksum
START = 0x68
END = 0x16
DATA_OFFSET = 0x33  # added to every data byte on the wire
REPLY_FLAG = 0x80  # control bit 7: sent by the meter
ABNORMAL_FLAG = 0x40  # control bit 6: abnormal reply, data = one error-status byte
FOLLOW_FLAG = 0x20  # control bit 5: more frames follow
FUNCTION_MASK = 0x1F
MAX_DATA_LENGTH = 200  # L of a read frame is at most 200
SMALLEST_FRAME = 12  # 68, 6 address bytes, 68, C, L, CS, 16

# The abnormal reply's error-status byte (DL/T 645-2007 table "错误信息字 SERR"), bit by bit.
ERROR_BITS = (
    (0x01, "other error (其他错误)"),
    (0x02, "no requested data (无请求数据)"),
    (0x04, "wrong password or not authorised (密码错/未授权)"),
    (0x08, "baud rate cannot be changed (通信速率不能更改)"),
    (0x10, "too many year time zones (年时区数超)"),
    (0x20, "too many daily time slots (日时段数超)"),
    (0x40, "too many tariffs (费率数超)"),
    (0x80, "reserved bit 7"),
)


class Dlt645Error(Exception):
    """Any DL/T 645 failure."""


class ChecksumError(Dlt645Error):
    """The frame's checksum does not match its bytes."""


class FrameError(Dlt645Error):
    """A frame that is malformed or is not the reply asked for."""


class WrongAddress(Dlt645Error):
    """The reply comes from another meter than the one asked."""


class WrongDataIdentifier(FrameError):
    """The reply carries another data identifier than the request (a late reply, most likely)."""


class AbnormalReply(Dlt645Error):
    """The meter answered with an abnormal reply (control bit 6): `.error_code`, `.meaning`."""

    def __init__(self, error_code, control=0xD1):
        self.error_code = error_code
        self.control = control
        self.meaning = error_meaning(error_code)
        super().__init__("meter answered control 0x%02X abnormally, error byte 0x%02X: %s"
                         % (control, error_code, self.meaning))


def error_meaning(error_code):
    """The error-status byte of an abnormal reply in words, one phrase per set bit."""
    names = [name for bit, name in ERROR_BITS if error_code & bit]
    return "; ".join(names) if names else "no error bit set"


def _hex(data):
    return " ".join("%02X" % byte for byte in data)


def encode_address(address):
    """6 address bytes, low byte first, from the 12 digits on the nameplate ("A" = wildcard)."""
    if not isinstance(address, str) or len(address) != 12:
        raise ValueError("meter address %r: expected 12 digits as on the nameplate, e.g. "
                         "'000000000001'" % (address,))
    for char in address:
        if char not in "0123456789Aa":
            raise ValueError("meter address %r holds %r: expected digits 0-9 (or A as wildcard)"
                             % (address, char))
    return bytes([int(address[index:index + 2], 16) for index in range(10, -1, -2)])


def decode_address(data):
    """The 12-digit address (as on the nameplate) of 6 address bytes sent low byte first."""
    if len(data) != 6:
        raise FrameError("address of %d bytes [%s]: expected 6" % (len(data), _hex(data)))
    return "".join("%02X" % byte for byte in reversed(bytes(data)))


def _di_bytes(di):
    """Wire bytes (DI0 first) of a data identifier printed DI3 first, e.g. "00010000"."""
    if not isinstance(di, str) or len(di) != 8:
        raise ValueError("data identifier %r: expected 8 hex digits, DI3 first, e.g. '00010000'"
                         % (di,))
    try:
        return bytes([int(di[index:index + 2], 16) for index in (6, 4, 2, 0)])
    except ValueError:
        raise ValueError("data identifier %r: expected 8 hex digits" % (di,)) from None


def _di_text(wire):
    return "%02X%02X%02X%02X" % (wire[3], wire[2], wire[1], wire[0])


def _build_frame(address_bytes, control, data, preamble):
    if len(data) > MAX_DATA_LENGTH:
        raise ValueError("%d data bytes: a frame holds at most %d" % (len(data), MAX_DATA_LENGTH))
    body = bytearray((START,))
    body += address_bytes
    body += bytes((START, control, len(data)))
    body += bytes([(byte + DATA_OFFSET) & 0xFF for byte in data])
    body += bytes((sum(body) & 0xFF, END))
    return bytes(PREAMBLE + body) if preamble else bytes(body)


def build_read_request(address, di, preamble=True):
    """Read one data identifier (e.g. "00010000", forward active total energy) from a meter."""
    return _build_frame(encode_address(address), CONTROL_READ, _di_bytes(di), preamble)


def build_read_address_request(preamble=True):
    """Ask the only meter on the bus for its address (broadcast address)."""
    return _build_frame(encode_address(BROADCAST_ADDRESS), CONTROL_READ_ADDRESS, b"", preamble)


def find_frame(buffer):
    """(start, end) of the first complete frame in buffer, skipping preamble and stray bytes.

    The end is exclusive. None while no frame is complete. Only the 68/68/L/16 structure is
    looked at: parse_frame checks the checksum, so a damaged frame is reported, not skipped."""
    data = bytes(buffer)
    size = len(data)
    start = data.find(b"\x68")
    while start >= 0 and start + 10 <= size:
        if data[start + 7] == START:
            end = start + SMALLEST_FRAME + data[start + 9]
            if end <= size and data[end - 1] == END:
                return (start, end)
        start = data.find(b"\x68", start + 1)
    return None


def parse_frame(frame):
    """(address, control, data) of one frame, data with 33h removed; leading FE bytes skipped.

    Raises FrameError for a missing 68/16 marker or a length that does not match L, and
    ChecksumError for a bad checksum."""
    frame = bytes(frame)
    first = 0
    while first < len(frame) and frame[first] == 0xFE:
        first += 1
    body = frame[first:]
    if len(body) < SMALLEST_FRAME:
        raise FrameError("frame [%s] of %d bytes is shorter than the smallest frame (%d)"
                         % (_hex(frame), len(body), SMALLEST_FRAME))
    if body[0] != START or body[7] != START:
        raise FrameError("frame [%s] lacks the 68 markers at its bytes 0 and 7" % _hex(body))
    if len(body) != SMALLEST_FRAME + body[9]:
        raise FrameError("frame [%s] has %d bytes, its length byte L=%d means %d"
                         % (_hex(body), len(body), body[9], SMALLEST_FRAME + body[9]))
    if body[-1] != END:
        raise FrameError("frame [%s] ends in %02X, expected 16" % (_hex(body), body[-1]))
    checksum = sum(body[:-2]) & 0xFF
    if body[-2] != checksum:
        raise ChecksumError("frame [%s] has checksum %02X, computed %02X"
                            % (_hex(body), body[-2], checksum))
    data = bytes([(byte - DATA_OFFSET) & 0xFF for byte in body[10:-2]])
    return decode_address(body[1:7]), body[8], data


def _check_address(got, expected):
    """The reply's address matches the asked one; an A in the asked address matches any digit."""
    wanted = expected.upper()
    for index in range(len(got)):
        if index >= len(wanted) or wanted[index] not in ("A", got[index]):
            raise WrongAddress("reply from meter %s, expected meter %s" % (got, expected))


def _check_reply(control, function):
    if not control & REPLY_FLAG or control & FUNCTION_MASK != function:
        raise FrameError("control 0x%02X is not a reply to function 0x%02X: expected 0x%02X"
                         % (control, function, function | REPLY_FLAG))


def parse_read_reply(frame, address, di):
    """Value bytes (33h removed, low byte first) after the DI in the reply to a read of `di`.

    Raises ChecksumError/FrameError (bad frame), WrongAddress, AbnormalReply, FrameError (not a
    read reply) or WrongDataIdentifier. A reply flagged "more frames follow" (0xB1) returns this
    frame's bytes; reading the rest (control 0x12) is not supported."""
    got_address, control, data = parse_frame(frame)
    _check_address(got_address, address)
    _check_reply(control, CONTROL_READ)
    if control & ABNORMAL_FLAG:
        raise AbnormalReply(data[0] if data else 0, control)
    expected = _di_bytes(di)
    if data[:4] != expected:
        raise WrongDataIdentifier("reply carries data identifier %s, expected %s"
                                  % (_di_text(data[:4]) if len(data) >= 4 else _hex(data), di))
    return data[4:]


def parse_read_address_reply(frame):
    """The 12-digit address in a meter's reply to the read-address request."""
    _, control, data = parse_frame(frame)
    _check_reply(control, CONTROL_READ_ADDRESS)
    if control & ABNORMAL_FLAG:
        raise AbnormalReply(data[0] if data else 0, control)
    return decode_address(data)


def decode_bcd(data, decimals, signed=False):
    """Value of BCD bytes sent low byte first; signed: the top bit of the last byte is the sign."""
    if not data:
        raise FrameError("no value bytes to decode")
    value = 0
    last = len(data) - 1
    for index in range(last, -1, -1):
        byte = data[index] & 0x7F if signed and index == last else data[index]
        if byte >> 4 > 9 or byte & 0xF > 9:
            raise FrameError("value bytes [%s]: %02X is not BCD" % (_hex(data), data[index]))
        value = value * 100 + (byte >> 4) * 10 + (byte & 0xF)
    try:
        result = value / 10 ** decimals
    except OverflowError:  # hundreds of digits: no meter value, and more than a float holds
        raise FrameError("value bytes [%s]: %d BCD digits are more than a number holds"
                         % (_hex(data), 2 * len(data))) from None
    return -result if signed and data[last] & 0x80 else result


def encode_bcd(value, length, decimals, signed=False):
    """`length` BCD bytes, low byte first, holding value × 10^decimals (rounded)."""
    if value < 0 and not signed:
        raise ValueError("%r is negative: unsigned BCD holds 0 and up" % (value,))
    number = round(abs(value) * 10 ** decimals)
    limit = (8 if signed else 10) * 10 ** (2 * length - 1)
    if number >= limit:
        raise ValueError("%r does not fit %d BCD bytes with %d decimals: at most %s"
                         % (value, length, decimals, (limit - 1) / 10 ** decimals))
    out = bytearray(length)
    for index in range(length):
        number, pair = divmod(number, 100)
        out[index] = (pair // 10) << 4 | pair % 10
    if signed and value < 0:
        out[-1] |= 0x80
    return bytes(out)


# --- slave side (the simulator) ----------------------------------------------------------------


def parse_request(frame):
    """(address, control, di or None) of a request; di only for a read (control 0x11)."""
    address, control, data = parse_frame(frame)
    if control & REPLY_FLAG:
        raise FrameError("control 0x%02X is a reply, not a request" % control)
    if control != CONTROL_READ:
        return (address, control, None)
    if len(data) < 4:
        raise FrameError("read request carries %d data bytes, expected a 4-byte identifier"
                         % len(data))
    return (address, control, _di_text(data))


def build_read_reply(address, di, value_bytes, preamble=True):
    """Normal reply (0x91) from meter `address`: the DI, then the value bytes (low byte first)."""
    data = _di_bytes(di) + bytes(value_bytes)
    return _build_frame(encode_address(address), CONTROL_READ | REPLY_FLAG, data, preamble)


def build_read_address_reply(address, preamble=True):
    """Reply (0x93) to the read-address request: the meter's address, in the header and data."""
    address_bytes = encode_address(address)
    return _build_frame(address_bytes, CONTROL_READ_ADDRESS | REPLY_FLAG, address_bytes, preamble)


def build_abnormal_reply(address, control, error_code, preamble=True):
    """Abnormal reply to a request with `control` (0x11 → 0xD1): one error-status byte."""
    reply_control = (control & FUNCTION_MASK) | REPLY_FLAG | ABNORMAL_FLAG
    return _build_frame(encode_address(address), reply_control, bytes((error_code,)), preamble)
