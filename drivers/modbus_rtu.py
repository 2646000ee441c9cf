"""Modbus RTU (Serial Line V1.02) sans-IO codec; frame: slave | function | data | CRC16 lo, hi."""

import struct

from drivers.modbus_errors import (  # noqa: F401  (all re-exported: part of this module's API)
    Acknowledge,
    CrcError,
    FrameError,
    GatewayPathUnavailable,
    GatewayTargetFailedToRespond,
    IllegalDataAddress,
    IllegalDataValue,
    IllegalFunction,
    MemoryParityError,
    ModbusError,
    NegativeAcknowledge,
    SlaveDeviceBusy,
    SlaveDeviceFailure,
    SlaveException,
    WrongEcho,
    WrongFunction,
    WrongLength,
    WrongSlave,
    exception_for_code,
)

READ_COILS = 1
READ_DISCRETE_INPUTS = 2
READ_HOLDING_REGISTERS = 3
READ_INPUT_REGISTERS = 4
WRITE_SINGLE_COIL = 5
WRITE_SINGLE_REGISTER = 6
DIAGNOSTICS = 8
WRITE_MULTIPLE_COILS = 15
WRITE_MULTIPLE_REGISTERS = 16

MAX_READ_REGISTERS = 125  # Application Protocol §6.3/6.4: quantity 1 to 0x7D
MAX_READ_BITS = 2000  # §6.1/6.2: quantity 1 to 0x7D0
MAX_WRITE_REGISTERS = 123  # §6.12: quantity 1 to 0x7B
MAX_SLAVE_ID = 247  # Serial Line §2.2: 1-247 are slaves, 0 is broadcast
BROADCAST_ID = 0
COIL_ON = 0xFF00  # FC 5 value field (§6.5); anything else but COIL_OFF is an illegal value
COIL_OFF = 0x0000
EXCEPTION_FLAG = 0x80  # added to the function code in an exception reply (§7)

_READ_LIMITS = {
    READ_COILS: MAX_READ_BITS,
    READ_DISCRETE_INPUTS: MAX_READ_BITS,
    READ_HOLDING_REGISTERS: MAX_READ_REGISTERS,
    READ_INPUT_REGISTERS: MAX_READ_REGISTERS,
}
_ECHO_FUNCTIONS = (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER, DIAGNOSTICS,
                   WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS)
_SMALLEST_REPLY = 5  # an exception reply: slave, function | 0x80, code, CRC lo, CRC hi


def _make_crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _make_crc_table()


def crc16(data):
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF): the int whose low byte is sent first."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def append_crc(frame):
    """The frame with its CRC appended, low byte first."""
    crc = crc16(frame)
    return bytes(frame) + bytes((crc & 0xFF, crc >> 8))


def crc_ok(frame):
    """True if the last two bytes are the CRC of the rest (a frame plus its CRC has CRC 0)."""
    return len(frame) >= 4 and crc16(frame) == 0


def _hex(data):
    return " ".join("%02X" % byte for byte in data)


def _check_int(name, value, low, high):
    if not isinstance(value, int) or not low <= value <= high:
        raise ValueError("%s %r is out of range: expected an integer from %d to %d"
                         % (name, value, low, high))


def _read_limit(function):
    limit = _READ_LIMITS.get(function)
    if limit is None:
        raise ValueError("function %r is not a read: expected 1, 2, 3 or 4" % (function,))
    return limit


def _check_span(address, count):
    _check_int("address", address, 0, 0xFFFF)
    if address + count > 0x10000:
        raise ValueError("address %d + count %d runs past the last address 65535"
                         % (address, count))


