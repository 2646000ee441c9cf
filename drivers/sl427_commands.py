"""SL/T 427-2021 / SZY206-2016 centre commands and the station's replies, sans-IO.

Downlink (centre to station), type code in C = 0 except B0, where it names the kind queried:
- queries without data, PW or Tp: 50 the station's address, 51 station clock, 52 work mode,
  5E alarm and status words, B0 real-time values (C's D3-D0 = the type code of the values
  wanted, e.g. 3 flow).
- commands that change something carry PW and Tp after the data: 11 set the clock (6 bytes, see
  encode_clock); 92 start / 93 stop a pump or gate: 1 byte, high nibble the device (0 pump,
  F valve or gate), low nibble its number 0-15.
Uplink replies (type code 0, B0: the kind's), with the same AFN, Tp optional (told by the length):
- 50: the station's address A (5 bytes, as in the header: county BCD, station number);
- 52: the work mode (1 byte: 0 self-report, 1 self-report with confirmation, 2 query/answer,
  3 debug and maintenance);
- 51 and 11: the station's clock (6 bytes); 5E: alarm and status words (2 bytes each);
- 92/93: 1 byte, high nibble A = done (anything else = not done), low nibble the number;
- B0: the values of the kind, alarm and status words, as a C0 self-report's data.
Sources and ambiguities are in tests/drivers/vectors_sl427.py (COMMANDS, REPLIES).
"""

from drivers.sl427 import (
    AFN_QUERY_REALTIME,
    MAX_FCB,
    TIME_TAG_LENGTH,
    VALUE_LAYOUTS,
    Frame,
    FrameError,
    _check_range,
    _hex,
    build_frame,
    decode_address,
    decode_report_data,
    encode_address,
    encode_report_data,
    parse_frame,
    type_code_of,
    type_name,
)
from drivers.sl427_fields import _bcd_byte, _bcd_value

AFN_SET_CLOCK = 0x11
AFN_QUERY_CLOCK = 0x51
AFN_QUERY_STATUS = 0x5E
AFN_QUERY_ADDRESS = 0x50
AFN_QUERY_MODE = 0x52
AFN_PUMP_START = 0x92
AFN_PUMP_STOP = 0x93
QUERY_AFNS = (AFN_QUERY_ADDRESS, AFN_QUERY_CLOCK, AFN_QUERY_MODE, AFN_QUERY_STATUS,
              AFN_QUERY_REALTIME)
WORK_MODES = ("self_report", "self_report_confirmed", "query_answer", "debug")
COMMAND_AFNS = (AFN_SET_CLOCK, AFN_PUMP_START, AFN_PUMP_STOP)
PUMP_DEVICE = 0x0
GATE_DEVICE = 0xF
DONE = 0xA  # high nibble of a 92/93 reply: executed
CLOCK_LENGTH = 6
CLOCK_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
                ("month", 1, 12), ("year", 0, 99))


# --- the clock (6 bytes) -----------------------------------------------------------------------


def encode_clock(clock):
    """6 bytes of (year, month, day, hour, minute, second, weekday): second, minute, hour, day
    BCD; month BCD in the low 5 bits with the weekday (1-7, 7 = Sunday; 0 = not given) in the
    top 3; year - 2000 BCD."""
    if not isinstance(clock, tuple) or len(clock) != 7:
        raise ValueError("clock %r: expected (year, month, day, hour, minute, second, weekday)"
                         % (clock,))
    year, month, day, hour, minute, second, weekday = clock
    _check_range("year", year, 2000, 2099)
    _check_range("weekday", weekday, 0, 7)
    values = (second, minute, hour, day, month, year - 2000)
    out = bytearray()
    for index in range(CLOCK_LENGTH):
        name, low, high = CLOCK_FIELDS[index]
        _check_range(name, values[index], low, high)
        out.append(_bcd_byte(values[index]))
    out[4] |= weekday << 5
    return bytes(out)


def decode_clock(data):
    """(year, month, day, hour, minute, second, weekday) of the 6 clock bytes."""
    if len(data) != CLOCK_LENGTH:
        raise FrameError("clock [%s] of %d bytes: expected %d" % (_hex(data), len(data),
                                                                   CLOCK_LENGTH))
    values = []
    for index in range(CLOCK_LENGTH):
        byte = data[index] & 0x1F if index == 4 else data[index]
        name, low, high = CLOCK_FIELDS[index]
        value = _bcd_value(byte, "clock " + name)
        if not low <= value <= high:
            raise FrameError("clock [%s]: %s %d, expected %d..%d" % (_hex(data), name, value,
                                                                     low, high))
        values.append(value)
    second, minute, hour, day, month, year = values
    return (2000 + year, month, day, hour, minute, second, data[4] >> 5)


