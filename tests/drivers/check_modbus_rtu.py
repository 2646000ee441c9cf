"""drivers.modbus_rtu against the vector tables: plain asserts, for pytest and MicroPython."""

from expect import raises, raises_exactly
from vectors import (
    BAD_REPLIES,
    CRC_VECTORS,
    EXCEPTIONS,
    READ_REQUESTS,
    READ_RESPONSES,
    WRITES,
    h,
)

from drivers import modbus_rtu as rtu


def _bitwise_crc16(data):
    """CRC-16/MODBUS the slow way, bit by bit, to check the table-driven one."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc16_vectors():
    for data, crc, source in CRC_VECTORS:
        sent = h(crc)
        assert rtu.crc16(h(data)) == sent[0] | sent[1] << 8, source
        assert rtu.append_crc(h(data)) == h(data) + sent, source


def test_crc16_table_agrees_with_bitwise_definition():
    frames = [h(data) for data, _, _ in CRC_VECTORS] + [bytes(range(256)), b"\xff" * 300]
    for frame in frames:
        assert rtu.crc16(frame) == _bitwise_crc16(frame), frame


def test_crc_ok_accepts_good_and_rejects_damaged_frames():
    for data, crc, source in CRC_VECTORS[:2]:
        sent = h(crc)
        assert rtu.crc_ok(h(data) + sent), source
        assert not rtu.crc_ok(h(data) + bytes([sent[0], sent[1] ^ 0x01])), source
        assert not rtu.crc_ok(h(data) + bytes([sent[1], sent[0]])), source
    assert not rtu.crc_ok(h("FF FF"))
    assert not rtu.crc_ok(b"")


def test_build_read_request_vectors():
    for slave, function, address, count, frame, source in READ_REQUESTS:
        assert rtu.build_read_request(slave, function, address, count) == h(frame), source


def test_slave_parses_read_request_vectors():
    for slave, function, address, count, frame, source in READ_REQUESTS:
        assert rtu.request_length(h(frame)) == 8, source
        assert rtu.parse_request(h(frame)) == (slave, function, address, count, None), source


def test_build_read_request_rejects_out_of_range_arguments():
    cases = [
        ((0, 3, 0, 1), "slave id 0"),
        ((248, 3, 0, 1), "slave id 248"),
        ((1, 5, 0, 1), "function 5"),
        ((1, 3, 0, 0), "count 0"),
        ((1, 3, 0, 126), "count 126"),
        ((1, 4, 0, 126), "count 126"),
        ((1, 1, 0, 2001), "count 2001"),
        ((1, 2, 0, 2001), "count 2001"),
        ((1, 3, 65536, 1), "address 65536"),
        ((1, 3, -1, 1), "address -1"),
        ((1, 3, 65535, 2), "address 65535 + count 2"),
    ]
    for args, named in cases:
        error = raises(ValueError, rtu.build_read_request, *args)
        assert named in str(error), (args, str(error))


def test_response_length_matches_vector_replies():
    for _, function, values, frame, source in READ_RESPONSES:
        assert rtu.response_length(function, len(values)) == len(h(frame)), source
    for _, _, _, _, _, reply, source in WRITES:
        if reply is not None:
            assert rtu.response_length(h(reply)[1], 0) == len(h(reply)), source
    raises(ValueError, rtu.response_length, 7, 1)


def test_parse_read_response_vectors():
    for slave, function, values, frame, source in READ_RESPONSES:
        assert rtu.parse_read_response(h(frame), slave, function, len(values)) == values, source


def test_build_read_response_vectors():
    for slave, function, values, frame, source in READ_RESPONSES:
        assert rtu.build_read_response(slave, function, values) == h(frame), source


def test_build_read_response_rejects_bad_values():
    raises(ValueError, rtu.build_read_response, 1, 3, [0x10000])
    raises(ValueError, rtu.build_read_response, 1, 3, [-1])
    raises(ValueError, rtu.build_read_response, 1, 3, [])
    raises(ValueError, rtu.build_read_response, 1, 3, [0] * 126)
    raises(ValueError, rtu.build_read_response, 0, 3, [0])


def test_exception_replies_raise_one_class_per_code():
    for code, name, frame, source in EXCEPTIONS:
        error_class = getattr(rtu, name)
        assert rtu.build_exception_response(1, 4, code) == h(frame), source
        error = raises_exactly(error_class, rtu.parse_read_response, h(frame), 1, 4, 2)
        assert (error.code, error.function) == (code, 4), source
        assert str(code) in str(error), str(error)
        assert type(rtu.exception_for_code(code, 4)) is error_class
        assert isinstance(error, rtu.SlaveException) and isinstance(error, rtu.ModbusError)


def test_exception_reply_to_a_write_raises_too():
    frame = rtu.build_exception_response(1, 6, 2)
    error = raises_exactly(rtu.IllegalDataAddress, rtu.parse_write_response, frame, 1, 6, 0, 1)
    assert error.function == 6


def test_bad_replies_raise_distinct_frame_errors():
    for frame, name, what, source in BAD_REPLIES:
        error = raises_exactly(getattr(rtu, name), rtu.parse_read_response, h(frame), 1, 4, 2)
        assert isinstance(error, rtu.FrameError), (what, source)
        assert isinstance(error, rtu.ModbusError), (what, source)


def test_frame_errors_say_what_was_expected():
    error = raises(rtu.WrongSlave, rtu.parse_read_response, h(BAD_REPLIES[2][0]), 1, 4, 2)
    assert "slave 2" in str(error) and "slave 1" in str(error), str(error)
    error = raises(rtu.WrongFunction, rtu.parse_read_response, h(BAD_REPLIES[4][0]), 1, 4, 2)
    assert "3" in str(error) and "4" in str(error), str(error)
    error = raises(rtu.CrcError, rtu.parse_read_response, h(BAD_REPLIES[0][0]), 1, 4, 2)
    assert "1B 39" in str(error) and "1B 38" in str(error), str(error)


_WRITE_BUILDERS = {
    "coil": rtu.build_write_single_coil,
    "register": rtu.build_write_single_register,
    "registers": rtu.build_write_multiple_registers,
}


def test_write_requests_build_from_vectors():
    for kind, slave, address, value, request, _, source in WRITES:
        if kind in _WRITE_BUILDERS:
            assert _WRITE_BUILDERS[kind](slave, address, value) == h(request), source


def test_slave_parses_write_request_vectors():
    for kind, slave, address, value, request, _, source in WRITES:
        function = h(request)[1]
        if kind == "coil":
            wire_value = rtu.COIL_ON if value else rtu.COIL_OFF
            expected = (slave, function, address, wire_value, None)
        elif kind == "register":
            expected = (slave, function, address, value, None)
        else:
            expected = (slave, function, address, len(value), value)
        assert rtu.request_length(h(request)) == len(h(request)), source
        assert rtu.parse_request(h(request)) == expected, source


def test_write_replies_build_and_parse_from_vectors():
    for kind, slave, address, value, request, reply, source in WRITES:
        if reply is None:
            continue
        function = h(request)[1]
        echoed = len(value) if kind in ("registers", "coils") else value
        assert rtu.build_write_response(slave, function, address, echoed) == h(reply), source
        assert rtu.parse_write_response(h(reply), slave, function, address, echoed) is None


def test_write_reply_with_wrong_echo_is_rejected():
    reply = rtu.build_write_response(1, 6, 0x0010, 0x1234)
    raises_exactly(rtu.WrongEcho, rtu.parse_write_response, reply, 1, 6, 0x0011, 0x1234)
    raises_exactly(rtu.WrongEcho, rtu.parse_write_response, reply, 1, 6, 0x0010, 0x1235)
    coil_off = rtu.build_write_response(1, 5, 3, False)
    raises_exactly(rtu.WrongEcho, rtu.parse_write_response, coil_off, 1, 5, 3, True)
    raises(ValueError, rtu.parse_write_response, reply, 1, 3, 0x0010, 0x1234)


def test_write_builders_reject_out_of_range_arguments():
    raises(ValueError, rtu.build_write_single_register, 1, 0, 0x10000)
    raises(ValueError, rtu.build_write_single_register, 1, 0, -1)
    raises(ValueError, rtu.build_write_single_register, 248, 0, 1)
    raises(ValueError, rtu.build_write_single_coil, 1, 0x10000, True)
    raises(ValueError, rtu.build_write_multiple_registers, 1, 0, [])
    raises(ValueError, rtu.build_write_multiple_registers, 1, 0, [0] * 124)
    raises(ValueError, rtu.build_write_multiple_registers, 1, 0, [0, 70000])
    raises(ValueError, rtu.build_write_multiple_registers, 1, 65535, [0, 0])
    assert len(rtu.build_write_multiple_registers(1, 0, [0] * 123)) == 9 + 246


def test_request_length_waits_for_the_byte_count():
    request = h(WRITES[4][4])
    for cut in range(len(request) + 1):
        expected = None if cut < 7 else len(request)
        assert rtu.request_length(request[:cut]) == expected, cut
    assert rtu.request_length(h("11")) is None
    assert rtu.request_length(h("11 03")) == 8


def test_request_length_refuses_unknown_functions():
    error = raises_exactly(rtu.WrongFunction, rtu.request_length, h("01 2B 0E 01 00"))
    assert "43" in str(error), str(error)


def test_parse_request_rejects_damaged_requests():
    good = h(READ_REQUESTS[0][4])
    raises_exactly(rtu.CrcError, rtu.parse_request, good[:-1] + b"\x00")
    raises_exactly(rtu.WrongLength, rtu.parse_request, good[:3])
    raises_exactly(rtu.WrongLength, rtu.parse_request, rtu.append_crc(good[:-2] + b"\x00"))
    bad_count = rtu.append_crc(h("11 10 00 01 00 02 03 00 0A 01"))
    raises_exactly(rtu.WrongLength, rtu.parse_request, bad_count)


def test_exception_response_arguments_are_checked():
    raises(ValueError, rtu.build_exception_response, 1, 0x80, 1)
    raises(ValueError, rtu.build_exception_response, 1, 3, 0)


def test_error_families():
    for name in ("CrcError", "WrongSlave", "WrongFunction", "WrongLength", "WrongEcho"):
        assert issubclass(getattr(rtu, name), rtu.FrameError), name
    assert issubclass(rtu.FrameError, rtu.ModbusError)
    assert issubclass(rtu.SlaveException, rtu.ModbusError)
    assert not issubclass(rtu.SlaveException, rtu.FrameError)


def test_bus_timing_follows_serial_line_spec():
    assert rtu.char_time(9600) == 11 / 9600
    assert rtu.char_time(9600, bits_per_char=10) == 10 / 9600
    assert rtu.silent_interval(9600) == 3.5 * 11 / 9600
    assert rtu.silent_interval(19200) == 3.5 * 11 / 19200
    assert rtu.silent_interval(38400) == 0.00175
    assert rtu.inter_char_limit(9600) == 1.5 * 11 / 9600
    assert rtu.inter_char_limit(115200) == 0.00075
    # 2 registers at 9600 baud (8-byte request, 9-byte reply) cost about 27 ms: 11-bit characters
    # and 3.5-character silences (Modbus over serial line V1.02 §2.5.1.1), the sum of
    # shared/domain/protocols.md
    seconds = rtu.transaction_time(9600, 8, 9)
    assert abs(seconds - (17 * 11 / 9600 + 7 * 11 / 9600)) < 1e-12
    assert 0.027 < seconds < 0.028
    assert rtu.transaction_time(9600, 8, 9, turnaround=0.01) == seconds + 0.01
    raises(ValueError, rtu.char_time, 0)
