"""The poll schedule: the shortest first poll first; a bus with more to read than its period
allows counts every skipped slot and sums them in the log."""

from __future__ import annotations

import asyncio
import logging
import math

from gateway.acquisition.plan import point_width
from gateway.acquisition.service import Acquisition
from gateway.config import load_config
from gateway.display import health_table
from gateway.readings import MemorySink
from gateway.simulator import SimulatedWell

# An SDM120 at its factory 2400 baud. Its plan (tests/test_plan_optimal.py works it by hand):
# 4 requests reading 14 + 2 + 6 + 2 registers = 4 x 20 + 2 x 24 = 128 characters of bus time,
# x 11 bits / 2400 baud = 0.587 s a poll (0.571 s if its first request needs no gap before it).
# Due every 0.27 s, a poll that starts on its slot ends between 0.571 s and 0.81 s later (38 %
# left for the machine), past the next two slots (0.54 s) and before the third: each poll skips
# exactly 2 slots.
BUS_TIME = 128 * 11 / 2400
GAP = 3.5 * 11 / 2400
INTERVAL = 0.27
SKIPPED_PER_POLL = int(BUS_TIME // INTERVAL)

CONFIG = """
[well]
id = "test-well"
[gateway]
runtime_dir = "{runtime}"

[[buses]]
name = "rs485-slow"
type = "rtu"
port = "sim://rtu"
baud = 2400
timeout = 0.5
retries = 0

[[devices]]
name = "pump-energy"
bus = "rs485-slow"
model = "eastron-sdm120"
slave_id = 1
poll_interval = {interval}
"""


async def test_a_poller_behind_its_schedule_counts_each_skipped_slot_and_logs_one_summary(
    tmp_path, caplog
):
    assert SKIPPED_PER_POLL == 2 and 2 * INTERVAL < BUS_TIME - GAP and 3 * INTERVAL > 1.3 * BUS_TIME
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(runtime=tmp_path / "run", interval=INTERVAL))
    config = load_config(path)
    well = SimulatedWell.from_config(config, seed=3, time_scale=0.0, emulate_byte_time=True)
    await well.start()
    caplog.set_level(logging.WARNING, logger="gateway.acquisition.poller")
    try:
        acquisition = Acquisition(config, MemorySink(), well.ports())
        task = asyncio.create_task(acquisition.run())
        await asyncio.sleep(4.0)
        acquisition.stop()
        await asyncio.wait_for(task, 5)
    finally:
        await well.stop()
    health = acquisition.board.devices["pump-energy"]
    assert health.failed_polls == 0 and health.polls >= 4, health
    assert health.requests == 4 * health.polls  # the plan worked out above
    assert health.skipped_slots == SKIPPED_PER_POLL * health.polls, health
    snapshot = acquisition.board.snapshot()
    assert snapshot["devices"][0]["skipped_slots"] == health.skipped_slots
    assert "skipped" in health_table(snapshot).splitlines()[0]
    summaries = [r.getMessage() for r in caplog.records if "cannot keep its schedule" in r.message]
    # The first skip is told at once; the rest wait for the next summary, a minute later.
    assert summaries == [
        "bus rs485-slow cannot keep its schedule: slots skipped: pump-energy 2 (check-config "
        "shows each device's bus time per poll)"
    ]


async def test_skipped_slots_are_summed_into_one_line_per_interval(tmp_path, caplog):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG.format(runtime=tmp_path / "run", interval=INTERVAL))
    config = load_config(path)
    well = SimulatedWell.from_config(config, seed=3, time_scale=0.0, emulate_byte_time=True)
    await well.start()
    caplog.set_level(logging.WARNING, logger="gateway.acquisition.poller")
    try:
        acquisition = Acquisition(config, MemorySink(), well.ports())
        acquisition.pollers[0].skip_log_interval = 1.5
        task = asyncio.create_task(acquisition.run())
        await asyncio.sleep(3.5)
        acquisition.stop()
        await asyncio.wait_for(task, 5)
    finally:
        await well.stop()
    health = acquisition.board.devices["pump-energy"]
    summaries = [r.getMessage() for r in caplog.records if "cannot keep its schedule" in r.message]
    assert 2 <= len(summaries) <= 3 < health.polls, (summaries, health.polls)
    logged = sum(int(line.split("pump-energy ")[1].split(" ")[0]) for line in summaries)
    # What the last summary has not told yet is at most the slots of the last interval's polls.
    assert health.skipped_slots - logged < 1.5 / BUS_TIME * SKIPPED_PER_POLL + SKIPPED_PER_POLL
    assert all(" in the last " in line for line in summaries[1:])


FIRST_POLLS = """
[well]
id = "test-well"
[gateway]
runtime_dir = "{runtime}"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "sim://rtu"
baud = 9600
timeout = 0.5

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 5.0

[[devices]]
name = "well-level"
bus = "rs485-1"
model = "qdy30a"
slave_id = 3
poll_interval = 5.0
"""


async def test_the_first_round_polls_the_shortest_poll_first(tmp_path):
    # The TUF-2000M's poll is 7 requests (206 ms at 9600 baud), the QDY30A's one (39 ms): listed
    # second, the level comes first, so a start commits its first reading 167 ms sooner.
    path = tmp_path / "gateway.toml"
    path.write_text(FIRST_POLLS.format(runtime=tmp_path / "run"))
    config = load_config(path)
    well = SimulatedWell.from_config(config, seed=3, time_scale=0.0, emulate_byte_time=True)
    await well.start()
    sink = MemorySink()
    try:
        acquisition = Acquisition(config, sink, well.ports())
        task = asyncio.create_task(acquisition.run())
        for _ in range(200):
            if {r.device for r in sink.history} == {"flow-meter", "well-level"}:
                break
            await asyncio.sleep(0.02)
        acquisition.stop()
        await asyncio.wait_for(task, 5)
    finally:
        await well.stop()
    order = list(dict.fromkeys(r.device for r in sink.history))
    assert order == ["well-level", "flow-meter"], order


READ_THROUGH = """
[well]
id = "test-well"
[gateway]
runtime_dir = "{runtime}"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "sim://rtu"
baud = 9600
timeout = 0.5

[[devices]]
name = "three-phase"
bus = "rs485-1"
model = "eastron-sdm630"
slave_id = 1
poll_interval = 0.5

[[devices]]
name = "single-phase"
bus = "rs485-1"
model = "eastron-sdm120"
slave_id = 2
poll_interval = 0.5
"""


async def test_plans_that_read_through_gaps_decode_what_the_meters_served(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(READ_THROUGH.format(runtime=tmp_path / "run"))
    config = load_config(path)
    well = SimulatedWell.from_config(config, seed=5, time_scale=0.0)
    await well.start()
    sink = MemorySink()
    try:
        acquisition = Acquisition(config, sink, well.ports())
        task = asyncio.create_task(acquisition.run())
        await asyncio.sleep(1.5)
        acquisition.stop()
        await asyncio.wait_for(task, 5)
    finally:
        await well.stop()
    for device in config.devices:
        blocks = next(d for p in acquisition.pollers for d in p.devices
                      if d.name == device.name).blocks
        assert any(b.count > sum(point_width(p) for p in b.points) for b in blocks)  # a gap read
        served = well.served_values(device.name)
        decoded = {p: r.value for (d, p), r in sink.latest.items() if d == device.name}
        profile = config.device_profile(device)
        assert set(decoded) == {p.name for p in profile.points}
        for point, value in decoded.items():
            assert math.isclose(value, served[point], rel_tol=1e-6), (device.name, point)
        assert acquisition.board.devices[device.name].exception_replies == 0
