"""`wellgate alarms` and `wellgate flags` in words for people (issue 14): as found, a meter
reset showed in alarms as "total fell from 154937.4128 to 0.08545275778 at 1748709010" (a Unix
time and ten-digit floats). Now times are the well's local time and values are at the meter's
resolution. A simulated well read into a real signed store, its flow meter reset mid-run, then
the commands."""

from __future__ import annotations

import re

from accounting_support import SimulatedFeed, site
from click.testing import CliRunner

from gateway.accounting.service import AccountingRoom
from gateway.cli import cli

UNIX_TIME = re.compile(r"\b1[5-9]\d{8}(\.\d+)?\b")
LONG_FRACTION = re.compile(r"\d\.\d{4,}")  # more decimals than any meter here shows


def ok_clock():
    return 1, "test clock"


def test_a_meter_reset_reads_in_local_time_and_at_the_meters_resolution(tmp_path):
    config = site(tmp_path)
    feed = SimulatedFeed(config, on_seconds=1e9, off_seconds=0)
    room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
    feed.run(1800, every=10, room=room)
    feed.well.inject("flow-meter", "reset")
    feed.run(1800, every=10, room=room)
    room.close()
    feed.sink.flush()
    feed.close()
    runner = CliRunner()
    alarms = runner.invoke(cli, ["alarms", "--config", str(tmp_path / "site.toml")])
    flags = runner.invoke(cli, ["flags", "--config", str(tmp_path / "site.toml")])
    assert alarms.exit_code == 0 and flags.exit_code == 0, alarms.output + flags.output
    fell = next(line for line in alarms.output.splitlines() if "total fell from" in line)
    assert re.search(r"total fell from \d+\.\d\d to \d+\.\d\d m³ at 2025-06-01 \d\d:\d\d:\d\d "
                     r"\+0800", fell), fell
    held = next(line for line in flags.output.splitlines() if "forward_total: reset" in line)
    assert re.search(r"2025-06-01 \d\d:\d\d:\d\d \+0800  flow-meter forward_total: reset, "
                     r"\d+\.\d\d m³ held; ", held), held
    for text in (fell, held):
        assert not UNIX_TIME.search(text), text
        assert not LONG_FRACTION.search(text), text
