"""Property tests of drivers/ (CPython only): round trips, and pymodbus 3.16.1 as an oracle."""

import math
import struct

import pymodbus.pdu.bit_message as bit_message
import pymodbus.pdu.register_message as register_message
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pymodbus.client import ModbusSerialClient
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU

from drivers import dlt645
from drivers import modbus_rtu as rtu
from drivers import registers as reg

DATATYPE = ModbusSerialClient.DATATYPE
INTEGER_RANGES = {
    "u16": (0, 2**16 - 1), "i16": (-(2**15), 2**15 - 1),
    "u32": (0, 2**32 - 1), "i32": (-(2**31), 2**31 - 1),
    "u64": (0, 2**64 - 1), "i64": (-(2**63), 2**63 - 1),
    "bits16": (0, 2**16 - 1), "bits32": (0, 2**32 - 1),
}
PYMODBUS_TYPES = {
    "u16": DATATYPE.UINT16, "i16": DATATYPE.INT16, "u32": DATATYPE.UINT32,
    "i32": DATATYPE.INT32, "u64": DATATYPE.UINT64, "i64": DATATYPE.INT64,
    "float32": DATATYPE.FLOAT32, "float64": DATATYPE.FLOAT64,
}
PYMODBUS_WORD_ORDER = {"ABCD": "big", "CDAB": "little"}  # pymodbus has no byte-swapped orders
orders = st.sampled_from(reg.ORDERS)
register = st.integers(0, 0xFFFF)
slave_id = st.integers(1, 247)
address_16 = st.integers(0, 0xFFFF)
rtu_framer = FramerRTU(DecodePDU(False))


def _same_value(a, b):
    return (math.isnan(a) and math.isnan(b)) if isinstance(b, float) and b != b else a == b


# --- CRC ----------------------------------------------------------------------------------------


@given(st.binary(max_size=256))
def test_crc16_agrees_with_pymodbus(data):
    expected = FramerRTU.compute_CRC(data)  # pymodbus gives the CRC high-byte-sent-second swapped
    assert rtu.crc16(data) == ((expected & 0xFF) << 8) | (expected >> 8)


