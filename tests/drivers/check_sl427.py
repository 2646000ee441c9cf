"""drivers.sl427 against its vector tables: plain asserts, for pytest and MicroPython."""

from expect import raises, raises_exactly
from vectors import h
from vectors_sl427 import (
    ACKS,
    BAD_OTHERS,
    BAD_REPORTS,
    CRC_VECTORS,
    E16,
    E21,
    LINK_CHECKS,
    PASSWORD_FRAMES,
    SELF_REPORTS,
)

from drivers import sl427


def _values(kind, values):
    return h(values) if isinstance(values, str) else values


def test_crc8_vectors():
    for data, crc, source in CRC_VECTORS:
        assert sl427.crc8(h(data)) == crc, source


def test_self_reports_build_exactly():
    for (edition, frame, county, station, kind, values, alarm, status, tp, order, fcb, divs,
         source) in SELF_REPORTS:
        built = sl427.build_self_report(edition, county, station, kind, _values(kind, values),
                                        alarm, status, tp, order, fcb, divs)
        assert built == h(frame), source


def test_self_reports_parse_exactly():
    for (edition, frame, county, station, kind, values, alarm, status, tp, order, fcb, divs,
         source) in SELF_REPORTS:
        parsed, got_kind, got_values, got_alarm, got_status = sl427.parse_self_report(
            h(frame), edition, order, county, station)
        assert (got_kind, got_values, got_alarm, got_status) == (
            kind, _values(kind, values), alarm, status), source
        assert (parsed.up, parsed.fcb, parsed.divs, parsed.county, parsed.station, parsed.afn,
                parsed.time_tag) == (True, fcb, divs, county, station, 0xC0, tp), source


def test_link_checks_build_and_parse_exactly():
    for edition, frame, county, station, kind, tp, fcb, source in LINK_CHECKS:
        assert sl427.build_link_check(edition, county, station, kind, tp, fcb) == h(frame), source
        parsed, got_kind = sl427.parse_link_check(h(frame), edition)
        assert got_kind == kind and parsed.time_tag == tp and parsed.fcb == fcb, source
        assert (parsed.county, parsed.station, parsed.type_code) == (county, station, 0), source


def test_acks_build_and_parse_exactly():
    for edition, frame, county, station, afn, mode, tp, source in ACKS:
        assert sl427.build_ack(edition, county, station, afn, mode, tp) == h(frame), source
        assert sl427.parse_ack(h(frame), edition, afn, county, station) == (mode, tp), source


def test_password_frames_build_and_parse_exactly():
    for edition, frame, fields, source in PASSWORD_FRAMES:
        up, fcb, type_code, divs, county, station, afn, data, password, tp = fields
        expected = sl427.Frame(up, fcb, type_code, divs, county, station, afn, h(data), password,
                               tp)
        assert sl427.build_frame(edition, expected) == h(frame), source
        assert sl427.parse_frame(h(frame), edition, up, password=True) == expected, source


def test_bad_reports_are_refused_with_their_reason():
    for edition, frame, name, what, source in BAD_REPORTS:
        error = raises_exactly(getattr(sl427, name), sl427.parse_self_report, h(frame), edition)
        assert isinstance(error, sl427.Sl427Error) and str(error), (what, source)


def test_other_bad_frames_are_refused():
    parsers = {"link": lambda frame, edition: sl427.parse_link_check(frame, edition),
               "ack": lambda frame, edition: sl427.parse_ack(frame, edition, 0x02)}
    for parser, edition, frame, name, what, source in BAD_OTHERS:
        error = raises_exactly(getattr(sl427, name), parsers[parser], h(frame), edition)
        assert str(error), (what, source)


def test_wrong_station_names_both():
    frame = h(SELF_REPORTS[2][1])
    error = raises_exactly(sl427.WrongAddress, sl427.parse_self_report, frame, E16, "little",
                           "530381", 14)
    assert "530381/13" in str(error) and "530381/14" in str(error), str(error)


def test_refusals_say_what_was_given_and_expected():
    error = raises(sl427.ChecksumError, sl427.parse_self_report, h(BAD_REPORTS[0][1]), E21)
    assert "AC" in str(error) and "AD" in str(error), str(error)
    error = raises(sl427.FrameError, sl427.parse_self_report, h(BAD_REPORTS[1][1]), E21)
    assert "L=22" in str(error) and "27" in str(error), str(error)
    error = raises(sl427.FrameError, sl427.parse_self_report, h(BAD_REPORTS[9][1]), E21)
    assert "month 13" in str(error) and "1..12" in str(error), str(error)


