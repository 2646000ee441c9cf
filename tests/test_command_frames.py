"""Property tests of drivers/sl427_commands.py and drivers/sl651_queries.py (CPython): round
trips, and any single changed byte of a valid command or reply is refused."""

from hypothesis import given
from hypothesis import strategies as st

from drivers import sl427, sl651
from drivers import sl427_commands as commands
from drivers import sl651_queries as queries

editions = st.sampled_from(sl427.EDITIONS)
counties = st.text(alphabet="0123456789", min_size=6, max_size=6)
stations = st.integers(1, sl427.MAX_STATION)
passwords = st.tuples(st.integers(0, 9), st.integers(0, 999))
clocks = st.tuples(st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 31),
                   st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), st.integers(0, 7))
send_times = st.tuples(st.integers(2000, 2099), st.integers(1, 12), st.integers(1, 31),
                       st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
stations_651 = st.text("0123456789", min_size=10, max_size=10)


@st.composite
def time_tags(draw, edition):
    clock = draw(clocks)
    if edition == sl427.EDITION_2016:
        return (None, None, *clock[2:6], draw(st.integers(0, 255)))
    return (*clock[:6], draw(st.integers(0, 255)))


@st.composite
def sl427_frames(draw):
    """(frame, parse of one argument, expected parse result) of a random command or reply."""
    edition = draw(editions)
    county, station = draw(counties), draw(stations)
    which = draw(st.sampled_from(("query", "clock", "pump", "clock_reply", "pump_reply",
                                  "status_reply", "realtime_reply", "address_reply",
                                  "mode_reply")))
    if which == "query":
        afn = draw(st.sampled_from(commands.QUERY_AFNS))
        kind = "flow" if afn == sl427.AFN_QUERY_REALTIME else None
        frame = commands.build_query(edition, county, station, afn, kind)
        return frame, lambda f: commands.parse_command(f, edition)[1], None
    if which == "clock":
        clock = draw(clocks)
        frame = commands.build_set_clock(edition, county, station, clock, draw(passwords),
                                         draw(time_tags(edition)))
        return frame, lambda f: commands.parse_command(f, edition)[1], clock
    if which == "pump":
        device = draw(st.sampled_from((commands.PUMP_DEVICE, commands.GATE_DEVICE)))
        number = draw(st.integers(0, 15))
        frame = commands.build_pump_control(edition, county, station, draw(st.booleans()),
                                            number, draw(passwords), draw(time_tags(edition)),
                                            device)
        return frame, lambda f: commands.parse_command(f, edition)[1], (device, number)
    tag = draw(st.none() | time_tags(edition))
    if which == "clock_reply":
        clock = draw(clocks)
        frame = commands.build_clock_reply(edition, county, station, commands.AFN_QUERY_CLOCK,
                                           clock, tag)
        return frame, lambda f: commands.parse_clock_reply(f, edition)[1], clock
    if which == "address_reply":
        frame = commands.build_address_reply(edition, county, station, tag)
        return (frame, lambda f: commands.parse_address_reply(f, edition)[1:],
                (county, station))
    if which == "mode_reply":
        mode = draw(st.integers(0, 3))
        frame = commands.build_mode_reply(edition, county, station, mode, tag)
        return frame, lambda f: commands.parse_mode_reply(f, edition)[1], mode
    if which == "pump_reply":
        number, done = draw(st.integers(0, 15)), draw(st.booleans())
        frame = commands.build_pump_reply(edition, county, station, commands.AFN_PUMP_START,
                                          number, done, tag)
        return (frame, lambda f: commands.parse_pump_reply(f, edition, 0x92)[1:],
                (number, done))
    alarm, status = draw(st.integers(0, 0xFFFF)), draw(st.integers(0, 0xFFFF))
    if which == "status_reply":
        frame = commands.build_status_reply(edition, county, station, alarm, status, "little",
                                            tag)
        return frame, lambda f: commands.parse_status_reply(f, edition)[1:], (alarm, status)
    values = [draw(st.none() | st.integers(0, 99999999).map(lambda n: n / 1000)),
              draw(st.none() | st.integers(0, 9999999))]
    frame = commands.build_realtime_reply(edition, county, station, "flow", values, alarm,
                                          status, "little", tag)
    return (frame, lambda f: commands.parse_realtime_reply(f, edition)[1:],
            ("flow", values, alarm, status))


@st.composite
def sl651_frames(draw):
    """(frame, parse, expected) of a random SL 651 query or reply."""
    function = draw(st.sampled_from(queries.QUERIES))
    station, password = draw(stations_651), draw(st.integers(0, 0xFFFF))
    serial, send_time = draw(st.integers(1, 0xFFFF)), draw(send_times)
    pumps = draw(st.lists(st.booleans(), min_size=8, max_size=16).map(
        lambda states: states[:8 * (len(states) // 8)]))
    data = queries.encode_pumps(pumps) if function == queries.PUMP_CONTROL else b""
    parameters = []
    if function in (queries.QUERY_BASIC, queries.QUERY_RUN):
        wanted = queries.BASIC_PARAMETERS if function == queries.QUERY_BASIC \
            else queries.RUN_PARAMETERS
        identifiers = draw(st.lists(st.sampled_from(wanted), min_size=1, max_size=4))
        data = queries.encode_parameter_request(function, identifiers)
        values = {queries.CENTRES: [draw(st.integers(0, 255)) for _ in range(4)],
                  queries.STATION_ADDRESS: station, queries.PASSWORD: password,
                  queries.WORK_MODE: draw(st.integers(1, 4)),
                  queries.REPORT_HOURS: draw(st.integers(0, 99)),
                  queries.ADD_REPORT_MINUTES: draw(st.integers(0, 99))}
        parameters = [(identifier, values[identifier]) for identifier in identifiers]
    if draw(st.booleans()):
        frame = queries.build_query(1, station, password, function, serial, send_time, data)
        return frame, lambda f: queries.parse_query(f)[1:], (serial, send_time, data)
    result = None
    if function == queries.PUMP_CONTROL:
        result = pumps
    elif function in (queries.QUERY_BASIC, queries.QUERY_RUN):
        result = parameters
        data = queries.encode_parameters(parameters)
    elif function == queries.QUERY_STATUS:
        result = draw(st.integers(0, 0xFFFFFFFE))
        data = sl651.encode_element(0x45, result, 4, 0)
    elif function == queries.QUERY_REALTIME:
        body = sl651.encode_report(serial, send_time, station, sl651.GROUNDWATER,
                                   send_time[:5], [(0x39, 1.5, 4, 3)])
        data = body[15:]
    frame = queries.build_reply(1, station, password, function, serial, send_time, data)
    if function == queries.QUERY_REALTIME:
        return frame, lambda f: queries.parse_reply(f)[3].elements, [(0x39, 1.5, 4, 3)]
    return frame, lambda f: queries.parse_reply(f)[1:], (serial, send_time, result)


def _damaged(frame, data):
    index = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda byte: byte != frame[index]))
    damaged = bytearray(frame)
    damaged[index] = value
    return index, value, bytes(damaged)


@given(sl427_frames(), st.data())
def test_sl427_round_trip_and_any_changed_byte_is_refused(built, data):
    frame, parse, expected = built
    assert parse(frame) == expected
    index, value, damaged = _damaged(frame, data)
    try:
        parse(damaged)
    except sl427.Sl427Error as error:
        assert str(error)
    else:
        raise AssertionError(f"byte {index} changed {frame[index]:02X} -> {value:02X} was "
                             "accepted")


@given(sl651_frames(), st.data())
def test_sl651_round_trip_and_any_changed_byte_is_refused(built, data):
    frame, parse, expected = built
    assert parse(frame) == expected
    index, value, damaged = _damaged(frame, data)
    try:
        parse(damaged)
    except sl651.Sl651Error as error:
        assert str(error)
    else:
        raise AssertionError(f"byte {index} changed {frame[index]:02X} -> {value:02X} was "
                             "accepted")
