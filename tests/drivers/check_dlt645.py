"""drivers.dlt645 against the vector tables: plain asserts, for pytest and MicroPython."""

from expect import close, raises, raises_exactly
from vectors import (
    DLT_ABNORMAL_REPLIES,
    DLT_BAD_REPLIES,
    DLT_BCD_VECTORS,
    DLT_FIND_FRAME_VECTORS,
    DLT_READ_ADDRESS_REPLY,
    DLT_READ_ADDRESS_REQUEST,
    DLT_READ_REPLIES,
    DLT_READ_REQUESTS,
    METER,
    h,
)

from drivers import dlt645


def test_address_codec():
    assert dlt645.encode_address("000000000001") == h("01 00 00 00 00 00")
    assert dlt645.encode_address(METER) == h("94 41 03 26 12 18")
    assert dlt645.encode_address(dlt645.BROADCAST_ADDRESS) == h("AA AA AA AA AA AA")
    assert dlt645.decode_address(h("94 41 03 26 12 18")) == METER
    assert dlt645.decode_address(dlt645.encode_address("123456789012")) == "123456789012"


def test_address_errors_name_the_address():
    for bad in ("12345678901", "1234567890123", "12345678901X", 123456789012, None):
        error = raises(ValueError, dlt645.encode_address, bad)
        assert repr(bad) in str(error), str(error)
    raises(dlt645.FrameError, dlt645.decode_address, h("01 02 03"))


def test_build_read_request_vectors():
    for address, di, preamble, frame, source in DLT_READ_REQUESTS:
        assert dlt645.build_read_request(address, di, preamble) == h(frame), source


def test_build_read_address_request_vector():
    frame, source = DLT_READ_ADDRESS_REQUEST
    assert dlt645.build_read_address_request() == h(frame), source
    assert dlt645.build_read_address_request(preamble=False) == h(frame)[4:], source


def test_data_identifier_errors():
    for bad in ("0001000", "000100000", "0001000G", 0x00010000):
        error = raises(ValueError, dlt645.build_read_request, METER, bad)
        assert repr(bad) in str(error), str(error)


def test_slave_parses_request_vectors():
    for address, di, _, frame, source in DLT_READ_REQUESTS:
        assert dlt645.parse_request(h(frame)) == (address, dlt645.CONTROL_READ, di), source
    frame, source = DLT_READ_ADDRESS_REQUEST
    expected = (dlt645.BROADCAST_ADDRESS, dlt645.CONTROL_READ_ADDRESS, None)
    assert dlt645.parse_request(h(frame)) == expected, source


def test_slave_refuses_replies_as_requests():
    raises_exactly(dlt645.FrameError, dlt645.parse_request, h(DLT_READ_REPLIES[0][2]))


def test_parse_frame_removes_offset_and_preamble():
    address, _, frame, value, source = DLT_READ_REPLIES[0]
    parsed = dlt645.parse_frame(h(frame))
    assert parsed == (address, 0x91, h("00 00 01 00") + h(value)), source
    assert dlt645.parse_frame(h(frame)[4:]) == parsed, source


def test_parse_read_reply_vectors():
    for address, di, frame, value, source in DLT_READ_REPLIES:
        assert dlt645.parse_read_reply(h(frame), address, di) == h(value), source
        assert dlt645.parse_read_reply(h(frame), dlt645.BROADCAST_ADDRESS, di) == h(value), source


def test_build_read_reply_vectors():
    for address, di, frame, value, source in DLT_READ_REPLIES:
        preamble = h(frame)[0] == 0xFE
        assert dlt645.build_read_reply(address, di, h(value), preamble) == h(frame), source


def test_read_address_reply_vector():
    frame, address, source = DLT_READ_ADDRESS_REPLY
    assert dlt645.parse_read_address_reply(h(frame)) == address, source
    assert dlt645.build_read_address_reply(address) == h(frame), source


def test_abnormal_replies_carry_code_and_meaning():
    for frame, control, code, words, source in DLT_ABNORMAL_REPLIES:
        assert dlt645.build_abnormal_reply(METER, control, code, False) == h(frame), source
        if control == dlt645.CONTROL_READ:
            error = raises_exactly(dlt645.AbnormalReply, dlt645.parse_read_reply, h(frame), METER,
                                   "00010000")
        else:
            error = raises_exactly(dlt645.AbnormalReply, dlt645.parse_read_address_reply,
                                   h(frame))
        assert error.error_code == code, source
        for word in words:
            assert word in error.meaning and word in str(error), (word, error.meaning)


