"""The centre simulator, SL 651-2014 HEX mode: a real `wellgate platform center` process and a
hand-made station on a real TCP socket (frames built and read with the drivers' codecs).

The centre's reply to a report is byte for byte a real centre's (published frames); reports are
stored as sent; M3 messages are ACKed whole or NAKed by their missing packet; faults, refusals
(damaged frame, other centre, wrong password) and commands behave as docs/centres.md says.
"""

from __future__ import annotations

from datetime import datetime

from centre_support import CentreProcess, Station, answer, post

from drivers import sl651
from drivers import sl651_queries as queries
from gateway.platform.centre.sl651_side import Sl651Side

STATION = "0012345678"
PASSWORD = 0x1234
WALKTHROUGH = "https://www.toymoban.com/news/detail-686475.html"


def _with_class_47(frame_hex: str) -> bytes:
    """A published report with its station class 48 (river) set to 47 (groundwater; the driver
    takes only the classes a well uses) and its CRC made right again: the centre's reply does
    not depend on that byte."""
    frame = bytearray(bytes.fromhex(frame_hex))
    assert frame[29] == 0x48
    frame[29] = 0x47
    return bytes(frame[:-2]) + sl651.crc_bytes(bytes(frame[:-2]))


def test_the_reply_to_a_report_is_a_real_centres():
    """Two report/reply pairs published in the SL 651 walkthrough (WALKTHROUGH): with the
    centre's clock at the reply's send time and ESC replies, the bytes are the published ones."""
    test_report = _with_class_47(
        "7E7E010012345678123430002B020003591011154947F1F1001234567848F0F0591011154920190000"
        "052619000005392300000127381211150320FA")
    side = Sl651Side(1, reply_end="esc", clock=lambda: datetime(2059, 10, 11, 15, 49, 47))
    received = side.receive(test_report)
    assert received.ack == bytes.fromhex("7E7E00123456780112343080080200035910111549471B75D4")
    assert received.report["elements"][2] == {"name": "39", "label": "water level",
                                              "value": 0.127}
    timed_report = _with_class_47(
        "7E7E05001122334403E832002B020034170718110016F1F1001122334448F0F0170718110020190000"
        "4026190000403923000104903812109903A421")
    side = Sl651Side(5, reply_end="esc", clock=lambda: datetime(2017, 7, 18, 11, 0, 16))
    received = side.receive(timed_report)
    assert received.ack == bytes.fromhex("7E7E00112233440503E83280080200341707181100161BE5D4")
    assert received.report["observed"] == "2017-07-18T11:00:00"


def _report(serial: int, level: float, minute: int) -> bytes:
    body = sl651.encode_report(serial, (2026, 12, 7, 8, minute, 1), STATION, sl651.GROUNDWATER,
                               (2026, 12, 7, 8, minute), [(0x39, level, 4, 3),
                                                          (0x38, 12.5, 2, 2)])
    return sl651.build_report(1, STATION, PASSWORD, sl651.TIMED, body)


def test_reports_are_stored_as_sent_and_m3_is_acked_whole_or_naked(tmp_path):
    with CentreProcess(tmp_path, "sl651", "--password", "1234") as centre, \
            Station(centre.port, sl651.find_frame) as station:
        station.send(sl651.build_keep_alive(1, STATION, PASSWORD, 1, (2026, 12, 7, 8, 0, 0)))
        assert station.receive(timeout=1.0) is None  # keep-alives get no reply
        for serial, (level, minute) in enumerate([(12.345, 0), (12.350, 5)], start=2):
            station.send(_report(serial, level, minute))
            end, _, packet = sl651.parse_ack(station.receive(), STATION, sl651.TIMED, serial)
            assert (end, packet) == (sl651.EOT, None)
        body = sl651.encode_report(4, (2026, 12, 7, 8, 10, 1), STATION, sl651.GROUNDWATER,
                                   (2026, 12, 7, 8, 10), [(0x39, 12.4, 4, 3)] * 4)
        packets = sl651.build_packets(1, STATION, PASSWORD, sl651.TIMED, body, 12)
        assert len(packets) == 4
        for packet in packets[:-1]:
            station.send(packet)
            assert station.receive(timeout=0.5) is None  # silent until the last packet
        station.send(packets[-1])
        assert sl651.parse_ack(station.receive(), STATION, sl651.TIMED, 4)[0] == sl651.ACK
        body = sl651.encode_report(5, (2026, 12, 7, 8, 15, 1), STATION, sl651.GROUNDWATER,
                                   (2026, 12, 7, 8, 15), [(0x39, 12.5, 4, 3)] * 4)
        packets = sl651.build_packets(1, STATION, PASSWORD, sl651.TIMED, body, 12)
        damaged = bytearray(packets[1])
        damaged[20] ^= 0xFF
        for packet in (packets[0], bytes(damaged), *packets[2:]):
            station.send(packet)
        end, _, packet = sl651.parse_ack(station.receive(), STATION, sl651.TIMED, 5)
        assert (end, packet) == (sl651.NAK, (4, 2))  # packet 2 of 4 again, please
        station.send(packets[1])
        assert sl651.parse_ack(station.receive(), STATION, sl651.TIMED, 5)[0] == sl651.ACK
        with centre.db() as db:
            rows = db.reports(STATION)
            assert [(r["observed"], r["elements"][0]["value"]) for r in rows] == [
                ("2026-12-07T08:00:00", 12.345), ("2026-12-07T08:05:00", 12.35),
                ("2026-12-07T08:10:00", 12.4), ("2026-12-07T08:15:00", 12.5)]
            assert db.frames(verdict="refused")[0]["reason"].startswith("CrcError: ")


