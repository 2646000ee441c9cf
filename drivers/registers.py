"""Modbus register value codecs: ints, floats, BCD, strings, bits in ABCD/CDAB/BADC/DCBA order."""

import struct

# Byte orders of a multi-register value, A = most significant byte. ABCD: big-endian (registers
# most significant first, high byte first); CDAB: registers in reverse order (least significant
# first), each high byte first; BADC: registers in order, bytes swapped in each; DCBA: fully
# little-endian. For one-register types ABCD = CDAB (as is) and BADC = DCBA (bytes swapped).
ORDERS = ("ABCD", "CDAB", "BADC", "DCBA")

FLOAT32_MAX = 3.4028234663852886e38  # largest finite IEEE 754 single

# type: (registers, struct format of the big-endian value, lowest, highest)
_BINARY = {
    "u16": (1, "H", 0, 0xFFFF),
    "i16": (1, "h", -0x8000, 0x7FFF),
    "u32": (2, "I", 0, 0xFFFFFFFF),
    "i32": (2, "i", -0x80000000, 0x7FFFFFFF),
    "u64": (4, "Q", 0, 0xFFFFFFFFFFFFFFFF),
    "i64": (4, "q", -0x8000000000000000, 0x7FFFFFFFFFFFFFFF),
    "bits16": (1, "H", 0, 0xFFFF),
    "bits32": (2, "I", 0, 0xFFFFFFFF),
    "float32": (2, "f", -FLOAT32_MAX, FLOAT32_MAX),
    "float64": (4, "d", None, None),
}
_BCD_CARRIER = {"bcd16": "u16", "bcd32": "u32"}  # each nibble one decimal digit
_LONG_FRACTION_REGISTERS = 4  # TUF-2000M totaliser: i32 whole units, then float32 fraction

TYPES = ("u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64", "bcd16", "bcd32", "string",
         "bits16", "bits32", "long_fraction")


class RegisterError(ValueError):
    """A register value that cannot be decoded or encoded as asked."""


def _unknown_type(type):
    return RegisterError("unknown register type %r: expected one of %s"
                         % (type, ", ".join(TYPES)))


def register_count(type, length=None):
    """Registers a value of `type` occupies (string: `length` registers, 2 characters each)."""
    if type in _BINARY:
        return _BINARY[type][0]
    if type in _BCD_CARRIER:
        return _BINARY[_BCD_CARRIER[type]][0]
    if type == "long_fraction":
        return _LONG_FRACTION_REGISTERS
    if type == "string":
        if not isinstance(length, int) or length < 1:
            raise RegisterError("string length %r: expected a number of registers >= 1"
                                % (length,))
        return length
    raise _unknown_type(type)


def integer_range(type):
    """(lowest, highest) raw value of an integer type (BCD: its decimal digits); None for others."""
    if type in _BCD_CARRIER:
        return 0, 10 ** (4 * _BINARY[_BCD_CARRIER[type]][0]) - 1
    spec = _BINARY.get(type)
    if spec is None or spec[1] in "fd":
        return None
    return spec[2], spec[3]


def wrap_raw(type):
    """The raw value at which a counter of `type` returns to zero (its largest value + 1; a
    long_fraction's i32 accumulator: 2^31); None for floats, strings and bit fields."""
    if type == "long_fraction":
        return 0x80000000
    if type.startswith("bits"):
        return None
    limits = integer_range(type)
    return None if limits is None else limits[1] + 1


def decoder(type, order="ABCD"):
    """A function registers -> value equal to decode(registers, type, order), built once.

    Binary types in ABCD or CDAB order unpack with two prepared structs and skip decode()'s
    checks (a wrong count raises struct.error); every other type and order calls decode()."""
    spec = _BINARY.get(type)
    if spec is None or order not in ("ABCD", "CDAB"):
        return lambda registers: decode(registers, type, order)
    count, fmt = spec[0], spec[1]
    pack, unpack = _packer(">%dH" % count), _unpacker(">" + fmt)
    if order == "CDAB" and count > 1:
        return lambda registers: unpack(pack(*registers[::-1]))[0]
    return lambda registers: unpack(pack(*registers))[0]


