"""The accounting room against the real signed store: interval records that name their source
seqs, 以电折水 records that can be recomputed, exactly-once across crashes at any group, windows
rebuilt from the store, installer commands, and health records turned into alarms."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
from accounting_support import SimulatedFeed, site, stored

from gateway.accounting.coefficient import Coefficient, DerivedVolume, recompute
from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import build_plan
from gateway.accounting.records import INSTALLER_DEVICE, KIND_COMMAND, health, make
from gateway.accounting.service import AccountingRoom
from gateway.store.records import NewRecord

HOUR = 3600.0


def ok_clock():
    return 1, "test clock"


def sums(records) -> dict[str, float]:
    out = {"metered": 0.0, "derived": 0.0, "energy": 0.0}
    for r in records:
        if r.kind == "volume":
            out[r.point] += r.value
        elif r.kind == "energy":
            out["energy"] += r.value
    return out


def uninterrupted(config, state_dir):
    """An engine that never stopped, over every record in the store: (sums, alarm records)."""
    engine = AccountingEngine(build_plan(config))
    made = []
    for record in stored(state_dir):
        engine.process(record)
        made += engine.take_group()
    engine.close_partial()
    made += engine.take_group()
    outputs = [r for r in made if r.kind in ("volume", "energy")]
    alarm_list = [(r.point, r.device, r.value, r.wall_time) for r in made if r.kind == "alarm"]
    return sums(outputs), alarm_list


@pytest.fixture
def feed(tmp_path):
    config = site(tmp_path)
    feed = SimulatedFeed(config)
    yield feed
    feed.close()


def test_intervals_name_their_seqs_and_derived_volumes_recompute(feed):
    config = feed.config
    room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
    feed.run(3 * HOUR, every=10, room=room)
    state = feed.state_dir
    records = stored(state)
    by_seq = {r.seq: r for r in records}
    metered = [r for r in records if r.kind == "volume" and r.point == "metered"]
    derived = [r for r in records if r.kind == "volume" and r.point == "derived"]
    energy = [r for r in records if r.kind == "energy"]
    assert metered and derived and energy
    for r in metered + energy:
        first, last = r.data["seqs"]
        assert by_seq[first].kind == "reading" and by_seq[last].kind == "reading"
        assert by_seq[last].wall_time == r.data["end"] == r.wall_time
        assert r.data["interval_s"] == 900 and not r.data["partial"]
        assert math.floor(r.data["start"] // 900) <= math.floor(r.wall_time // 900)
    coefficient = Coefficient(1, 4.72, 0.0, "calibration", "test", calibration_head_m=35.0)
    revised = Coefficient(2, 4.60, 0.0, "calibration", "test", calibration_head_m=35.5)
    for r in derived:
        d = r.data
        assert d["coefficient_version"] == 1 and d["head_model"] == "head_ratio"
        assert 35.0 < d["head_m"] < 45.0  # resting 35 m plus the drawdown while pumping
        made = DerivedVolume(r.value, d["energy_kwh"], 1, d["k_m3_per_kwh"], d["head_model"],
                             d["head_m"], d["note"])
        assert recompute(made, coefficient).volume_m3 == pytest.approx(r.value, rel=1e-12)
        assert recompute(made, revised).volume_m3 == pytest.approx(
            r.value * 4.60 * 35.5 / (4.72 * 35.0), rel=1e-12)
    # every reading is accounted exactly once: the intervals' seq ranges do not overlap
    ranges = sorted(tuple(r.data["seqs"]) for r in metered)
    assert all(a[1] < b[0] for a, b in pairwise(ranges))
    checkpoints = [r for r in records if r.kind == "accounting"]
    assert checkpoints and checkpoints[-1].value < checkpoints[-1].seq


class CrashingSink:
    """Passes groups to the real sink until `crash_after` groups, then loses every later one
    (what a SIGKILL does to groups not yet committed)."""

    def __init__(self, sink, crash_after: int) -> None:
        self.sink, self.crash_after, self.groups = sink, crash_after, 0

    def append_group(self, group: list[NewRecord]) -> None:
        self.groups += 1
        if self.groups <= self.crash_after:
            self.sink.append_group(group)

    def append_record(self, entry: NewRecord) -> None:
        self.sink.append_record(entry)


@pytest.mark.parametrize("crash_after", [0, 1, 7, 23])
def test_a_crash_at_any_group_neither_loses_nor_double_counts(tmp_path, crash_after):
    config = site(tmp_path, interval=300)
    feed = SimulatedFeed(config, commit_every_s=300)
    try:
        first = AccountingRoom.from_config(config, CrashingSink(feed.sink, crash_after),
                                           clock_probe=ok_clock)
        feed.run(2 * HOUR, every=10, room=first)  # "killed" here: later groups never committed
        feed.run(0.5 * HOUR, every=10)  # the gateway is down: readings go on (next boot's)
        second = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(2 * HOUR, every=10, room=second)
        second.close()
        assert feed.sink.flush()
        state = feed.state_dir
        got = sums(stored(state))
        expected, expected_alarms = uninterrupted(config, state)
        for key in got:
            assert got[key] == pytest.approx(expected[key], rel=1e-9), key
        assert got["metered"] > 50
        kept = [(r.point, r.device, r.value, r.wall_time) for r in stored(state, "alarm")]
        assert kept == expected_alarms
        snapshot = feed.well.snapshot()
        assert got["metered"] == pytest.approx(snapshot.volume_m3, abs=0.5)
    finally:
        feed.close()


def test_windows_are_rebuilt_from_the_store_so_alarms_match_an_uninterrupted_run(tmp_path):
    config = site(tmp_path, interval=300)
    feed = SimulatedFeed(config, commit_every_s=300)
    try:
        room = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(1 * HOUR, every=10, room=room)
        feed.well.inject("flow-meter", "empty_pipe")  # power without flow + meter status
        feed.run(0.25 * HOUR, every=10, room=room)
        room.close(final=False)  # stopped mid-fault: the windows are not in the checkpoint
        resumed = AccountingRoom.from_config(config, feed.sink, clock_probe=ok_clock)
        feed.run(0.25 * HOUR, every=10, room=resumed)
        feed.well.clear("flow-meter", "empty_pipe")
        feed.run(0.5 * HOUR, every=10, room=resumed)
        resumed.close()
        assert feed.sink.flush()
        kept = [(r.point, r.device, r.value, r.wall_time)
                for r in stored(feed.state_dir, "alarm")]
        assert kept == uninterrupted(config, feed.state_dir)[1]
        assert {(name, action) for name, _, action, _ in kept} >= {
            ("power_without_flow", "raised"), ("meter_status", "raised"),
            ("meter_status", "cleared")}
    finally:
        feed.close()


def test_installer_confirms_a_held_spike_once(feed):
    room = AccountingRoom.from_config(feed.config, feed.sink, clock_probe=ok_clock)
    feed.run(0.5 * HOUR, every=10, room=room)
    meter = feed.well.meter("flow-meter")
    meter._volume_offset += 500.0  # the total jumps by 500 m³ in 10 s: a spike, held
    feed.run(0.25 * HOUR, every=10, room=room)
    flags = stored(feed.state_dir, "flag")
    # one episode: opened by the jump, settled when the readings went on from it (its held
    # amount stands)
    assert [(f.data["kind"], f.data["episode_status"]) for f in flags] == [
        ("spike", "open"), ("spike", "settled")]
    assert flags[0].data["episode"] == flags[1].data["episode"] == flags[0].data["reading_seq"]
    assert flags[0].value == flags[0].data["held"] == pytest.approx(500.0, abs=0.5)
    assert flags[1].value == flags[0].value
    before = sums(stored(feed.state_dir))["metered"]
    held = flags[0].value
    feed.sink.append_record(make(KIND_COMMAND, INSTALLER_DEVICE, "confirm_flag", flags[0].seq,
                                 "", feed.start + feed.t, {"flag_seq": flags[0].seq,
                                                           "decision": "count", "by": "test"}))
    feed.sink.append_record(make(KIND_COMMAND, INSTALLER_DEVICE, "confirm_flag", flags[0].seq,
                                 "", feed.start + feed.t, {"flag_seq": flags[0].seq,
                                                           "decision": "count", "by": "again"}))
    feed.run(0.25 * HOUR, every=10, room=room)
    room.close()
    assert feed.sink.flush()
    volumes = [r for r in stored(feed.state_dir, "volume") if r.point == "metered"]
    confirmed = [r for r in volumes if r.data["confirmed_flags"]]
    assert [r.data["confirmed_flags"] for r in confirmed] == [[flags[0].seq]]  # once, not twice
    after = sums(stored(feed.state_dir))["metered"]
    assert before < feed.well.snapshot().volume_m3 < after
    # what was pumped (since the first reading, 10 s in) plus the 500 m³ a person let count
    assert after == pytest.approx(feed.well.snapshot().volume_m3 + 500.0, abs=0.2)
    assert held == pytest.approx(500.0, abs=0.1)  # the pump was stopping: little real water


def test_a_recorded_meter_replacement_counts_on_from_the_new_meters_start(feed):
    room = AccountingRoom.from_config(feed.config, feed.sink, clock_probe=ok_clock)
    feed.run(2700, every=10, room=room)  # the pump stops at 1800 s: the total stands still
    old_final = [r for r in stored(feed.state_dir, "reading")
                 if r.point == "forward_total"][-1].value
    meter = feed.well.meter("flow-meter")
    meter._volume_offset = 12.5 - feed.well.snapshot().volume_m3  # the new meter shows 12.5 m³
    feed.sink.append_record(make(KIND_COMMAND, INSTALLER_DEVICE, "replace_meter", 12.5, "m³",
                                 feed.start + feed.t + 1, {
                                     "device": "flow-meter", "point": "forward_total",
                                     "new_start": 12.5, "old_final": old_final}))
    feed.run(2 * HOUR, every=10, room=room)
    room.close()
    assert feed.sink.flush()
    flags = stored(feed.state_dir, "flag")
    assert [f.data["kind"] for f in flags] == ["replacement", "replacement"]
    assert "new meter starts at 12.5" in flags[0].data["flag"]
    assert "new meter's first reading" in flags[1].data["flag"]
    assert all(f.value == 0 for f in flags)  # nothing held: counted, for a person to check
    metered = sums(stored(feed.state_dir))["metered"]
    assert metered == pytest.approx(feed.well.snapshot().volume_m3, abs=0.2)


def test_health_records_raise_and_clear_offline_and_clock_alarms(feed):
    room = AccountingRoom.from_config(feed.config, feed.sink, clock_probe=ok_clock)
    feed.run(600, every=10, room=room)
    for device, point, value in (("well-level", "state", "offline"),
                                 ("gateway", "clock_synchronised", 0)):
        entry = health(device, point, value, "test")
        feed.sink.append_record(NewRecord.make(
            entry.kind, entry.device, entry.point, entry.value, wall_time=feed.start + feed.t,
            data=entry.data))
    feed.run(1200, every=10, room=room)  # the clock alarm waits 900 s (NTP after boot)
    for device, point, value in (("well-level", "state", "online"),
                                 ("gateway", "clock_synchronised", 1)):
        feed.sink.append_record(NewRecord.make("health", device, point, value,
                                               wall_time=feed.start + feed.t))
    feed.run(120, every=10, room=room)
    room.close()
    assert feed.sink.flush()
    got = [(r.point, r.device, r.value, round(r.wall_time - feed.start))
           for r in stored(feed.state_dir, "alarm")]
    assert got == [("offline", "well-level", "raised", 600),
                   ("clock_not_synchronised", "gateway", "raised", 1500),
                   ("offline", "well-level", "cleared", 1800),
                   ("clock_not_synchronised", "gateway", "cleared", 1800)]
