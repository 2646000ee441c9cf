"""The centre simulator, SL/T 427-2021 / SZY206-2016: a real `wellgate platform center` process,
a hand-made station on a real TCP socket (frames built and read with the drivers' codecs).

What the station sent is what the centre stores; its acknowledgements are the ones the vector
tables give; each fault behaves as docs/centres.md says; a damaged or stale frame is refused and
logged with its reason; commands go down and the station's answers are recorded.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime

import pytest
from centre_support import WELLGATE, CentreProcess, Station, answer, post
from vectors import h  # tests/drivers/, put on sys.path by centre_support
from vectors_sl427 import ACKS, SELF_REPORTS

from drivers import sl427
from drivers import sl427_commands as commands
from gateway.platform.centre.server import GARBAGE
from gateway.platform.centre.sl427_side import Sl427Side

E21, E16 = sl427.EDITION_2021, sl427.EDITION_2016
COUNTY, NUMBER, KEY = "530381", 13, "530381/13"


def _now_tag(delay: int = 0) -> tuple[int, ...]:
    now = datetime.now(UTC)  # the centres here run with --utc-offset 0
    return (now.year, now.month, now.day, now.hour, now.minute, now.second, delay)


def _report(flow: float, volume: int, minute: int, number: int = NUMBER) -> bytes:
    return sl427.build_self_report(E21, COUNTY, number, "flow", [flow, volume], 0x0001, 0x0010,
                                   (2026, 12, 7, 8, minute, 0, 0))


def test_the_centres_acks_are_the_vector_tables_ones():
    """In process with the centre's clock fixed: the acks of a 2021 self-report and of the real
    SZY206 frame are byte for byte the hand-assembled ACKS vectors (sources in vectors_sl427)."""
    report_2021 = h(SELF_REPORTS[3][1])  # water levels of 530381/13, Tp 2026-05-12 14:15:30
    side = Sl427Side(E21, clock=lambda: datetime(2026, 5, 12, 14, 15, 31))
    received = side.receive(report_2021)
    assert received.ack == h(ACKS[0][1])
    assert received.report["elements"][:3] == [{"name": "level_1", "value": 12.345},
                                               {"name": "level_2", "value": -3.5},
                                               {"name": "level_3", "value": None}]
    real = h(SELF_REPORTS[2][1])  # the real SZY206 frame: flow 5.9, volume 106182, day 9 08:45
    side = Sl427Side(E16, clock=lambda: datetime(2026, 5, 9, 8, 45, 2))
    received = side.receive(real)
    assert received.ack == h(ACKS[2][1])
    assert received.report["observed"] == "--09T08:45:00"
    assert received.report["elements"][:2] == [{"name": "flow_1", "value": 5.9},
                                               {"name": "volume_1", "value": 106182}]


def test_a_station_logs_in_keeps_alive_reports_and_exactly_that_is_stored(tmp_path):
    with CentreProcess(tmp_path, "sl427", "--utc-offset", "0") as centre, \
            Station(centre.port, sl427.find_frame) as station:
        station.send(sl427.build_link_check(E21, COUNTY, NUMBER, sl427.LINK_LOGIN,
                                            _now_tag(delay=5)))  # fresh: within 5 minutes
        mode, clock = sl427.parse_ack(station.receive(), E21, sl427.AFN_LINK, COUNTY, NUMBER)
        centre_clock = datetime(*clock[:6])  # the centre's clock as Tp, at --utc-offset 0
        assert mode == 0 and abs((centre_clock - datetime(*_now_tag()[:6])).total_seconds()) < 30
        station.send(sl427.build_link_check(E21, COUNTY, NUMBER, sl427.LINK_KEEPALIVE))
        sl427.parse_ack(station.receive(), E21, sl427.AFN_LINK, COUNTY, NUMBER)
        sent = [(5.9, 106182, 0), (6.25, 106190, 5), (0.0, 106190, 10)]
        for flow, volume, minute in sent:
            station.send(_report(flow, volume, minute))
            sl427.parse_ack(station.receive(), E21, sl427.AFN_SELF_REPORT, COUNTY, NUMBER)
        station.send(sl427.build_link_check(E21, COUNTY, NUMBER, sl427.LINK_LOGOUT))
        sl427.parse_ack(station.receive(), E21, sl427.AFN_LINK, COUNTY, NUMBER)
        with centre.db() as db:
            reports = db.reports(KEY)
            assert [(r["observed"], r["elements"][0]["value"], r["elements"][1]["value"])
                    for r in reports] == [(f"2026-12-07T08:{minute:02d}:00", flow, volume)
                                          for flow, volume, minute in sent]
            assert {r["duplicate"] for r in reports} == {0}
            assert reports[0]["elements"][2:] == [{"name": "alarm_word", "value": 1},
                                                  {"name": "status_word", "value": 0x10}]
            kinds = [(f["direction"], f["kind"], f["verdict"]) for f in db.frames()]
            assert kinds.count(("up", "report", "accepted")) == 3
            assert kinds.count(("down", "ack", "sent")) == 6
    listed = subprocess.run([*WELLGATE, "platform", "center-report", "--db",
                             str(centre.db_path), "--json"], capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)["reports"]) == 3
    text = subprocess.run([*WELLGATE, "platform", "center-report", "--db",
                           str(centre.db_path)], capture_output=True, text=True, timeout=60)
    assert "530381/13: 3 reports (0 duplicates)" in text.stdout, text.stdout


def test_several_stations_at_once_each_under_its_own_address(tmp_path):
    with CentreProcess(tmp_path, "sl427") as centre, \
            Station(centre.port, sl427.find_frame) as first, \
            Station(centre.port, sl427.find_frame) as second:
        for minute in range(3):
            first.send(_report(1.0 + minute, 100 + minute, minute, 13))
            second.send(_report(2.0 + minute, 200 + minute, minute, 14))
            sl427.parse_ack(first.receive(), E21, sl427.AFN_SELF_REPORT, COUNTY, 13)
            sl427.parse_ack(second.receive(), E21, sl427.AFN_SELF_REPORT, COUNTY, 14)
        assert centre.ok({"cmd": "stations"}) == ["530381/13", "530381/14"]
        with centre.db() as db:
            assert [r["elements"][1]["value"] for r in db.reports("530381/13")] == [100, 101, 102]
            assert [r["elements"][1]["value"] for r in db.reports("530381/14")] == [200, 201, 202]


def test_each_fault_behaves_as_specified(tmp_path):
    with CentreProcess(tmp_path, "sl427") as centre:
        refused = centre.control({"cmd": "fault", "fault": "nak"})
        assert not refused["ok"] and "no negative acknowledgement" in refused["error"]
        with Station(centre.port, sl427.find_frame) as station:
            centre.ok({"cmd": "fault", "fault": "no_ack", "count": 1})
            station.send(_report(1.5, 500, 0))
            assert station.receive(timeout=1.0) is None  # stored, not acknowledged
            station.send(_report(1.5, 500, 0))  # the station resends: stored again, acked
            sl427.parse_ack(station.receive(), E21, sl427.AFN_SELF_REPORT)
            centre.ok({"cmd": "fault", "fault": "late_ack", "count": 1, "delay": 1.5})
            began = time.monotonic()
            station.send(_report(1.6, 501, 1))
            sl427.parse_ack(station.receive(timeout=10), E21, sl427.AFN_SELF_REPORT)
            assert time.monotonic() - began >= 1.4
            centre.ok({"cmd": "fault", "fault": "garbage", "count": 1})
            station.send(_report(1.7, 502, 2))
            assert station.raw(len(GARBAGE)) == GARBAGE
            centre.ok({"cmd": "fault", "fault": "drop", "count": 1})
            station.send(_report(1.8, 503, 3))
            assert station.closed_by_peer()
        with Station(centre.port, sl427.find_frame) as station:  # faults used up: behaves again
            station.send(_report(1.8, 503, 3))
            sl427.parse_ack(station.receive(), E21, sl427.AFN_SELF_REPORT)
        with centre.db() as db:
            rows = [(r["elements"][1]["value"], r["duplicate"]) for r in db.reports(KEY)]
            assert rows == [(500, 0), (500, 1), (501, 0), (502, 0), (503, 0)]
            verdicts = [f["verdict"] for f in db.frames()]
            assert verdicts.count("withheld") == 1 and verdicts.count("dropped") == 1


def test_a_changed_byte_or_a_stale_frame_is_refused_and_logged(tmp_path):
    with CentreProcess(tmp_path, "sl427") as centre, \
            Station(centre.port, sl427.find_frame) as station:
        damaged = bytearray(_report(3.3, 700, 0))
        damaged[12] ^= 0x01  # a digit of the flow value: the CS no longer matches
        station.send(bytes(damaged))
        assert station.receive(timeout=1.0) is None
        old = sl427.build_self_report(E21, COUNTY, NUMBER, "flow", [3.3, 700], 0, 0,
                                      (2020, 1, 1, 0, 0, 0, 5))
        station.send(old)
        assert station.receive(timeout=1.0) is None
        station.send(b"\x00\x11" + _report(3.3, 700, 1))  # stray bytes, then a good frame
        sl427.parse_ack(station.receive(), E21, sl427.AFN_SELF_REPORT)
        with centre.db() as db:
            assert [r["elements"][1]["value"] for r in db.reports()] == [700]
            refused = db.frames(verdict="refused")
            assert refused[0]["hex"] == bytes(damaged).hex(" ").upper()
            assert refused[0]["reason"].startswith("ChecksumError: ")
            assert "stale frame" in refused[1]["reason"]
            assert db.frames(verdict="garbage")[0]["hex"] == "00 11"


def test_commands_go_down_and_the_answers_are_recorded(tmp_path):
    with CentreProcess(tmp_path, "sl427", "--password", "1234") as centre, \
            Station(centre.port, sl427.find_frame) as station:
        station.send(sl427.build_link_check(E21, COUNTY, NUMBER, sl427.LINK_LOGIN))
        station.receive()

        def exchange(command, args, reply):
            post(centre, {"cmd": "send", "station": KEY, "command": command, "args": args,
                          "timeout": 10})
            parsed, payload = commands.parse_command(station.receive(), E21)
            station.send(reply(parsed, payload))
            result = answer(centre)
            assert result["ok"], result
            return parsed, payload, result["result"]["result"]

        parsed, _, result = exchange("query_clock", {}, lambda p, _: commands.build_clock_reply(
            E21, COUNTY, NUMBER, p.afn, (2026, 12, 7, 9, 29, 58, 1)))
        assert parsed.afn == 0x51 and result == {"clock": "2026-12-07T09:29:58", "weekday": 1}
        parsed, clock, result = exchange(
            "set_clock", {"clock": "2026-12-07T09:30:00"},
            lambda p, c: commands.build_clock_reply(E21, COUNTY, NUMBER, p.afn, c))
        assert (parsed.afn, clock, parsed.password) == (0x11, (2026, 12, 7, 9, 30, 0, 1),
                                                          (1, 234))
        assert result["clock"] == "2026-12-07T09:30:00"
        parsed, pump, result = exchange("pump_start", {"pump": 2}, lambda p, c:
                                        commands.build_pump_reply(E21, COUNTY, NUMBER, p.afn,
                                                                  c[1], True))
        assert (parsed.afn, pump, result) == (0x92, (0, 2), {"pump": 2, "done": True})
        parsed, pump, result = exchange("pump_stop", {"pump": 2}, lambda p, c:
                                        commands.build_pump_reply(E21, COUNTY, NUMBER, p.afn,
                                                                  c[1], False))
        assert (parsed.afn, result) == (0x93, {"pump": 2, "done": False})
        parsed, _, result = exchange("query_realtime", {"kind": "flow"}, lambda p, _:
                                     commands.build_realtime_reply(E21, COUNTY, NUMBER, "flow",
                                                                   [4.2, 106300], 0, 0x10))
        assert sl427.type_name(E21, parsed.type_code) == "flow"
        assert result["elements"][:2] == [{"name": "flow_1", "value": 4.2},
                                          {"name": "volume_1", "value": 106300}]
        _, _, result = exchange("query_status", {}, lambda p, _: commands.build_status_reply(
            E21, COUNTY, NUMBER, 0x2001, 0x0010))
        assert result["alarms"] == ["ac_power_loss", "cabinet_door_open"]
        missing = centre.control({"cmd": "send", "station": "530381/99",
                                  "command": "query_clock"})
        assert not missing["ok"] and "not connected" in missing["error"]
        with centre.db() as db:
            rows = db.commands(KEY)
            assert [row["command"] for row in rows] == [
                "query_clock", "set_clock", "pump_start", "pump_stop", "query_realtime",
                "query_status"]
            assert all(row["reply_hex"] and row["error"] is None for row in rows)


@pytest.mark.parametrize("option, message", [
    (["--fault", "nak"], "no negative acknowledgement"),
    (["--fault", "late:2"], "expected KIND or KIND:COUNT"),
    (["--password", "12a4"], "SL/T 427 expects 4 digits"),
    (["--db", "/nonexistent-dir/c.db"], "--db /nonexistent-dir/c.db: cannot open it"),
])
def test_bad_options_are_refused_with_exit_2(tmp_path, option, message):
    done = subprocess.run([*WELLGATE, "platform", "center", "--protocol", "sl427", "--db",
                           str(tmp_path / "c.db"), *option], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