def _packer(fmt):
    if hasattr(struct, "Struct"):  # CPython; MicroPython's struct has only the functions
        return struct.Struct(fmt).pack
    return lambda *values: struct.pack(fmt, *values)


def _unpacker(fmt):
    if hasattr(struct, "Struct"):
        return struct.Struct(fmt).unpack
    return lambda data: struct.unpack(fmt, data)


def _swap_bytes(register):
    return ((register & 0xFF) << 8) | (register >> 8)


def _reorder(registers, order):
    """Registers between wire order and ABCD (most significant first); its own inverse."""
    if order == "ABCD":
        return registers
    if order == "CDAB":
        return registers[::-1]
    if order == "BADC":
        return [_swap_bytes(register) for register in registers]
    if order == "DCBA":
        return [_swap_bytes(register) for register in registers[::-1]]
    raise _unknown_order(order)


def _unknown_order(order):
    return RegisterError("unknown byte order %r: expected one of %s" % (order, ", ".join(ORDERS)))


def _check_registers(registers, count, type):
    if len(registers) != count:
        raise RegisterError("%s takes %d registers, got %d: %r"
                            % (type, count, len(registers), list(registers)))
    for register in registers:
        if not isinstance(register, int) or not 0 <= register <= 0xFFFF:
            raise RegisterError("register value %r in %r is not an integer 0-65535"
                                % (register, list(registers)))


def _unpack(registers, type, order):
    count, fmt, _, _ = _BINARY[type]
    _check_registers(registers, count, type)
    words = _reorder(list(registers), order)
    return struct.unpack(">" + fmt, struct.pack(">%dH" % count, *words))[0]


def _pack(value, type, order):
    count, fmt, _, _ = _BINARY[type]
    return _reorder(list(struct.unpack(">%dH" % count, struct.pack(">" + fmt, value))), order)


def _bcd_value(raw, digits):
    value = 0
    scale = 1
    for shift in range(0, 4 * digits, 4):
        nibble = raw >> shift & 0xF
        if nibble > 9:
            raise RegisterError("BCD value 0x%X has nibble %X, not a decimal digit" % (raw, nibble))
        value += nibble * scale
        scale *= 10
    return value


def _string_words(registers, order):
    """Strings are runs of 16-bit units: only the byte swap (BADC/DCBA) applies, never CDAB."""
    if order in ("BADC", "DCBA"):
        return _reorder(registers, "BADC")
    if order not in ORDERS:
        raise _unknown_order(order)
    return registers


def decode(registers, type, order="ABCD"):
    """The value in `registers` (ints 0-65535 in wire order): int, float or str."""
    if type in _BINARY:
        return _unpack(registers, type, order)
    if type in _BCD_CARRIER:
        carrier = _BCD_CARRIER[type]
        raw = _unpack(registers, carrier, order)
        return _bcd_value(raw, 4 * _BINARY[carrier][0])
    if type == "long_fraction":
        _check_registers(registers, _LONG_FRACTION_REGISTERS, type)
        return _unpack(registers[0:2], "i32", order) + _unpack(registers[2:4], "float32", order)
    if type == "string":
        _check_registers(registers, register_count(type, len(registers)), type)
        words = _string_words(list(registers), order)
        text = struct.pack(">%dH" % len(words), *words).rstrip(b"\x00 ")
        for byte in text:
            if byte > 0x7F:
                raise RegisterError("string %r holds byte 0x%02X, not ASCII" % (text, byte))
        return text.decode()
    raise _unknown_type(type)


def _finite(value, type):
    if value != value or value in (float("inf"), float("-inf")):
        raise RegisterError("%s cannot hold %r: expected a finite number" % (type, value))
    return value