def _pack_bits(bits):
    packed = bytearray((len(bits) + 7) // 8)
    for index, bit in enumerate(bits):
        if bit:
            packed[index >> 3] |= 1 << (index & 7)
    return bytes(packed)


def _unpack_bits(data, start, count):
    return [bool(data[start + (index >> 3)] >> (index & 7) & 1) for index in range(count)]


def _coil_value(on):
    return COIL_ON if on else COIL_OFF


# --- master side -------------------------------------------------------------------------------


def build_read_request(slave, function, address, count):
    """Request for FC 1-4: read `count` coils/inputs/registers from `address` (0-based)."""
    limit = _read_limit(function)
    _check_int("slave id", slave, 1, MAX_SLAVE_ID)
    _check_int("count", count, 1, limit)
    _check_span(address, count)
    return append_crc(struct.pack(">BBHH", slave, function, address, count))


def build_write_single_coil(slave, address, on):
    """FC 5 request: set one coil on (0xFF00) or off (0x0000); slave 0 broadcasts."""
    _check_int("slave id", slave, 0, MAX_SLAVE_ID)
    _check_int("address", address, 0, 0xFFFF)
    return append_crc(struct.pack(">BBHH", slave, WRITE_SINGLE_COIL, address, _coil_value(on)))


def build_write_single_register(slave, address, value):
    """FC 6 request: write one register (value 0-65535); slave 0 broadcasts."""
    _check_int("slave id", slave, 0, MAX_SLAVE_ID)
    _check_int("address", address, 0, 0xFFFF)
    _check_int("register value", value, 0, 0xFFFF)
    return append_crc(struct.pack(">BBHH", slave, WRITE_SINGLE_REGISTER, address, value))


def build_write_multiple_registers(slave, address, values):
    """FC 16 request: write 1-123 consecutive registers from `address`; slave 0 broadcasts."""
    _check_int("slave id", slave, 0, MAX_SLAVE_ID)
    count = len(values)
    _check_int("register count", count, 1, MAX_WRITE_REGISTERS)
    _check_span(address, count)
    for value in values:
        _check_int("register value", value, 0, 0xFFFF)
    head = struct.pack(">BBHHB", slave, WRITE_MULTIPLE_REGISTERS, address, count, 2 * count)
    return append_crc(head + struct.pack(">%dH" % count, *values))


def response_length(function, count):
    """Bytes in the normal reply to a request (count = registers or bits asked for FC 1-4)."""
    if function in (READ_COILS, READ_DISCRETE_INPUTS):
        return 5 + (count + 7) // 8
    if function in (READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS):
        return 5 + 2 * count
    if function in _ECHO_FUNCTIONS:
        return 8
    raise ValueError("function %r has no known reply length: expected 1-6, 8, 15 or 16"
                     % (function,))


def _check_reply_head(frame, slave, function):
    """CRC, then slave id, then exception reply, then function code: the order of trust."""
    size = len(frame)
    if size < _SMALLEST_REPLY:
        raise WrongLength("reply of %d bytes [%s] is shorter than the smallest reply (%d bytes)"
                          % (size, _hex(frame), _SMALLEST_REPLY))
    if crc16(frame) != 0:
        crc = crc16(frame[:-2])
        raise CrcError("reply [%s] ends in CRC %02X %02X, expected %02X %02X"
                       % (_hex(frame), frame[-2], frame[-1], crc & 0xFF, crc >> 8))
    if frame[0] != slave:
        raise WrongSlave("reply comes from slave %d, expected slave %d" % (frame[0], slave))
    if frame[1] == function | EXCEPTION_FLAG:
        if size != _SMALLEST_REPLY:
            raise WrongLength("exception reply of %d bytes, expected %d"
                              % (size, _SMALLEST_REPLY))
        raise exception_for_code(frame[2], function)
    if frame[1] != function:
        raise WrongFunction("reply has function code %d, expected %d" % (frame[1], function))


def parse_read_response(frame, slave, function, count):
    """Values of an FC 1-4 reply: ints 0-65535 for FC 3/4, bools for FC 1/2.

    Raises CrcError, WrongSlave, the SlaveException subclass of an exception reply,
    WrongFunction or WrongLength, checked in that order."""
    _read_limit(function)
    _check_reply_head(frame, slave, function)
    registers = function in (READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS)
    byte_count = 2 * count if registers else (count + 7) // 8
    if frame[2] != byte_count or len(frame) != byte_count + 5:
        raise WrongLength(
            "reply has byte count %d in a %d-byte frame, expected byte count %d in a %d-byte "
            "frame for %d %s" % (frame[2], len(frame), byte_count, byte_count + 5, count,
                                 "registers" if registers else "bits"))
    if registers:
        return list(struct.unpack(">%dH" % count, frame[3:3 + byte_count]))
    return _unpack_bits(frame, 3, count)


def parse_write_response(frame, slave, function, address, value_or_count):
    """Check the reply to FC 5/6/15/16 echoes the request (FC 5: value_or_count is on/off)."""
    if function not in _ECHO_FUNCTIONS or function == DIAGNOSTICS:
        raise ValueError("function %r is not a write: expected 5, 6, 15 or 16" % (function,))
    _check_reply_head(frame, slave, function)
    if len(frame) != 8:
        raise WrongLength("write reply of %d bytes, expected 8" % len(frame))
    expected = _coil_value(value_or_count) if function == WRITE_SINGLE_COIL else value_or_count
    echoed_address, echoed = struct.unpack(">HH", frame[2:6])
    if echoed_address != address or echoed != expected:
        raise WrongEcho("write reply echoes address %d value/count %d, expected address %d "
                        "value/count %d" % (echoed_address, echoed, address, expected))


# --- slave side (the simulator) ----------------------------------------------------------------


def request_length(buffer):
    """Bytes the request at the start of `buffer` needs; None until enough bytes tell.

    Raises WrongFunction for function codes other than 1-6, 8, 15, 16: their length is not known,
    the frame end can only be found by the 3.5-character silence."""
    if len(buffer) < 2:
        return None
    function = buffer[1]
    if function in _READ_LIMITS or function in (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER,
                                                DIAGNOSTICS):
        return 8
    if function in (WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS):
        return None if len(buffer) < 7 else 9 + buffer[6]
    raise WrongFunction("request has function code %d whose length is unknown: expected 1-6, 8, "
                        "15 or 16" % function)


def parse_request(frame):
    """(slave, function, address, count_or_value, values_or_None) of a request, CRC checked.

    FC 1-4: count; FC 5/6: the raw 16-bit value field (FC 5: COIL_ON or COIL_OFF); FC 8: address
    is the sub-function and count_or_value the data; FC 15: count and a list of bools; FC 16:
    count and a list of register values."""
    if len(frame) < 4:
        raise WrongLength("request of %d bytes is too short to carry a CRC" % len(frame))
    if crc16(frame) != 0:
        raise CrcError("request [%s] fails its CRC check" % _hex(frame))
    expected = request_length(frame)
    if expected is None or len(frame) != expected:
        raise WrongLength("request of %d bytes, expected %s" % (len(frame), expected))
    slave, function = frame[0], frame[1]
    address, field = struct.unpack(">HH", frame[2:6])
    values = None
    if function in (WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS):
        coils = function == WRITE_MULTIPLE_COILS
        byte_count = (field + 7) // 8 if coils else 2 * field
        if frame[6] != byte_count:
            raise WrongLength("request byte count %d does not fit count %d: expected %d"
                              % (frame[6], field, byte_count))
        if coils:
            values = _unpack_bits(frame, 7, field)
        else:
            values = list(struct.unpack(">%dH" % field, frame[7:7 + byte_count]))
    return (slave, function, address, field, values)


def build_read_response(slave, function, values):
    """Normal reply to FC 1-4: values are bools (FC 1/2) or ints 0-65535 (FC 3/4)."""
    limit = _read_limit(function)
    _check_int("slave id", slave, 1, MAX_SLAVE_ID)
    _check_int("value count", len(values), 1, limit)
    if function in (READ_COILS, READ_DISCRETE_INPUTS):
        data = _pack_bits(values)
    else:
        for value in values:
            _check_int("register value", value, 0, 0xFFFF)
        data = struct.pack(">%dH" % len(values), *values)
    return append_crc(bytes((slave, function, len(data))) + data)


def build_write_response(slave, function, address, value_or_count):
    """Normal reply to FC 5/6/15/16 (and FC 8's echo): the request's address and value/count."""
    if function not in _ECHO_FUNCTIONS:
        raise ValueError("function %r has no echo reply: expected 5, 6, 8, 15 or 16"
                         % (function,))
    _check_int("slave id", slave, 1, MAX_SLAVE_ID)
    _check_int("address", address, 0, 0xFFFF)
    value = _coil_value(value_or_count) if function == WRITE_SINGLE_COIL else value_or_count
    _check_int("value/count", value, 0, 0xFFFF)
    return append_crc(struct.pack(">BBHH", slave, function, address, value))


def build_exception_response(slave, function, code):
    """Exception reply: slave | function + 0x80 | exception code | CRC."""
    _check_int("slave id", slave, 1, MAX_SLAVE_ID)
    _check_int("function", function, 1, 0x7F)
    _check_int("exception code", code, 1, 0xFF)
    return append_crc(bytes((slave, function | EXCEPTION_FLAG, code)))


# --- bus timing (Serial Line §2.5.1.1) -----------------------------------------------------------


def char_time(baud, bits_per_char=11):
    """Seconds one character takes on the line (start + 8 data + parity/stop + stop = 11 bits)."""
    if not baud > 0:
        raise ValueError("baud %r must be a positive number" % (baud,))
    return bits_per_char / baud


def silent_interval(baud):
    """The 3.5-character gap that ends a frame; fixed at 1.75 ms above 19200 baud."""
    return 0.00175 if baud > 19200 else 3.5 * char_time(baud)


def inter_char_limit(baud):
    """The 1.5-character gap that breaks a frame; fixed at 0.75 ms above 19200 baud."""
    return 0.00075 if baud > 19200 else 1.5 * char_time(baud)


def transaction_time(baud, request_bytes, response_bytes, turnaround=0.0):
    """Least seconds one request/reply takes: both frames, two 3.5-char gaps, turnaround."""
    return ((request_bytes + response_bytes) * char_time(baud) + 2 * silent_interval(baud)
            + turnaround)
