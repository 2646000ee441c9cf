"""Property tests of drivers/sl427 (CPython): build -> parse round trips, damaged frames refused."""

from hypothesis import given
from hypothesis import strategies as st

from drivers import sl427

E21, E16 = sl427.EDITION_2021, sl427.EDITION_2016
RAW_KINDS = ("rainfall", "velocity", "gate", "power", "water_temperature", "water_quality",
             "soil_moisture", "evaporation", "alarm_status", "statistics", "water_pressure")

editions = st.sampled_from(sl427.EDITIONS)
counties = st.text(alphabet="0123456789", min_size=6, max_size=6)
stations = st.integers(1, sl427.MAX_STATION)
fcbs = st.integers(0, sl427.MAX_FCB)
divs_values = st.none() | st.integers(1, 255)
words = st.integers(0, 0xFFFF)


def _scaled(low, high, decimals):
    return st.none() | st.integers(low, high).map(lambda n: n / 10 ** decimals)


FLOW = _scaled(-7999999999, 7999999999, 3)
VOLUME = _scaled(-7999999999, 7999999999, 0)
LEVEL = _scaled(-9999999, 9999999, 3)
ENERGY = _scaled(0, 99999999, 2)


@st.composite
def time_tags(draw, edition):
    day, hour = draw(st.integers(1, 31)), draw(st.integers(0, 23))
    minute, second = draw(st.integers(0, 59)), draw(st.integers(0, 59))
    delay = draw(st.integers(0, 255))
    if edition == E16:
        return (None, None, day, hour, minute, second, delay)
    return (draw(st.integers(2000, 2099)), draw(st.integers(1, 12)), day, hour, minute, second,
            delay)


@st.composite
def self_reports(draw):
    """(edition, arguments of build_self_report) for a random valid self-report."""
    edition = draw(editions)
    kinds = ["flow", "water_level"] + list(RAW_KINDS) + (["energy"] if edition == E21 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "flow":
        pairs = draw(st.lists(st.tuples(FLOW, VOLUME), min_size=1, max_size=3))
        values = [value for pair in pairs for value in pair]
    elif kind == "water_level":
        values = draw(st.lists(LEVEL, min_size=1, max_size=4))
    elif kind == "energy":
        values = draw(st.lists(ENERGY, min_size=1, max_size=4))
    else:
        values = draw(st.binary(min_size=1, max_size=12))
    arguments = (edition, draw(counties), draw(stations), kind, values, draw(words), draw(words),
                 draw(time_tags(edition)), draw(st.sampled_from(sl427.WORD_ORDERS)), draw(fcbs),
                 draw(divs_values))
    return arguments


@st.composite
def any_frames(draw):
    """(bytes, parse function of one argument) of a random valid frame of any kind here."""
    which = draw(st.sampled_from(("report", "link", "ack", "generic")))
    if which == "report":
        arguments = draw(self_reports())
        edition, order = arguments[0], arguments[8]
        return (sl427.build_self_report(*arguments),
                lambda frame: sl427.parse_self_report(frame, edition, order))
    edition = draw(editions)
    tag = draw(st.none() | time_tags(edition))
    if which == "link":
        frame = sl427.build_link_check(edition, draw(counties), draw(stations),
                                       draw(st.sampled_from(sl427.LINK_KINDS)), tag, draw(fcbs))
        return frame, lambda frame: sl427.parse_link_check(frame, edition)
    if which == "ack":
        afn = draw(st.integers(0, 255))
        frame = sl427.build_ack(edition, draw(counties), draw(stations), afn,
                                draw(st.integers(0, 255)), tag, draw(fcbs))
        return frame, lambda frame: sl427.parse_ack(frame, edition, afn)
    up, password = draw(st.booleans()), draw(st.none() | st.tuples(st.integers(0, 9),
                                                                    st.integers(0, 999)))
    fields = sl427.Frame(up, draw(fcbs), draw(st.integers(0, 15)), draw(divs_values),
                         draw(counties), draw(stations), draw(st.integers(0, 255)),
                         draw(st.binary(max_size=200)), password, tag)
    frame = sl427.build_frame(edition, fields)
    return frame, lambda frame: sl427.parse_frame(frame, edition, up, password is not None,
                                                  tag is not None)


@given(self_reports())
def test_self_report_round_trip(arguments):
    edition, county, station, kind, values, alarm, status, tag, order, fcb, divs = arguments
    frame = sl427.build_self_report(*arguments)
    assert len(frame) == frame[1] + 5
    parsed, got_kind, got_values, got_alarm, got_status = sl427.parse_self_report(
        frame, edition, order, county, station)
    assert (got_kind, got_values, got_alarm, got_status) == (kind, values, alarm, status)
    assert (parsed.fcb, parsed.divs, parsed.time_tag) == (fcb, divs, tag)


@given(editions, st.data())
def test_generic_frame_round_trip(edition, data):
    tag = data.draw(st.none() | time_tags(edition))
    password = data.draw(st.none() | st.tuples(st.integers(0, 9), st.integers(0, 999)))
    fields = sl427.Frame(data.draw(st.booleans()), data.draw(fcbs), data.draw(st.integers(0, 15)),
                         data.draw(divs_values), data.draw(counties), data.draw(stations),
                         data.draw(st.integers(0, 255)), data.draw(st.binary(max_size=200)),
                         password, tag)
    frame = sl427.build_frame(edition, fields)
    assert sl427.parse_frame(frame, edition, fields.up, password is not None,
                             tag is not None) == fields


@given(any_frames(), st.data())
def test_any_single_byte_change_is_refused(built, data):
    frame, parse = built
    parse(frame)  # the frame itself is valid
    index = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != frame[index]))
    damaged = bytearray(frame)
    damaged[index] = value
    try:
        parse(bytes(damaged))
    except sl427.Sl427Error as error:
        assert str(error)
    else:
        raise AssertionError(f"byte {index} changed {frame[index]:02X} -> {value:02X} was "
                             "accepted")


@given(any_frames(), st.data())
def test_a_byte_missing_or_added_is_refused(built, data):
    frame, parse = built
    index = data.draw(st.integers(0, len(frame)))
    if data.draw(st.booleans()) and index < len(frame):
        damaged = frame[:index] + frame[index + 1:]
    else:
        damaged = frame[:index] + bytes((data.draw(st.integers(0, 255)),)) + frame[index:]
    try:
        parse(damaged)
    except sl427.Sl427Error:
        return
    raise AssertionError(f"frame with a byte missing or added at {index} was accepted")
