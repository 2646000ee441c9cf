"""Commands from the centre simulator to the gateway's centre link: real-time values and the clock
answered from the store, the clock set only as a recorded offset, and remote pump start/stop
through the safety path: password checked, refused while the 以电控水 cut-off is in force (the
real accounting room cuts the simulated well off at its allocation), every command a signed
record in the store."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from accounting_support import SimulatedFeed, site
from centre_uplink_support import Centre, sl427_uplink, sl651_uplink
from store_support import stored

from gateway.accounting.pump import PumpGuard, coil_value
from gateway.accounting.service import AccountingRoom
from gateway.config import PumpControlSection
from gateway.uplink.centres import centre_link

HOUR = 3600.0
PUMP = """
[[devices]]
name = "relay"
bus = "rs485-1"
model = "modbus-relay"
slave_id = 9
poll_interval = 60.0

[well.accounting.allocation]
annual_m3 = 40
thresholds_percent = [100]

[well.pump_control]
enabled = true
dry_run = true
relay_device = "relay"
coil = 0
"""


def ok_clock():
    return 1, "test clock"


async def linked(link, timeout: float = 20.0) -> asyncio.Task:
    task = asyncio.create_task(link.run())
    deadline = time.monotonic() + timeout
    while not link.status.connected:
        assert time.monotonic() < deadline, link.status
        await asyncio.sleep(0.05)
    return task


async def test_sl427_queries_clock_and_pump_through_the_safety_path(tmp_path):
    centre = Centre("sl427", tmp_path, 0, "--password", "1234")
    config = site(tmp_path, extra=PUMP + sl427_uplink("city", centre.port, 60.0,
                                                     "remote_pump = true"), poll=60.0)
    feed = SimulatedFeed(config, commit_every_s=600.0)
    room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
    link = centre_link(config, config.uplinks[0], Path(config.gateway.state_dir),
                       feed.sink.append_record)
    try:
        feed.run(HOUR, every=60, room=room)  # 34 m³ pumped at most: under the allocation
        task = await linked(link)
        send = lambda **c: asyncio.to_thread(centre.command, cmd="send",  # noqa: E731
                                             station="150602/17", timeout=5, **c)
        values = await send(command="query_realtime")
        latest = {r.point: r.value for r in stored(feed.state_dir, "reading")
                  if r.device == "flow-meter"}
        elements = {e["name"]: e["value"] for e in values["result"]["elements"]}
        assert (elements["flow_1"], elements["volume_1"]) == (
            round(latest["flow_rate"], 3), round(latest["forward_total"]))
        started = await send(command="pump_start", args={"pump": 1})
        assert started["result"] == {"pump": 1, "done": True}
        # The centre's clock is two hours ahead: recorded as an offset, the system clock kept.
        ahead = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0) \
            + timedelta(hours=2)
        before = time.time()
        answer = await send(command="set_clock", args={"clock": ahead.isoformat()})
        assert answer["result"]["clock"] == ahead.isoformat()
        assert abs(time.time() - before) < 60  # our clock was not moved
        assert link.clock.set_calls == []  # "record": the system clock is never asked to move
        feed.run(5 * HOUR, every=60, room=room)  # the allocation is reached: cut off
        # The accepted start went through the accounting room's pump path (a dry run here).
        assert [(r.point, r.value) for r in stored(feed.state_dir, "pump")] == [
            ("pump_start", "dry_run"), ("cut_off", "dry_run")]
        refused = await send(command="pump_start", args={"pump": 1})
        assert refused["result"] == {"pump": 1, "done": False}
        link.stop()
        await task
    finally:
        room.close()
        centre.close()
    assert feed.sink.flush(10)
    records = stored(feed.state_dir, "command")
    feed.close()
    assert [(r.device, r.point, r.value) for r in records] == [
        ("centre:city", "realtime", "accepted"), ("centre:city", "pump_start", "accepted"),
        ("centre:city", "clock_set", "accepted"), ("centre:city", "pump_start", "refused")]
    assert "cut-off" in records[-1].data["reason"]
    assert 7100 < records[2].data["centre_offset_s"] < 7300


async def test_a_wrong_password_or_remote_pump_off_refuses_and_records_it(tmp_path):
    centre = Centre("sl427", tmp_path, 0, "--password", "9999")
    centre651 = Centre("sl651", tmp_path, 0, "--password", "1234")
    config = site(tmp_path, extra=sl427_uplink("city", centre.port, 60.0, "remote_pump = true")
                  + sl651_uplink("county", centre651.port, 60.0), poll=60.0)
    feed = SimulatedFeed(config, commit_every_s=600.0)
    state = Path(config.gateway.state_dir)
    links = [centre_link(config, uplink, state, feed.sink.append_record)
             for uplink in config.uplinks]
    try:
        feed.run(600, every=60)
        tasks = [await linked(link) for link in links]
        wrong = await asyncio.to_thread(centre.command, cmd="send", station="150602/17",
                                        command="pump_stop", args={"pump": 1}, timeout=5)
        assert wrong["result"] == {"pump": 1, "done": False}
        off = await asyncio.to_thread(centre651.command, cmd="send", station="0015060217",
                                      command="pump_start", args={"pump": 1}, timeout=5)
        assert off["result"]["pumps"][0] is False  # not started: remote_pump is off there
        for link in links:
            link.stop()
        await asyncio.gather(*tasks)
    finally:
        centre.close()
        centre651.close()
    assert feed.sink.flush(10)
    records = stored(state, "command")
    feed.close()
    assert [(r.device, r.point, r.value, r.data["reason"]) for r in records] == [
        ("centre:city", "pump_stop", "refused", "wrong password"),
        ("centre:county", "pump_start", "refused",
         "remote pump control is off (remote_pump = false)")]


def test_the_pump_guard_turns_a_centre_command_into_a_coil_request_or_withholds_it():
    control = PumpControlSection(enabled=True, dry_run=False, relay_device="relay", coil=3)
    guard = PumpGuard(control)
    accepted = {"by": "centre city", "accepted": True}
    (stop,) = guard.command("pump_stop", accepted, 100.0)
    assert (stop.kind, stop.point, stop.value) == ("pump", "pump_stop", "requested")
    assert coil_value("pump_stop", stop.data) is True  # coil ON stops this pump
    (start,) = guard.command("pump_start", accepted, 200.0)
    assert (start.point, start.value) == ("pump_start", "requested")
    assert coil_value("pump_start", start.data) is False
    assert guard.command("pump_start", {**accepted, "accepted": False}, 250.0) == []
    guard.check(2025, used=50.0, allocation=40.0, at_time=300.0, blocking=[])  # cut off
    (withheld,) = guard.command("pump_start", accepted, 400.0)
    assert (withheld.point, withheld.value) == ("withheld", withheld.data["reason"])
    assert "cut-off of 2025 is in force" in withheld.data["reason"]
    guard.command("pump_override", {"active": True, "by": "fitter"}, 500.0)
    (refused_stop,) = guard.command("pump_stop", accepted, 600.0)
    assert "site override holds the pump" in refused_stop.data["reason"]


async def test_an_idle_link_logs_in_and_keeps_alive(tmp_path):
    centres = [Centre("sl427", tmp_path, 0), Centre("sl651", tmp_path, 0)]
    fast = "keepalive_period = 1.0"
    config = site(tmp_path, poll=60.0, extra=(
        sl427_uplink("city", centres[0].port, 60.0).replace("keepalive_period = 5.0", fast)
        + sl651_uplink("county", centres[1].port, 60.0).replace("keepalive_period = 5.0",
                                                                 fast)))
    feed = SimulatedFeed(config, commit_every_s=600.0)
    state = Path(config.gateway.state_dir)
    links = [centre_link(config, uplink, state) for uplink in config.uplinks]
    try:
        feed.run(120, every=60)  # two polls: two reports, then nothing to say
        tasks = [await linked(link) for link in links]
        await asyncio.sleep(3.5)
        for link in links:
            link.stop()
        await asyncio.gather(*tasks)
        kinds = [[(f["direction"], f["kind"]) for f in centre.frames()] for centre in centres]
    finally:
        feed.close()
        for centre in centres:
            centre.close()
    assert kinds[0][:2] == [("up", "login"), ("down", "ack")]
    assert 2 <= kinds[0].count(("up", "keepalive")) <= 4
    assert 2 <= sum(1 for d, k in kinds[1] if d == "up" and k == "keepalive") <= 4
    assert all(link.status.reports == 2 for link in links)