@given(st.binary(min_size=2, max_size=256), st.data())
def test_crc_detects_every_single_bit_error(data, draw):
    frame = rtu.append_crc(data)
    assert rtu.crc_ok(frame)
    bit = draw.draw(st.integers(0, 8 * len(frame) - 1))
    damaged = bytearray(frame)
    damaged[bit // 8] ^= 1 << (bit % 8)
    assert not rtu.crc_ok(bytes(damaged))


# --- Modbus frames: pymodbus as an oracle, and our own round trips ------------------------------


@given(slave_id, st.sampled_from([1, 2, 3, 4]), address_16, st.data())
def test_read_request_agrees_with_pymodbus_and_round_trips(slave, function, address, data):
    limit = rtu.MAX_READ_BITS if function <= 2 else rtu.MAX_READ_REGISTERS
    count = data.draw(st.integers(1, min(limit, 0x10000 - address)))
    request_class = {
        1: bit_message.ReadCoilsRequest, 2: bit_message.ReadDiscreteInputsRequest,
        3: register_message.ReadHoldingRegistersRequest,
        4: register_message.ReadInputRegistersRequest,
    }[function]
    frame = rtu.build_read_request(slave, function, address, count)
    oracle = rtu_framer.buildFrame(request_class(address=address, count=count, dev_id=slave))
    assert frame == oracle
    assert rtu.request_length(frame) == len(frame)
    assert rtu.parse_request(frame) == (slave, function, address, count, None)


@given(slave_id, st.sampled_from([3, 4]), st.lists(register, min_size=1, max_size=125))
def test_register_reply_agrees_with_pymodbus_and_round_trips(slave, function, values):
    reply_class = (register_message.ReadHoldingRegistersResponse if function == 3
                   else register_message.ReadInputRegistersResponse)
    frame = rtu.build_read_response(slave, function, values)
    assert frame == rtu_framer.buildFrame(reply_class(registers=values, dev_id=slave))
    assert len(frame) == rtu.response_length(function, len(values))
    assert rtu.parse_read_response(frame, slave, function, len(values)) == values


@given(slave_id, st.sampled_from([1, 2]), st.lists(st.booleans(), min_size=1, max_size=2000))
def test_bit_reply_round_trips(slave, function, bits):
    frame = rtu.build_read_response(slave, function, bits)
    assert len(frame) == rtu.response_length(function, len(bits))
    assert rtu.parse_read_response(frame, slave, function, len(bits)) == bits


@given(st.integers(0, 247), address_16, st.data())
def test_write_multiple_registers_agrees_with_pymodbus_and_round_trips(slave, address, data):
    values = data.draw(st.lists(register, min_size=1,
                                max_size=min(rtu.MAX_WRITE_REGISTERS, 0x10000 - address)))
    frame = rtu.build_write_multiple_registers(slave, address, values)
    oracle = register_message.WriteMultipleRegistersRequest(
        address=address, registers=values, dev_id=slave)
    assert frame == rtu_framer.buildFrame(oracle)
    assert rtu.request_length(frame[:7]) == len(frame)
    assert rtu.parse_request(frame) == (slave, 16, address, len(values), values)


@given(slave_id, st.sampled_from([5, 6, 15, 16]), address_16, register)
def test_write_reply_round_trips(slave, function, address, value):
    value = (value % 2 == 1) if function == 5 else value
    frame = rtu.build_write_response(slave, function, address, value)
    assert rtu.parse_write_response(frame, slave, function, address, value) is None


@given(slave_id, st.sampled_from([1, 2, 3, 4]), st.integers(1, 0xFF))
def test_every_exception_code_round_trips(slave, function, code):
    frame = rtu.build_exception_response(slave, function, code)
    with pytest.raises(rtu.SlaveException) as caught:
        rtu.parse_read_response(frame, slave, function, 1)
    assert (caught.value.code, caught.value.function) == (code, function)
    assert type(caught.value) is type(rtu.exception_for_code(code, function))


# --- register values ----------------------------------------------------------------------------


@given(st.sampled_from(sorted(INTEGER_RANGES)), orders, st.data())
def test_integer_types_round_trip_over_their_whole_range(type, order, data):
    low, high = INTEGER_RANGES[type]
    value = data.draw(st.integers(low, high))
    words = reg.encode(value, type, order)
    assert len(words) == reg.register_count(type)
    assert reg.decode(words, type, order) == value
    with pytest.raises(reg.RegisterError):
        reg.encode(data.draw(st.sampled_from([low - 1, high + 1])), type, order)


@given(st.sampled_from([*sorted(INTEGER_RANGES), "float64"]), orders, st.data())
def test_any_registers_decode_and_encode_back_unchanged(type, order, data):
    words = data.draw(st.lists(register, min_size=reg.register_count(type),
                               max_size=reg.register_count(type)))
    value = reg.decode(words, type, order)
    assume(not (isinstance(value, float) and math.isnan(value)))  # NaN payloads may change
    assert reg.encode(value, type, order) == words


@given(st.sampled_from(sorted(PYMODBUS_TYPES)), st.sampled_from(sorted(PYMODBUS_WORD_ORDER)),
       st.data())
def test_encode_agrees_with_pymodbus(type, order, data):
    if type.startswith("float"):
        width = 32 if type == "float32" else 64
        value = data.draw(st.floats(width=width, allow_nan=False))
    else:
        value = data.draw(st.integers(*INTEGER_RANGES[type]))
    words = reg.encode(value, type, order)
    oracle = ModbusSerialClient.convert_to_registers(
        value, PYMODBUS_TYPES[type], word_order=PYMODBUS_WORD_ORDER[order])
    assert words == oracle
    assert _same_value(reg.decode(words, type, order), value)


@given(orders, st.floats(width=32))
def test_float32_round_trips_every_single(order, value):
    assert _same_value(reg.decode(reg.encode(value, "float32", order), "float32", order), value)


@given(orders, st.floats(min_value=3.5e38, allow_infinity=False))
def test_float32_refuses_finite_values_beyond_its_range(order, value):
    with pytest.raises(reg.RegisterError):
        reg.encode(value, "float32", order)


@given(st.sampled_from(["bcd16", "bcd32"]), orders, st.data())
def test_bcd_round_trips_and_every_word_is_decimal(type, order, data):
    digits = 4 * reg.register_count(type)
    value = data.draw(st.integers(0, 10**digits - 1))
    words = reg.encode(value, type, order)
    assert reg.decode(words, type, order) == value
    assert struct.pack(f">{len(words)}H", *words).hex().isdigit()


@given(orders, st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20))
def test_strings_round_trip(order, text):
    length = max(1, (len(text) + 1) // 2)
    assert reg.decode(reg.encode(text, "string", order, length), "string", order) == text


@given(orders, st.floats(min_value=-(2.0**31), max_value=2.0**31 - 1))
def test_long_fraction_round_trips_within_float32_of_the_fraction(order, value):
    decoded = reg.decode(reg.encode(value, "long_fraction", order), "long_fraction", order)
    assert abs(decoded - value) <= 1e-7


@given(st.floats(-1e9, 1e9), st.floats(0.001, 1000), st.floats(-1000, 1000),
       st.one_of(st.none(), st.integers(-4, 4)))
def test_unscaled_inverts_scaled(raw, scale, offset, decimals):
    value = reg.scaled(raw, scale, offset, decimals)
    # rounding error: a few ulps of raw, and of offset seen through the inverse scaling
    # (plus a floor for subnormal raw values, which scaling truncates)
    tolerance = 1e-12 * (abs(raw) + abs(offset) * 10.0 ** (decimals or 0) / scale) + 1e-300
    assert abs(reg.unscaled(value, scale, offset, decimals) - raw) <= tolerance


# --- DL/T 645 ------------------------------------------------------------------------------------

meter_address = st.text("0123456789", min_size=12, max_size=12)
data_identifier = st.text("0123456789ABCDEF", min_size=8, max_size=8)


@given(meter_address, data_identifier, st.binary(max_size=32), st.booleans())
def test_read_request_and_reply_round_trip(address, di, value, preamble):
    request = dlt645.build_read_request(address, di, preamble)
    assert dlt645.parse_request(request) == (address, dlt645.CONTROL_READ, di)
    reply = dlt645.build_read_reply(address, di, value, preamble)
    assert dlt645.parse_read_reply(reply, address, di) == value
    assert dlt645.parse_read_reply(reply, dlt645.BROADCAST_ADDRESS, di) == value


@given(st.binary(max_size=40).map(lambda b: b.replace(b"\x68", b"")), meter_address,
       st.binary(max_size=40))
def test_find_frame_locates_a_reply_between_noise(noise_before, address, noise_after):
    reply = dlt645.build_read_reply(address, "00010000", b"\x12\x34\x56\x78")
    stream = noise_before + reply + noise_after
    start, end = dlt645.find_frame(stream)
    assert dlt645.parse_read_reply(stream[start:end], address, "00010000") == b"\x12\x34\x56\x78"


@given(st.integers(1, 6), st.integers(0, 4), st.booleans(), st.data())
def test_bcd_values_round_trip(length, decimals, signed, data):
    top = (8 if signed else 10) * 10 ** (2 * length - 1) - 1
    number = data.draw(st.integers(-top if signed else 0, top))
    value = number / 10**decimals
    encoded = dlt645.encode_bcd(value, length, decimals, signed)
    assert len(encoded) == length
    assert math.isclose(dlt645.decode_bcd(encoded, decimals, signed), value, abs_tol=1e-12)