def _integer(value, type, low, high):
    if isinstance(value, float):
        value = round(_finite(value, type))
    elif not isinstance(value, int):
        raise RegisterError("%s cannot hold %r: expected a number" % (type, value))
    if not low <= value <= high:
        raise RegisterError("%s cannot hold %r: expected %d to %d" % (type, value, low, high))
    return value


def _real(value, type, low):
    if not isinstance(value, (int, float)):
        raise RegisterError("%s cannot hold %r: expected a number" % (type, value))
    value = float(value)
    if low is not None and value == value and -low < abs(value) < float("inf"):
        raise RegisterError("%s cannot hold %r: expected a magnitude up to %r, inf or nan"
                            % (type, value, -low))
    return value


def encode(value, type, order="ABCD", length=None):
    """Registers (wire order) holding `value`; floats given for integer types are rounded."""
    if type in _BINARY:
        _, fmt, low, high = _BINARY[type]
        if fmt in "fd":
            return _pack(_real(value, type, low), type, order)
        return _pack(_integer(value, type, low, high), type, order)
    if type in _BCD_CARRIER:
        carrier = _BCD_CARRIER[type]
        digits = 4 * _BINARY[carrier][0]
        number = _integer(value, type, 0, 10 ** digits - 1)
        raw = 0
        for shift in range(0, 4 * digits, 4):
            number, digit = divmod(number, 10)
            raw |= digit << shift
        return _pack(raw, carrier, order)
    if type == "long_fraction":
        value = _finite(_real(value, type, None), type)
        whole = int(value)  # towards zero: the fraction carries the whole part's sign
        if not -0x80000000 <= whole <= 0x7FFFFFFF:
            raise RegisterError("long_fraction cannot hold %r: its whole part must be "
                                "-2147483648 to 2147483647" % (value,))
        return _pack(whole, "i32", order) + _pack(value - whole, "float32", order)
    if type == "string":
        return _encode_string(value, order, length)
    raise _unknown_type(type)


def _encode_string(text, order, length):
    if not isinstance(text, str):
        raise RegisterError("string cannot hold %r: expected a str" % (text,))
    for char in text:
        if ord(char) > 0x7F:
            raise RegisterError("string %r holds %r, not ASCII" % (text, char))
    if length is None:
        length = (len(text) + 1) // 2
    count = register_count("string", length)
    if len(text) > 2 * count:
        raise RegisterError("string %r has %d characters: %d registers hold at most %d"
                            % (text, len(text), count, 2 * count))
    data = text.encode() + bytes(2 * count - len(text))
    return _string_words(list(struct.unpack(">%dH" % count, data)), order)


def _check_decimals(decimals):
    if not isinstance(decimals, int) or not -9 <= decimals <= 9:
        raise RegisterError("decimals %r out of range: expected an integer from -9 to 9"
                            % (decimals,))


def scaled(raw, scale=1.0, offset=0.0, decimals=None):
    """Engineering value raw × scale × 10^-decimals + offset (decimals may come from a register)."""
    value = raw * scale
    if decimals:
        _check_decimals(decimals)
        value = value / 10 ** decimals if decimals > 0 else value * 10 ** -decimals
    return float(value + offset)


def unscaled(value, scale=1.0, offset=0.0, decimals=None):
    """Raw value for an engineering value (inverse of scaled); encode() rounds it for int types."""
    if not scale:
        raise RegisterError("scale %r cannot be inverted: expected a non-zero number" % (scale,))
    raw = value - offset
    if decimals:
        _check_decimals(decimals)
        raw = raw * 10 ** decimals if decimals > 0 else raw / 10 ** -decimals
    return raw / scale


def flags_set(value, flags):
    """Names of the set bits of `value`, lowest bit first; flags maps "bit number" to name."""
    found = []
    for key, name in flags.items():
        try:
            bit = int(key)
        except ValueError:
            raise RegisterError("flag key %r is not a bit number 0-63" % (key,)) from None
        if not 0 <= bit <= 63:
            raise RegisterError("flag key %r is not a bit number 0-63" % (key,))
        if value >> bit & 1:
            found.append((bit, name))
    return [name for _, name in sorted(found)]
