"""Property tests of drivers/sl651.py (CPython only): round trips; damaged frames are refused."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers import sl651

centres = st.integers(1, 255)
stations = st.text("0123456789", min_size=10, max_size=10)
passwords = st.integers(0, 0xFFFF)
serials = st.integers(1, 0xFFFF)
minute_times = st.tuples(st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 31),
                         st.integers(0, 23), st.integers(0, 59))
send_times = st.tuples(st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 31),
                       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
identifiers = st.one_of(st.sampled_from(sorted(set(sl651.ELEMENTS) - set(sl651.BIT_ELEMENTS))),
                        st.integers(0xFF00, 0xFFFF))


@st.composite
def bcd_elements(draw):
    """(identifier, value, size, decimals) of a BCD element: signed, unsigned or no value."""
    identifier = draw(identifiers)
    size = draw(st.integers(1, 8))
    decimals = draw(st.integers(0, 7))
    kind = draw(st.sampled_from(("positive", "negative", "none") if size > 1
                                else ("positive", "none")))
    if kind == "none":
        return (identifier, None, size, decimals)
    digits = 2 * (size - 1 if kind == "negative" else size)
    number = draw(st.integers(1 if kind == "negative" else 0, 10 ** digits - 1))
    value = number / 10 ** decimals if decimals else number
    return (identifier, -value if kind == "negative" else value, size, decimals)


status_elements = st.builds(lambda word: (0x45, word, 4, 0), st.integers(0, 0xFFFFFFFE))
elements = st.lists(st.one_of(bcd_elements(), status_elements), max_size=6)


@st.composite
def reports(draw):
    """(frame bytes, centre, station, password, function, report fields) of a random report."""
    centre, station, password = draw(centres), draw(stations), draw(passwords)
    function = draw(st.sampled_from(sl651.REPORT_FUNCTIONS))
    fields = (draw(serials), draw(send_times), station,
              draw(st.sampled_from(sl651.STATION_CLASSES)), draw(minute_times), draw(elements))
    body = sl651.encode_report(*fields)
    return (sl651.build_report(centre, station, password, function, body), centre, station,
            password, function, fields)


@st.composite
def valid_frames(draw):
    """(frame bytes, a parse of it that must succeed): report, keep-alive, ack or M3 packet."""
    kind = draw(st.sampled_from(("report", "keep-alive", "ack", "m3")))
    centre, station, password = draw(centres), draw(stations), draw(passwords)
    serial, send_time = draw(serials), draw(send_times)
    if kind == "report":
        return draw(reports())[0], sl651.parse_uplink
    if kind == "keep-alive":
        return sl651.build_keep_alive(centre, station, password, serial, send_time), \
            sl651.parse_uplink
    if kind == "ack":
        function = draw(st.sampled_from((sl651.KEEP_ALIVE, *sl651.REPORT_FUNCTIONS)))
        end = draw(st.sampled_from((sl651.EOT, sl651.ESC)))
        frame = sl651.build_ack(centre, station, password, function, serial, send_time, end)
        return frame, lambda data: sl651.parse_ack(data, station, function, serial)
    body = draw(st.binary(min_size=1, max_size=60))
    packets = sl651.build_packets(centre, station, password, sl651.TIMED, body,
                                  draw(st.integers(1, 20)))
    return draw(st.sampled_from(packets)), sl651.parse_frame


def _same(got, want):
    if want is None or isinstance(want, int):
        return got == want
    return abs(got - want) <= 1e-9 * max(1.0, abs(want))


@given(reports())
def test_reports_round_trip(case):
    frame, centre, station, password, function, fields = case
    parsed, report = sl651.parse_uplink(frame)
    assert (parsed.centre, parsed.station, parsed.password, parsed.function) == (
        centre, station, password, function)
    serial, send_time, _, station_class, observed, sent = fields
    assert (report.serial, report.send_time, report.station, report.station_class,
            report.observed) == (serial, send_time, station, station_class, observed)
    assert len(report.elements) == len(sent)
    for got, want in zip(report.elements, sent, strict=True):
        assert got[0] == want[0] and got[2:] == want[2:], (got, want)
        assert _same(got[1], want[1]), (got, want)


@given(centres, stations, passwords, serials, send_times)
def test_keep_alives_and_acks_round_trip(centre, station, password, serial, send_time):
    up = sl651.build_keep_alive(centre, station, password, serial, send_time)
    parsed, header = sl651.parse_uplink(up)
    assert (parsed.centre, parsed.station, parsed.password) == (centre, station, password)
    assert header == (serial, send_time)
    down = sl651.build_ack(centre, station, password, sl651.KEEP_ALIVE, serial, send_time)
    assert sl651.parse_ack(down, station, sl651.KEEP_ALIVE, serial) == (sl651.EOT, send_time,
                                                                         None)


@given(centres, stations, passwords, st.binary(max_size=300), st.integers(1, 64), st.randoms())
def test_m3_packets_join_in_any_order(centre, station, password, body, size, rng):
    packets = sl651.build_packets(centre, station, password, sl651.TIMED, body, size)
    rng.shuffle(packets)
    assert sl651.join_packets(packets) == body


@given(valid_frames(), st.data())
def test_any_single_byte_change_is_refused(case, data):
    frame, parse = case
    parse(frame)
    index = data.draw(st.integers(0, len(frame) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda byte: byte != frame[index]))
    damaged = bytearray(frame)
    damaged[index] = new
    with pytest.raises(sl651.Sl651Error):
        parse(bytes(damaged))


@given(valid_frames(), st.data())
def test_a_change_behind_a_right_crc_is_read_or_refused_with_the_codecs_error(case, data):
    frame, parse = case
    index = data.draw(st.integers(0, len(frame) - 3))
    damaged = bytearray(frame)
    damaged[index] = data.draw(st.integers(0, 255))
    damaged[-2:] = sl651.crc_bytes(bytes(damaged[:-2]))
    with contextlib.suppress(sl651.Sl651Error):
        parse(bytes(damaged))


def _structure_broken(frame):
    """True if start, direction, STX/SYN or end byte is one the standard does not allow there."""
    ends = sl651.UP_ENDS + sl651.DOWN_ENDS
    return (frame[:2] != sl651.START or frame[11] >> 4 not in (sl651.UP, sl651.DOWN)
            or frame[13] not in (sl651.STX, sl651.SYN) or frame[-3] not in ends)


@given(valid_frames(), st.sampled_from((0, 1, 11, 13, -3)), st.integers(0, 255))
def test_a_broken_structure_is_refused_even_behind_a_right_crc(case, index, new):
    frame, _ = case
    damaged = bytearray(frame)
    damaged[index] = new
    damaged[-2:] = sl651.crc_bytes(bytes(damaged[:-2]))
    if not _structure_broken(damaged):
        return
    with pytest.raises(sl651.FrameError):
        sl651.parse_frame(bytes(damaged))
