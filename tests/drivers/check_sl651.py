"""drivers.sl651 against its vector tables: plain asserts, for pytest and MicroPython."""

from expect import close, raises, raises_exactly
from vectors import h
from vectors_sl651 import (
    ACKS,
    ELEMENT_VECTORS,
    KEEP_ALIVE,
    M3_BODY,
    M3_PACKETS,
    SL_CRC_VECTORS,
    TIMED_REPORT,
)

from drivers import sl651


def _with_crc(frame):
    """The frame with its last two bytes replaced by the right CRC (to reach later checks)."""
    frame = bytes(frame[:-2])
    return frame + sl651.crc_bytes(frame)


def _changed(frame, index, value):
    damaged = bytearray(frame)
    damaged[index] = value
    return bytes(damaged)


def test_crc_vectors():
    for data, crc, source in SL_CRC_VECTORS:
        assert sl651.crc_bytes(h(data)) == h(crc), source


def test_build_keep_alive_vector():
    frame, centre, station, password, serial, send_time, source = KEEP_ALIVE
    assert sl651.build_keep_alive(centre, station, password, serial, send_time) == h(frame), source


def test_parse_keep_alive_vector():
    frame, centre, station, password, serial, send_time, source = KEEP_ALIVE
    parsed, header = sl651.parse_uplink(h(frame))
    expected = sl651.Frame(centre, station, password, sl651.KEEP_ALIVE, sl651.UP,
                           h("00 03 59 10 11 15 51 11"), sl651.ETX)
    assert parsed == expected, (parsed, source)
    assert header == (serial, send_time), source


def test_timed_report_vector_builds_and_parses():
    frame, function, serial, send_time, station_class, observed, elements, source = TIMED_REPORT
    body = sl651.encode_report(serial, send_time, "0012345678", station_class, observed,
                               elements)
    assert sl651.build_report(1, "0012345678", 0x1234, function, body) == h(frame), source
    parsed, report = sl651.parse_uplink(h(frame))
    assert (parsed.function, parsed.station, parsed.centre) == (function, "0012345678", 1)
    assert (report.serial, report.send_time, report.station, report.station_class,
            report.observed) == (serial, send_time, "0012345678", station_class, observed)
    assert len(report.elements) == len(elements), source
    for index in range(len(elements)):
        got, want = report.elements[index], elements[index]
        assert got[0] == want[0] and got[2:] == want[2:], (got, want)
        assert close(got[1], want[1], 1e-9), (got, want)
    assert close(report.value(0x38), 12.34, 1e-9)
    raises(KeyError, report.value, 0x27)


def test_ack_vectors_build_and_parse():
    for frame, function, serial, send_time, end, packet, source in ACKS:
        built = sl651.build_ack(1, "0012345678", 0x1234, function, serial, send_time, end, packet)
        assert built == h(frame), source
        assert sl651.parse_ack(h(frame), "0012345678", function, serial) == (end, send_time,
                                                                               packet), source
        parsed = sl651.parse_frame(h(frame))
        assert (parsed.direction, parsed.centre, parsed.station) == (sl651.DOWN, 1, "0012345678")


def test_ack_checks_what_it_acknowledges():
    frame = h(ACKS[0][0])
    error = raises_exactly(sl651.BodyError, sl651.parse_ack, frame, "0012345678", 0x2F, 4)
    assert "serial 3" in str(error) and "expected 4" in str(error), str(error)
    raises_exactly(sl651.BodyError, sl651.parse_ack, frame, "0012345678", 0x32, 3)
    raises_exactly(sl651.FrameError, sl651.parse_ack, frame, "0012345679", 0x2F, 3)
    raises_exactly(sl651.FrameError, sl651.parse_ack, h(KEEP_ALIVE[0]), "0012345678", 0x2F, 3)


def test_m3_packets_build_parse_and_join():
    frames = sl651.build_packets(1, "0012345678", 0x1234, 0x32, h(M3_BODY), 5)
    assert frames == [h(frame) for frame, _, _ in M3_PACKETS]
    for frame, packet, source in M3_PACKETS:
        parsed = sl651.parse_frame(h(frame))
        assert parsed.packet == packet, source
        assert parsed.end == (sl651.ETX if packet[0] == packet[1] else sl651.ETB), source
    assert sl651.join_packets(frames) == h(M3_BODY)
    assert sl651.join_packets(list(reversed(frames))) == h(M3_BODY)
    error = raises(sl651.FrameError, sl651.join_packets, frames[:1])
    assert "[2]" in str(error), str(error)
    raises(sl651.FrameError, sl651.join_packets, frames + frames[1:])
    raises(sl651.FrameError, sl651.join_packets, [])