# --- centre to station -------------------------------------------------------------------------


def build_query(edition, county, station, afn, kind=None, fcb=MAX_FCB):
    """A query without data, PW or Tp: 50 address, 51 clock, 52 work mode, 5E status, B0
    real-time values of `kind`."""
    if afn not in QUERY_AFNS:
        raise ValueError("AFN %r: expected a query, one of 50, 51, 52, 5E, B0" % (afn,))
    if (afn == AFN_QUERY_REALTIME) != (kind is not None):
        raise ValueError("query AFN %02X with kind %r: B0 needs the kind queried, the others "
                         "none" % (afn, kind))
    type_code = type_code_of(edition, kind) if kind is not None else 0
    return build_frame(edition, Frame(False, fcb, type_code, None, county, station, afn, b"",
                                      None, None))


def build_set_clock(edition, county, station, clock, password, time_tag, fcb=MAX_FCB):
    """AFN 11: set the station's clock; password (key1, key2), Tp the centre's send time."""
    return build_frame(edition, Frame(False, fcb, 0, None, county, station, AFN_SET_CLOCK,
                                      encode_clock(clock), password, time_tag))


def build_pump_control(edition, county, station, start, number, password, time_tag,
                       device=PUMP_DEVICE, fcb=MAX_FCB):
    """AFN 92 (start) or 93 (stop) pump or gate `number` (0-15); device 0 pump, F valve/gate."""
    _check_range("pump number", number, 0, 15)
    if device not in (PUMP_DEVICE, GATE_DEVICE):
        raise ValueError("device %r: expected 0 (pump) or 15 (valve or gate)" % (device,))
    return build_frame(edition, Frame(False, fcb, 0, None, county, station,
                                      AFN_PUMP_START if start else AFN_PUMP_STOP,
                                      bytes((device << 4 | number,)), password, time_tag))


def parse_command(frame, edition):
    """(Frame, payload) of a centre's query or command, as the station reads it: payload None for
    a query (50, 51, 52, 5E, B0: the kind is type_name of the frame's type code), the clock for
    11, (device, number) for 92/93."""
    head = parse_frame(frame, edition, False, time_tag=False)
    if head.afn in QUERY_AFNS:
        if head.data:
            raise FrameError("query AFN %02X carries data [%s], expected none"
                             % (head.afn, _hex(head.data)))
        return head, None
    if head.afn not in COMMAND_AFNS:
        raise FrameError("AFN %02X is not a command here: expected 11, 50, 51, 52, 5E, 92, 93 "
                         "or B0" % head.afn)
    parsed = parse_frame(frame, edition, False, password=True, time_tag=True)
    expected = CLOCK_LENGTH if parsed.afn == AFN_SET_CLOCK else 1
    if len(parsed.data) != expected:
        raise FrameError("AFN %02X carries %d data bytes [%s] before PW and Tp, expected %d"
                         % (parsed.afn, len(parsed.data), _hex(parsed.data), expected))
    if parsed.afn == AFN_SET_CLOCK:
        return parsed, decode_clock(parsed.data)
    device = parsed.data[0] >> 4
    if device not in (PUMP_DEVICE, GATE_DEVICE):
        raise FrameError("pump control byte %02X: device %X, expected 0 (pump) or F (gate)"
                         % (parsed.data[0], device))
    return parsed, (device, parsed.data[0] & 0xF)


# --- station to centre -------------------------------------------------------------------------


def _reply(edition, county, station, afn, data, time_tag, type_code=0, fcb=MAX_FCB):
    return build_frame(edition, Frame(True, fcb, type_code, None, county, station, afn, data,
                                      None, time_tag))


def _parse_reply(frame, edition, afn, sizes):
    """The Frame of a station's reply with `afn`, its data one of `sizes` long, Tp optional."""
    parsed = parse_frame(frame, edition, True, time_tag=False)
    if parsed.afn != afn:
        raise FrameError("reply carries AFN %02X, expected %02X" % (parsed.afn, afn))
    tag = TIME_TAG_LENGTH[edition]
    if not sizes(len(parsed.data)) and sizes(len(parsed.data) - tag):
        parsed = parse_frame(frame, edition, True, time_tag=True)
    elif not sizes(len(parsed.data)):
        raise FrameError("reply AFN %02X carries %d data bytes [%s]: not a length this reply "
                         "has, with or without a %d-byte Tp" % (afn, len(parsed.data),
                                                                _hex(parsed.data), tag))
    return parsed


