"""drivers.sl427_commands and drivers.sl651_queries against their vector tables: plain asserts,
for pytest and MicroPython."""

from expect import raises
from vectors import h
from vectors_commands import (
    SL427_BAD,
    SL427_COMMANDS,
    SL427_QUERIES,
    SL427_REPLIES,
    SL651_BAD,
    SL651_QUERIES,
    SL651_REPLIES,
)

from drivers import sl427, sl651
from drivers import sl427_commands as commands
from drivers import sl651_queries as queries

COUNTY, STATION = "530381", 13
STATION_651 = "0012345678"


def test_sl427_queries_build_and_parse_exactly():
    for edition, frame, afn, kind, source in SL427_QUERIES:
        assert commands.build_query(edition, COUNTY, STATION, afn, kind) == h(frame), source
        parsed, payload = commands.parse_command(h(frame), edition)
        assert (parsed.afn, payload, parsed.up) == (afn, None, False), source
        if kind is not None:
            assert sl427.type_name(edition, parsed.type_code) == kind, source


def test_sl427_commands_build_and_parse_exactly():
    for edition, frame, afn, payload, password, tag, source in SL427_COMMANDS:
        if afn == commands.AFN_SET_CLOCK:
            built = commands.build_set_clock(edition, COUNTY, STATION, payload, password, tag)
        else:
            built = commands.build_pump_control(edition, COUNTY, STATION,
                                                afn == commands.AFN_PUMP_START, payload[1],
                                                password, tag, payload[0])
        assert built == h(frame), source
        parsed, got = commands.parse_command(h(frame), edition)
        assert (parsed.afn, got, parsed.password, parsed.time_tag) == (afn, payload, password,
                                                                        tag), source


def test_sl427_replies_build_and_parse_exactly():
    for edition, frame, afn, result, tag, source in SL427_REPLIES:
        if afn in (commands.AFN_QUERY_CLOCK, commands.AFN_SET_CLOCK):
            built = commands.build_clock_reply(edition, COUNTY, STATION, afn, result, tag)
            parsed, got = commands.parse_clock_reply(h(frame), edition, afn)
        elif afn in (commands.AFN_PUMP_START, commands.AFN_PUMP_STOP):
            built = commands.build_pump_reply(edition, COUNTY, STATION, afn, result[0],
                                              result[1], tag)
            parsed, number, done = commands.parse_pump_reply(h(frame), edition, afn)
            got = (number, done)
        elif afn == commands.AFN_QUERY_ADDRESS:
            built = commands.build_address_reply(edition, COUNTY, STATION, tag)
            parsed, county, station = commands.parse_address_reply(h(frame), edition)
            got = (county, station)
        elif afn == commands.AFN_QUERY_MODE:
            built = commands.build_mode_reply(edition, COUNTY, STATION, result, tag)
            parsed, got = commands.parse_mode_reply(h(frame), edition)
        elif afn == commands.AFN_QUERY_STATUS:
            built = commands.build_status_reply(edition, COUNTY, STATION, result[0], result[1],
                                                "little", tag)
            parsed, alarm, status = commands.parse_status_reply(h(frame), edition)
            got = (alarm, status)
        else:
            kind, values, alarm, status = result
            built = commands.build_realtime_reply(edition, COUNTY, STATION, kind, values, alarm,
                                                  status, "little", tag)
            parsed, kind, values, alarm, status = commands.parse_realtime_reply(h(frame), edition)
            got = (kind, values, alarm, status)
        assert built == h(frame), source
        assert got == result and parsed.time_tag == tag and parsed.up, source


def test_sl427_clock_fields():
    assert commands.encode_clock((2026, 12, 6, 23, 59, 59, 7)) == h("59 59 23 06 F2 26")
    assert commands.decode_clock(h("59 59 23 06 F2 26")) == (2026, 12, 6, 23, 59, 59, 7)
    raises(ValueError, commands.encode_clock, (2026, 12, 6, 23, 59, 59, 8))
    raises(ValueError, commands.encode_clock, (1999, 12, 6, 23, 59, 59, 0))
    raises(sl427.FrameError, commands.decode_clock, h("60 59 23 06 12 26"))


def test_sl427_bad_frames_are_refused():
    parsers = {"command": lambda frame, edition: commands.parse_command(frame, edition),
               "clock": lambda frame, edition: commands.parse_clock_reply(frame, edition),
               "mode": commands.parse_mode_reply, "address": commands.parse_address_reply}
    for parser, edition, frame, what, source in SL427_BAD:
        error = raises(sl427.Sl427Error, parsers[parser], h(frame), edition)
        assert str(error), (what, source)


def test_sl651_queries_build_and_parse_exactly():
    for frame, function, serial, send_time, data, source in SL651_QUERIES:
        built = queries.build_query(1, STATION_651, 0x1234, function, serial, send_time, h(data))
        assert built == h(frame), source
        parsed, got_serial, got_time, got_data = queries.parse_query(h(frame))
        assert (parsed.function, got_serial, got_time, got_data) == (function, serial,
                                                                     send_time, h(data)), source
        assert parsed.end == sl651.ENQ and parsed.direction == sl651.DOWN, source


def test_sl651_replies_build_and_parse_exactly():
    for frame, function, serial, send_time, result, source in SL651_REPLIES:
        if function == queries.QUERY_REALTIME:
            body = sl651.encode_report(serial, send_time, STATION_651, sl651.GROUNDWATER,
                                       (2059, 10, 11, 15, 50), result)
            data = body[15:]
        elif function == queries.QUERY_STATUS:
            data = sl651.encode_element(0x45, result, 4, 0)
        elif function == queries.PUMP_CONTROL:
            data = queries.encode_pumps(result)
        elif function in (queries.QUERY_BASIC, queries.QUERY_RUN):
            data = queries.encode_parameters(result)
        else:
            data = b""
        built = queries.build_reply(1, STATION_651, 0x1234, function, serial, send_time, data)
        assert built == h(frame), source
        parsed, got_serial, got_time, got = queries.parse_reply(h(frame))
        if function == queries.QUERY_REALTIME:
            got = got.elements
        assert (parsed.function, got_serial, got_time, got) == (function, serial, send_time,
                                                                result), source


def test_sl651_bad_frames_are_refused():
    parsers = {"query": queries.parse_query, "reply": queries.parse_reply}
    for parser, frame, what, source in SL651_BAD:
        error = raises(sl651.Sl651Error, parsers[parser], h(frame))
        assert str(error), (what, source)


def test_sl651_pump_bits():
    assert queries.encode_pumps([False, True, False, False, False, False, False, False,
                                 True]) == h("02 02 01")
    assert queries.decode_pumps(h("01 81")) == [True] + [False] * 6 + [True]
    raises(ValueError, queries.encode_pumps, [])
    raises(sl651.BodyError, queries.decode_pumps, h("00"))


def test_sl651_parameter_requests():
    assert queries.encode_parameter_request(queries.QUERY_BASIC, [0x01, 0x02]) == h(
        "01 20 02 28")
    assert queries.decode_parameter_request(queries.QUERY_RUN, h("21 08 20 08")) == [0x21, 0x20]
    raises(ValueError, queries.encode_parameter_request, queries.QUERY_BASIC, [0x20])
    raises(ValueError, queries.encode_parameter_request, queries.QUERY_RUN, [])
    raises(sl651.BodyError, queries.decode_parameter_request, queries.QUERY_BASIC, h("01 21"))
    raises(sl651.BodyError, queries.decode_parameters, queries.QUERY_BASIC, h("02 28 00 12"))
    raises(ValueError, queries.encode_parameters, [(0x20, 100)])