def test_control_byte_fields():
    assert sl427.decode_control(0xB4) == (True, False, 3, 4)
    assert sl427.decode_control(0xD3) == (True, True, 1, 3)
    assert sl427.encode_control(False, 0, 3) == 0x30
    assert sl427.encode_control(True, 15, 0, True) == 0xCF
    raises(ValueError, sl427.encode_control, True, 16)
    raises(ValueError, sl427.encode_control, True, 3, 4)


def test_type_code_tables_differ_by_edition():
    assert sl427.type_name(E21, 8) == "energy" and sl427.type_name(E16, 8) == "wind_speed"
    assert sl427.type_name(E21, 7) == "meteorological"
    assert sl427.type_name(E16, 7) == "air_pressure"
    assert sl427.type_code_of(E16, "flow") == sl427.type_code_of(E21, "flow") == 3
    error = raises(ValueError, sl427.type_code_of, E16, "energy")
    assert "energy" in str(error) and E16 in str(error), str(error)
    raises(ValueError, sl427.type_name, "SZY206-2012", 3)


def test_the_edition_decides_the_time_tag():
    tag = sl427.encode_time_tag(E21, (2026, 5, 12, 14, 15, 30, 0))
    assert tag == h("30 15 14 12 05 26 00")
    assert sl427.encode_time_tag(E16, (None, None, 9, 8, 45, 0, 10)) == h("00 45 08 09 0A")
    raises(ValueError, sl427.encode_time_tag, E16, (2026, 5, 9, 8, 45, 0, 10))
    raises(ValueError, sl427.encode_time_tag, E21, (2026, 5, 12, 14, 15, 60, 0))
    raises(ValueError, sl427.encode_time_tag, E21, (2026, 5, 12, 14, 15, 30, 256))
    raises(sl427.FrameError, sl427.decode_time_tag, E16, tag)


def test_address_and_password_codecs():
    assert sl427.encode_address("530381", 13) == h("53 03 81 0D 00")
    assert sl427.decode_address(h("53 03 81 0D 00")) == ("530381", 13)
    for county, station in (("53038", 1), ("53038X", 1), (530381, 1), ("530381", 0),
                            ("530381", 60001)):
        raises(ValueError, sl427.encode_address, county, station)
    assert sl427.encode_password(1, 234) == h("34 12")
    assert sl427.decode_password(h("34 12")) == (1, 234)
    assert sl427.decode_password(sl427.encode_password(9, 999)) == (9, 999)
    raises(ValueError, sl427.encode_password, 10, 0)
    raises(ValueError, sl427.encode_password, 0, 1000)
    raises(sl427.FrameError, sl427.decode_password, h("3A 12"))
    raises(sl427.FrameError, sl427.decode_password, h("34 A2"))


def test_values_and_their_limits():
    assert sl427.encode_value(None, 4, 3, "nibble") == h("AA AA AA AA")
    assert sl427.decode_value(h("AA AA AA AA AA"), 3, "bit") is None
    assert sl427.encode_value(-3.5, 4, 3, "nibble") == h("00 35 00 F0")
    assert sl427.encode_value(9999.999, 4, 3, "nibble") == h("99 99 99 09")
    raises(ValueError, sl427.encode_value, 10000.0, 4, 3, "nibble")
    raises(ValueError, sl427.encode_value, 8000000.0, 5, 3, "bit")
    raises(ValueError, sl427.encode_value, -1.0, 4, 2, None)
    raises(ValueError, sl427.encode_value, 1000000.0, 4, 2, None)
    raises(sl427.FrameError, sl427.decode_value, h("AA AA AA AB"), 2, None)


def test_alarm_and_status_words_in_words():
    assert sl427.word_flags(0x1001, sl427.ALARM_BITS) == ["ac_power_loss", "remaining_water_low"]
    assert sl427.word_flags(0x0070, sl427.STATUS_BITS) == ["pump_stopped", "cabinet_door",
                                                           "on_battery"]
    raises(ValueError, sl427.build_self_report, E21, "530381", 13, "flow", [1.0, 2.0], 0, 0,
           (2026, 5, 12, 14, 15, 30, 0), "middle")
    raises(ValueError, sl427.build_self_report, E21, "530381", 13, "flow", [1.0], 0, 0,
           (2026, 5, 12, 14, 15, 30, 0))
    raises(ValueError, sl427.build_self_report, E21, "530381", 13, "flow", [1.0, 2.0], 0x10000,
           0, (2026, 5, 12, 14, 15, 30, 0))


def test_a_frame_does_not_say_its_edition():
    frame = h(SELF_REPORTS[0][1])  # the checked SL/T 427-2021 frame, read as SZY206-2016
    parsed, kind, raw, alarm, status = sl427.parse_self_report(frame, E16)
    assert parsed.time_tag == (None, None, 26, 5, 12, 14, 0) and raw == h("55 45 04 00 20")
    assert (kind, alarm, status) == ("velocity", 0x0070, 0x1530)