def build_clock_reply(edition, county, station, afn, clock, time_tag=None):
    """The station's answer to 51 (query) or 11 (set): its clock."""
    if afn not in (AFN_QUERY_CLOCK, AFN_SET_CLOCK):
        raise ValueError("AFN %r: a clock reply answers 51 or 11" % (afn,))
    return _reply(edition, county, station, afn, encode_clock(clock), time_tag)


def parse_clock_reply(frame, edition, afn=AFN_QUERY_CLOCK):
    """(Frame, clock) of the station's answer to 51 or 11."""
    parsed = _parse_reply(frame, edition, afn, lambda size: size == CLOCK_LENGTH)
    return parsed, decode_clock(parsed.data)


def build_address_reply(edition, county, station, time_tag=None):
    """The station's answer to 50: its address, as its frames' header carries it."""
    return _reply(edition, county, station, AFN_QUERY_ADDRESS, encode_address(county, station),
                  time_tag)


def parse_address_reply(frame, edition):
    """(Frame, county, station) of the station's answer to 50 (the address in its data)."""
    parsed = _parse_reply(frame, edition, AFN_QUERY_ADDRESS, lambda size: size == 5)
    county, station = decode_address(parsed.data)
    return parsed, county, station


def build_mode_reply(edition, county, station, mode, time_tag=None):
    """The station's answer to 52: its work mode (0-3, WORK_MODES)."""
    _check_range("work mode", mode, 0, len(WORK_MODES) - 1)
    return _reply(edition, county, station, AFN_QUERY_MODE, bytes((mode,)), time_tag)


def parse_mode_reply(frame, edition):
    """(Frame, mode) of the station's answer to 52."""
    parsed = _parse_reply(frame, edition, AFN_QUERY_MODE, lambda size: size == 1)
    if parsed.data[0] >= len(WORK_MODES):
        raise FrameError("work mode %02X: expected 00-03" % parsed.data[0])
    return parsed, parsed.data[0]


def build_pump_reply(edition, county, station, afn, number, done, time_tag=None):
    """The station's answer to 92/93: pump `number`, done (True) or not."""
    if afn not in (AFN_PUMP_START, AFN_PUMP_STOP):
        raise ValueError("AFN %r: a pump reply answers 92 or 93" % (afn,))
    _check_range("pump number", number, 0, 15)
    return _reply(edition, county, station, afn, bytes(((DONE if done else 0) << 4 | number,)),
                  time_tag)


def parse_pump_reply(frame, edition, afn):
    """(Frame, number, done) of the station's answer to 92 or 93."""
    parsed = _parse_reply(frame, edition, afn, lambda size: size == 1)
    return parsed, parsed.data[0] & 0xF, parsed.data[0] >> 4 == DONE


def build_status_reply(edition, county, station, alarm, status, order="little", time_tag=None):
    """The station's answer to 5E: its alarm and status words."""
    data = encode_report_data("alarm_status", b"", alarm, status, order)  # raw kind: no values
    return _reply(edition, county, station, AFN_QUERY_STATUS, data, time_tag)


def parse_status_reply(frame, edition, order="little"):
    """(Frame, alarm, status) of the station's answer to 5E."""
    parsed = _parse_reply(frame, edition, AFN_QUERY_STATUS, lambda size: size == 4)
    data = parsed.data if order == "little" else bytes((parsed.data[1], parsed.data[0],
                                                        parsed.data[3], parsed.data[2]))
    return parsed, data[0] | data[1] << 8, data[2] | data[3] << 8


def _fits(kind, size):
    if kind not in VALUE_LAYOUTS:
        return size >= 5
    channel = sum(item[0] for item in VALUE_LAYOUTS[kind])
    return size > 4 and (size - 4) % channel == 0


def build_realtime_reply(edition, county, station, kind, values, alarm, status, order="little",
                         time_tag=None):
    """The station's answer to B0: values of `kind` (as a C0 self-report), alarm, status."""
    data = encode_report_data(kind, values, alarm, status, order)
    return _reply(edition, county, station, AFN_QUERY_REALTIME, data, time_tag,
                  type_code_of(edition, kind))


def parse_realtime_reply(frame, edition, order="little"):
    """(Frame, kind, values, alarm, status) of the station's answer to B0."""
    head = parse_frame(frame, edition, True, time_tag=False)
    kind = type_name(edition, head.type_code)
    parsed = _parse_reply(frame, edition, AFN_QUERY_REALTIME, lambda size: _fits(kind, size))
    values, alarm, status = decode_report_data(kind, parsed.data, order)
    return parsed, kind, values, alarm, status
