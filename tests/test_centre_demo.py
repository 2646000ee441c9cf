"""Must-show: `wellgate demo --centre sl651 --frames F` and `--centre sl427 --frames F` run as a
user runs them (both at once, 25 s each); F holds the frames exchanged, and every line decodes
with the drivers' codecs: at least five reports, each acknowledged, the centre's queries and
the station's replies."""

from __future__ import annotations

import subprocess
import sys

import pytest

from drivers import sl427, sl651, sl651_queries
from drivers import sl427_commands as commands

pytestmark = pytest.mark.xdist_group("demo-centre")
SECONDS = 25


@pytest.fixture(scope="module")
def demo_frames(tmp_path_factory) -> dict[str, list[tuple[str, bytes]]]:
    folder = tmp_path_factory.mktemp("demo-centre")
    runs = {}
    for protocol in ("sl427", "sl651"):
        runs[protocol] = subprocess.Popen(
            [sys.executable, "-m", "gateway", "demo", "--seconds", str(SECONDS), "--refresh",
             "1", "--centre", protocol, "--frames", str(folder / f"{protocol}.txt")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    frames = {}
    for protocol, run in runs.items():
        try:
            out, err = run.communicate(timeout=150)
        except subprocess.TimeoutExpired:
            run.kill()
            out, err = run.communicate()
        assert run.returncode == 0, err[-3000:]
        assert "Traceback" not in err
        assert "every reading committed this run was reported to the centre and acknowledged" \
            in out, out[-3000:]
        lines = (folder / f"{protocol}.txt").read_text(encoding="ascii").splitlines()
        frames[protocol] = [(line.split(" ")[0], bytes.fromhex(line.split(" ")[1]))
                            for line in lines]
        assert all(direction in ("up", "down") for direction, _ in frames[protocol])
    return frames


def test_sl427_demo_frames_decode_with_the_drivers(demo_frames):
    edition = sl427.EDITION_2021
    reports, acked, replies, queries = [], 0, [], []
    for direction, frame in demo_frames["sl427"]:
        if direction == "up":
            head = sl427.parse_frame(frame, edition, True, time_tag=False)
            if head.afn == sl427.AFN_SELF_REPORT:
                reports.append(sl427.parse_self_report(frame, edition, "little", "150602", 17))
            elif head.afn == sl427.AFN_LINK:
                assert sl427.parse_link_check(frame, edition)[1] in sl427.LINK_KINDS
            else:
                replies.append(head.afn)
        else:
            head = sl427.parse_frame(frame, edition, False, time_tag=False)
            if head.afn in commands.QUERY_AFNS + commands.COMMAND_AFNS:
                queries.append(commands.parse_command(frame, edition)[0].afn)
            else:
                sl427.parse_ack(frame, edition, head.afn, "150602", 17)
                acked += 1
    kinds = [report[1] for report in reports]
    assert kinds.count("flow") >= 5, kinds
    assert {"flow", "energy", "water_level"} <= set(kinds)
    assert acked >= len(reports)  # every self-report (and the login) acknowledged
    assert sorted(queries) == sorted(replies) == [commands.AFN_QUERY_CLOCK,
                                                  sl427.AFN_QUERY_REALTIME]


def test_sl651_demo_frames_decode_with_the_drivers(demo_frames):
    reports, acks, replies, queries = [], [], [], []
    for direction, frame in demo_frames["sl651"]:
        if direction == "up":
            parsed, body = sl651.parse_uplink(frame)
            if parsed.function == sl651.TIMED:
                assert body.station == "0015060017" and body.station_class == sl651.GROUNDWATER
                reports.append(body)
            elif parsed.function != sl651.KEEP_ALIVE:
                replies.append(sl651_queries.parse_reply(frame)[0].function)
        else:
            parsed = sl651.parse_frame(frame)
            if parsed.end == sl651.ENQ:
                queries.append(sl651_queries.parse_query(frame)[0].function)
            else:
                acks.append(sl651.parse_ack(frame, "0015060017", sl651.TIMED,
                                            sl651.decode_header(parsed.body)[0]))
    assert len(reports) >= 5
    serials = [report.serial for report in reports]
    assert len(set(serials)) == len(serials)  # no report sent twice
    assert len(acks) == len(reports) and all(end == sl651.EOT for end, _, _ in acks)
    assert {identifier for r in reports for identifier, *_ in r.elements} >= {0x27, 0xFF01,
                                                                              0xFF02, 0x39}
    assert sorted(queries) == sorted(replies) == [sl651_queries.QUERY_REALTIME,
                                                  sl651_queries.QUERY_CLOCK]