def test_bad_replies_raise_distinct_errors():
    for frame, name, what, source in DLT_BAD_REPLIES:
        error_class = getattr(dlt645, name)
        error = raises_exactly(error_class, dlt645.parse_read_reply, h(frame), METER, "00010000")
        assert isinstance(error, dlt645.Dlt645Error), (what, source)


def test_wrong_address_names_both_meters():
    frame = DLT_BAD_REPLIES[5][0]
    error = raises(dlt645.WrongAddress, dlt645.parse_read_reply, h(frame), METER, "00010000")
    assert METER in str(error) and "000000000001" in str(error), str(error)
    assert dlt645.parse_read_reply(h(frame), "AAAAAAAAAA01", "00010000") == h("26 00 00 00")


def test_find_frame_vectors():
    for buffer, expected, what in DLT_FIND_FRAME_VECTORS:
        assert dlt645.find_frame(h(buffer)) == expected, what
        assert dlt645.find_frame(bytearray(h(buffer))) == expected, what


def test_find_frame_then_parse_every_split_of_a_stream():
    reply = h(DLT_READ_REPLIES[0][2])
    stream = h("00 68 16") + reply
    for cut in range(len(stream)):
        assert dlt645.find_frame(stream[:cut]) is None, cut
    start, end = dlt645.find_frame(stream)
    assert stream[end:] == b"" and start == 3 + 4
    assert dlt645.parse_read_reply(stream[start:end], METER, "00010000") == h("26 00 00 00")


def test_find_frame_hands_on_damaged_frames_for_parse_to_report():
    frame = h(DLT_BAD_REPLIES[0][0])
    assert dlt645.find_frame(frame) == (0, len(frame))
    raises_exactly(dlt645.ChecksumError, dlt645.parse_frame, frame)


def test_decode_bcd_vectors():
    for data, decimals, signed, value, source in DLT_BCD_VECTORS:
        assert close(dlt645.decode_bcd(h(data), decimals, signed), value, 1e-9), source


def test_encode_bcd_vectors():
    for data, decimals, signed, value, source in DLT_BCD_VECTORS:
        assert dlt645.encode_bcd(value, len(h(data)), decimals, signed) == h(data), source


def test_bcd_rejects_bad_digits_and_values_that_do_not_fit():
    error = raises(dlt645.FrameError, dlt645.decode_bcd, h("1A 00"), 2)
    assert "1A" in str(error), str(error)
    raises(dlt645.FrameError, dlt645.decode_bcd, h("00 F0"), 2)
    raises(dlt645.FrameError, dlt645.decode_bcd, b"", 2)
    error = raises(ValueError, dlt645.encode_bcd, 1000000.0, 4, 2)
    assert "1000000.0" in str(error) and "999999.99" in str(error), str(error)
    raises(ValueError, dlt645.encode_bcd, -1.0, 4, 2)
    raises(ValueError, dlt645.encode_bcd, 80.0, 3, 4, True)


def test_bcd_top_bit_is_a_digit_unless_signed():
    assert dlt645.decode_bcd(h("00 80"), 0) == 8000.0
    assert dlt645.decode_bcd(h("00 80"), 0, True) == 0.0
    assert dlt645.decode_bcd(h("00 A0"), 0, True) == -2000.0
    raises(dlt645.FrameError, dlt645.decode_bcd, h("00 A0"), 0)


def test_error_meaning_reads_every_bit():
    assert dlt645.error_meaning(0) == "no error bit set"
    assert dlt645.error_meaning(0x41) == "other error (其他错误); too many tariffs (费率数超)"
    assert len(dlt645.error_meaning(0xFF).split("; ")) == 8


def test_frames_longer_than_the_limit_are_refused():
    raises(ValueError, dlt645.build_read_reply, METER, "00010000", bytes(197))
    assert len(dlt645.build_read_reply(METER, "00010000", bytes(196), False)) == 12 + 200