def test_faults_and_refusals(tmp_path):
    with CentreProcess(tmp_path, "sl651", "--password", "1234", "--fault", "nak:1") as centre:
        with Station(centre.port, sl651.find_frame) as station:
            station.send(_report(10, 1.0, 0))
            assert sl651.parse_ack(station.receive(), STATION, sl651.TIMED, 10)[0] == sl651.NAK
            centre.ok({"cmd": "fault", "fault": "no_ack", "count": 1})
            station.send(_report(11, 1.1, 1))
            assert station.receive(timeout=1.0) is None
            other_centre = sl651.build_report(2, STATION, PASSWORD, sl651.TIMED,
                                              sl651.encode_report(12, (2026, 12, 7, 8, 2, 0),
                                                                  STATION, sl651.GROUNDWATER,
                                                                  (2026, 12, 7, 8, 2), []))
            station.send(other_centre)
            station.send(sl651.build_report(1, STATION, 0x4321, sl651.TIMED, sl651.encode_report(
                13, (2026, 12, 7, 8, 3, 0), STATION, sl651.GROUNDWATER, (2026, 12, 7, 8, 3),
                [])))
            assert station.receive(timeout=1.0) is None
            centre.ok({"cmd": "fault", "fault": "drop", "count": 1})
            station.send(_report(14, 1.4, 4))
            assert station.closed_by_peer()
        with centre.db() as db:
            assert [r["elements"][0]["value"] for r in db.reports()] == [1.0, 1.1]
            reasons = [f["reason"] for f in db.frames(verdict="refused")]
            assert "this centre is 1" in reasons[0] and "password 4321" in reasons[1]


def test_commands_go_down_and_the_answers_are_recorded(tmp_path):
    with CentreProcess(tmp_path, "sl651") as centre, \
            Station(centre.port, sl651.find_frame) as station:
        station.send(_report(1, 2.0, 0))
        station.receive()

        def exchange(command, args, data):
            post(centre, {"cmd": "send", "station": STATION, "command": command, "args": args,
                          "timeout": 10})
            parsed, serial, send_time, sent = queries.parse_query(station.receive())
            station.send(queries.build_reply(1, STATION, PASSWORD, parsed.function, serial,
                                             send_time, data(sent)))
            result = answer(centre)
            assert result["ok"], result
            return parsed, send_time, sent, result["result"]["result"]

        parsed, _, _, result = exchange("query_clock", {}, lambda _: b"")
        assert parsed.function == queries.QUERY_CLOCK and parsed.password == PASSWORD
        parsed, send_time, _, result = exchange("set_clock", {"clock": "2026-12-07T09:30:00"},
                                                lambda _: b"")
        assert (parsed.function, send_time) == (queries.SET_CLOCK, (2026, 12, 7, 9, 30, 0))
        assert result == {"clock": "2026-12-07T09:30:00"}
        parsed, _, sent, result = exchange("pump_start", {"pump": 2}, lambda sent: sent)
        assert queries.decode_pumps(sent)[:3] == [False, True, False]
        assert result["pumps"][:3] == [False, True, False]
        body = sl651.encode_report(1, (2026, 12, 7, 9, 31, 0), STATION, sl651.GROUNDWATER,
                                   (2026, 12, 7, 9, 31), [(0x39, 3.25, 4, 3)])
        parsed, _, _, result = exchange("query_realtime", {}, lambda _: body[15:])
        assert result["elements"] == [{"name": "39", "label": "water level", "value": 3.25}]
        parsed, _, _, result = exchange("query_status", {}, lambda _: sl651.encode_element(
            0x45, 0x41, 4, 0))
        assert result["status_word"] == 0x41
        post(centre, {"cmd": "send", "station": STATION, "command": "query_clock",
                      "timeout": 1.5})
        parsed, serial, send_time, _ = queries.parse_query(station.receive())
        station.send(queries.build_reply(1, STATION, PASSWORD, parsed.function, serial + 1,
                                         send_time))  # another serial than the query's
        late = answer(centre)
        assert not late["ok"] and "no reply 51#" in late["error"]
        with centre.db() as db:
            assert [row["command"] for row in db.commands(STATION)] == [
                "query_clock", "set_clock", "pump_start", "query_realtime", "query_status",
                "query_clock"]
            assert db.commands(STATION)[-1]["error"].startswith("no reply 51#")
            assert len(db.frames(verdict="unexpected")) == 1