def test_m3_end_byte_must_match_the_sequence():
    last = h(M3_PACKETS[1][0])
    error = raises_exactly(sl651.FrameError, sl651.parse_frame, _with_crc(
        _changed(last, len(last) - 3, sl651.ETB)))
    assert "ETX" in str(error), str(error)
    zero = _with_crc(_changed(last, 16, 0x00))  # packet 0 of 2
    raises_exactly(sl651.FrameError, sl651.parse_frame, zero)
    raises(ValueError, sl651.build_frame, 1, "0012345678", 0, 0x32, sl651.UP, b"", sl651.ETB,
           (2, 2))
    raises(ValueError, sl651.build_frame, 1, "0012345678", 0, 0x32, sl651.UP, b"", sl651.ETX,
           (2, 3))


def test_element_vectors_encode_and_decode():
    for identifier, value, size, decimals, data, source in ELEMENT_VECTORS:
        assert sl651.encode_element(identifier, value, size, decimals) == h(data), source
        decoded = sl651.decode_elements(h(data))
        assert len(decoded) == 1, (decoded, source)
        got_id, got_value, got_size, got_decimals = decoded[0]
        assert (got_id, got_size, got_decimals) == (identifier, size, decimals), source
        if value is None:
            assert got_value is None, source
        else:
            assert close(got_value, value, 1e-9), (got_value, source)


def test_element_table_holds_the_identifiers_the_gateway_needs():
    for guide in (0x27, 0x39, 0x0E, 0x38, 0x45):
        assert guide in sl651.ELEMENTS, "%02X" % guide
    for meter in range(8):
        assert 0x68 + meter in sl651.ELEMENTS, "hourly volume of meter %d" % (meter + 1)
    for guide in sl651.ELEMENTS:
        assert guide < 0xFF, "user-defined FFxx identifiers are parameters, not in the table"


def test_element_errors_say_what_was_given():
    error = raises(ValueError, sl651.encode_element, 0x39, 100000.0, 4, 3)
    assert "100000.0" in str(error) and "4 bytes" in str(error), str(error)
    raises(ValueError, sl651.encode_element, 0x39, -1.0, 1, 0)  # only the sign byte
    raises(ValueError, sl651.encode_element, 0xFF, 1, 1, 0)
    raises(ValueError, sl651.encode_element, 0x1FFFF, 1, 1, 0)
    raises(ValueError, sl651.encode_element, 0x39, 1, 0, 0)
    raises_exactly(sl651.BcdError, sl651.decode_elements, h("39 23 00 01 2A 45"))
    raises_exactly(sl651.BodyError, sl651.decode_elements, h("39 23 00 01 23"))
    raises_exactly(sl651.BodyError, sl651.decode_elements, h("39"))
    raises_exactly(sl651.BodyError, sl651.decode_elements, h("FF"))
    raises_exactly(sl651.BodyError, sl651.decode_elements, h("39 00"))


def test_station_and_time_codecs():
    assert sl651.encode_station("0012345678") == h("00 12 34 56 78")
    assert sl651.decode_station(h("00 12 34 56 78")) == "0012345678"
    for bad in ("001234567", "00123456789", "001234567A", 12345678, None):
        error = raises(ValueError, sl651.encode_station, bad)
        assert repr(bad) in str(error), str(error)
    raises_exactly(sl651.BcdError, sl651.decode_station, h("00 12 34 56 7A"))
    assert sl651.encode_time((2025, 12, 1, 8, 0, 5)) == h("25 12 01 08 00 05")
    assert sl651.decode_time(h("25 12 01 08 00")) == (2025, 12, 1, 8, 0)
    for bad in (h("25 13 01 08 00"), h("25 12 00 08 00"), h("25 12 01 24 00"),
                h("25 12 01 08 60"), h("25 12 01 08 00 60"), h("2A 12 01 08 00")):
        raises(sl651.BcdError, sl651.decode_time, bad)
    raises(ValueError, sl651.encode_time, (1999, 12, 1, 8, 0))
    raises(ValueError, sl651.encode_time, (2025, 12, 1, 8))


def test_every_check_of_the_frame_refuses_with_its_reason():
    frame = h(KEEP_ALIVE[0])
    cases = [
        (frame[:16], sl651.FrameError, "shorter"),
        (_with_crc(_changed(frame, 0, 0x7F)), sl651.FrameError, "7E 7E"),
        (_changed(frame, 12, 0x09), sl651.FrameError, "length field 9"),
        (frame[:-1] + b"\xcb", sl651.CrcError, "computed 6B CA"),
        (_with_crc(_changed(frame, 11, 0x40)), sl651.FrameError, "direction nibble 4"),
        (_with_crc(_changed(frame, 11, 0x80)), sl651.FrameError, "ends in 03"),
        (_with_crc(_changed(frame, 7, 0x7A)), sl651.BcdError, "station address"),
        (_with_crc(_changed(frame, 2, 0x00)), sl651.FrameError, "centre address 0"),
        (_with_crc(_changed(frame, 13, 0x01)), sl651.FrameError, "STX 02 or SYN 16"),
        (_with_crc(_changed(frame, 22, 0x04)), sl651.FrameError, "ends in 04"),
    ]
    for damaged, error_class, words in cases:
        error = raises_exactly(error_class, sl651.parse_frame, damaged)
        assert words in str(error), (words, str(error))


def test_the_body_is_checked_too():
    frame = h(KEEP_ALIVE[0])
    cases = [
        (_with_crc(_changed(frame, 17, 0x13)), sl651.BcdError, "month 13"),
        (_with_crc(_changed(frame, 16, 0x5A)), sl651.BcdError, "5A is not BCD"),
        (_with_crc(_changed(_changed(frame, 14, 0), 15, 0)), sl651.BodyError, "serial 0"),
    ]
    for damaged, error_class, words in cases:
        error = raises_exactly(error_class, sl651.parse_uplink, damaged)
        assert words in str(error), (words, str(error))
    report = h(TIMED_REPORT[0])
    other_station = _with_crc(_changed(report, 28, 0x79))
    error = raises_exactly(sl651.BodyError, sl651.parse_uplink, other_station)
    assert "0012345679" in str(error), str(error)
    raises_exactly(sl651.BodyError, sl651.parse_uplink, _with_crc(_changed(report, 29, 0x48)))
    raises_exactly(sl651.BodyError, sl651.parse_uplink, _with_crc(_changed(report, 30, 0xF2)))
    raises_exactly(sl651.FrameError, sl651.parse_uplink, h(ACKS[0][0]))
    header_only = sl651.decode_header(h("00 04 25 12 01 08 00 05"))
    assert header_only == (4, (2025, 12, 1, 8, 0, 5))
    cut = report[14:14 + 22]  # the observation time one byte short
    error = raises_exactly(sl651.BodyError, sl651.decode_report, cut)
    assert "observation time" in str(error), str(error)


def test_every_single_byte_change_of_the_checked_frame_is_refused():
    frame = h(KEEP_ALIVE[0])
    for index in range(len(frame)):
        for delta in (0x01, 0x80, 0xFF):
            damaged = _changed(frame, index, frame[index] ^ delta)
            raises(sl651.Sl651Error, sl651.parse_uplink, damaged)


def test_build_refuses_bad_arguments():
    station = "0012345678"
    raises(ValueError, sl651.build_frame, 0, station, 0, 0x2F, sl651.UP, b"", sl651.ETX)
    raises(ValueError, sl651.build_frame, 1, station, 0x10000, 0x2F, sl651.UP, b"", sl651.ETX)
    raises(ValueError, sl651.build_frame, 1, station, 0, 0x2F, 4, b"", sl651.ETX)
    error = raises(ValueError, sl651.build_frame, 1, station, 0, 0x2F, sl651.UP, b"", sl651.EOT)
    assert "ETX 03" in str(error), str(error)
    raises(ValueError, sl651.build_frame, 1, station, 0, 0x2F, sl651.DOWN, b"", sl651.ETX)
    raises(ValueError, sl651.build_frame, 1, station, 0, 0x2F, sl651.UP, bytes(4096), sl651.ETX)
    raises(ValueError, sl651.build_keep_alive, 1, station, 0, 0, (2025, 1, 1, 0, 0, 0))
    raises(ValueError, sl651.build_report, 1, station, 0, 0x2F, b"")
    raises(ValueError, sl651.encode_report, 1, (2025, 1, 1, 0, 0, 0), station, 0x50,
           (2025, 1, 1, 0, 0), [])
    assert len(sl651.build_frame(1, station, 0, 0x2F, sl651.UP, bytes(4095), sl651.ETX)) == 4112


def test_find_frame_in_a_stream():
    frame = h(KEEP_ALIVE[0])
    stream = h("00 7E 55") + frame + h("7E")
    for cut in range(3 + len(frame)):
        assert sl651.find_frame(stream[:cut]) is None, cut
    start, end = sl651.find_frame(stream)
    assert (start, end) == (3, 3 + len(frame))
    assert sl651.parse_frame(stream[start:end]).function == sl651.KEEP_ALIVE
    assert sl651.find_frame(bytearray(stream)) == (3, 3 + len(frame))
