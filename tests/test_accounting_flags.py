"""Installer flags through the engine: an episode is one flag a person confirms once, and readings
the counter drops (out of order, a duplicate with another value) leave a flag record."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from accounting_support import START, site
from hypothesis import given, settings
from hypothesis import strategies as st
from test_accounting_counters import faulty_track

from gateway.accounting.engine import AccountingEngine
from gateway.accounting.plan import build_plan
from gateway.accounting.records import INSTALLER_DEVICE, KIND_COMMAND
from gateway.store.records import Record


class Loop:
    """The room in miniature: each group the engine makes is committed and read back live."""

    def __init__(self, tmp_path=None, plan=None) -> None:
        self.records: dict[int, Record] = {}
        plan = plan or build_plan(site(tmp_path))
        self.engine = AccountingEngine(plan, lookup=self.records.get)
        self.seq = 0

    def _commit(self, kind, device, point, value, unit, wall, data=None, mono=None) -> Record:
        self.seq += 1
        record = Record(self.seq, kind, device, point, value, unit, "good", [], wall,
                        wall if mono is None else mono, 1, data, None, None)
        self.records[self.seq] = record
        self.engine.process(record)
        for made in self.engine.take_group():
            self._commit(made.kind, made.device, made.point, made.value, made.unit,
                         made.wall_time, made.data)
        return record

    def reading(self, value: float, t: float, mono: float | None = None) -> Record:
        return self._commit("reading", "flow-meter", "forward_total", value, "m3", START + t,
                            mono=None if mono is None else START + mono)

    def confirm(self, flag_seq: int, t: float) -> None:
        self._commit(KIND_COMMAND, INSTALLER_DEVICE, "confirm_flag", flag_seq, "", START + t,
                     {"flag_seq": flag_seq, "decision": "count", "by": "test"})

    def kind(self, kind: str) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind]

    def metered(self) -> float:
        self.engine.close_partial()
        for made in self.engine.take_group():
            self._commit(made.kind, made.device, made.point, made.value, made.unit,
                         made.wall_time, made.data)
        return sum(r.value for r in self.kind("volume") if r.point == "metered")


def test_confirming_every_flag_of_a_spike_episode_counts_what_the_meter_moved(tmp_path):
    # 60 m³/h × 1.5 allows 0.25 m³ per 10 s poll. 1000 → 1020 (spike) → 1006.5 → 1009 → 1012,
    # each above the allowance from 1000 → 1012.2 → 1012.4 (back on a plausible track).
    # The meter moved 1012.4 − 1000 = 12.4: counted 0.2 + 0.2 = 0.4, one episode holding 12.
    # Before: four flags holding 20 + 6.5 + 9 + 12 = 47.5; confirming them all counted 47.5.
    loop = Loop(tmp_path)
    for i, value in enumerate((1000.0, 1020.0, 1006.5, 1009.0, 1012.0, 1012.2, 1012.4)):
        loop.reading(value, 10.0 * i)
    flags = loop.kind("flag")
    assert len({f.data["episode"] for f in flags}) == 1
    assert [f.value for f in flags] == pytest.approx([20.0, 6.5, 9.0, 12.0, 12.0])
    open_flags = loop.engine.flags.open
    assert [entry["held"] for entry in open_flags.values()] == pytest.approx([12.0])
    for flag in flags:  # a person confirms every record the episode wrote
        loop.confirm(flag.seq, 80.0)
    assert loop.engine.flags.open == {}
    assert loop.metered() == pytest.approx(12.4, abs=1e-9)


def test_a_flag_still_changing_is_not_confirmed_until_it_settles(tmp_path):
    # 1000 → 1020: held 20 and still open; confirming now is refused (nothing counted), once
    # 1020.1 goes on from it the 20 stands and a confirmation counts it: 20 + 0.1 = 20.1.
    loop = Loop(tmp_path)
    loop.reading(1000.0, 0.0)
    loop.reading(1020.0, 10.0)
    opened = loop.kind("flag")[0]
    loop.confirm(opened.seq, 15.0)
    assert loop.engine.flags.confirmed == set()
    loop.reading(1020.1, 20.0)
    loop.confirm(opened.seq, 25.0)
    assert loop.metered() == pytest.approx(20.1, abs=1e-9)


def test_a_glitch_closes_its_flag_and_confirming_it_counts_nothing(tmp_path):
    # 5000 → 0 → 5000.5: one episode, closed by the return; confirming it adds 0: 0.5 in all.
    loop = Loop(tmp_path)
    for i, value in enumerate((5000.0, 0.0, 5000.5)):
        loop.reading(value, 10.0 * i)
    flags = loop.kind("flag")
    assert [f.data["episode_status"] for f in flags] == ["open", "closed"]
    assert loop.engine.flags.open == {}
    for flag in flags:
        loop.confirm(flag.seq, 40.0)
    assert loop.metered() == pytest.approx(0.5, abs=1e-9)


def test_dropped_readings_leave_a_flag_record_a_person_can_see(tmp_path):
    # 100 at 600 s, then 95 stamped 300 s (older: dropped), then 101 stamped 600 s again (same
    # time, other value: dropped), then 104 at 1200 s: counted 104 − 100 = 4, two flags, held 0.
    loop = Loop(tmp_path)
    loop.reading(100.0, 600.0)
    late = loop.reading(95.0, 300.0, mono=300.0)
    twin = loop.reading(101.0, 600.0)
    loop.reading(104.0, 1200.0)
    flags = loop.kind("flag")
    assert [(f.data["kind"], f.data["reading_seq"], f.value) for f in flags] == [
        ("out_of_order", late.seq, 0.0), ("duplicate", twin.seq, 0.0)]
    assert all(f.data["status"] == "ignored: check" for f in flags)
    assert "older than the last one" in flags[0].data["flag"]
    assert loop.metered() == pytest.approx(4.0, abs=1e-9)


def test_the_jitter_is_the_points_resolution_else_one_count_else_two_decimals(tmp_path):
    # tuf-2000m forward_total is a long_fraction (no count) and the DTSU666 import total a
    # float32: neither states a resolution, so a fall of up to 0.01 is noise
    plan = build_plan(site(tmp_path))
    assert plan.volume.params.jitter == plan.energy.params.jitter == 0.01


def test_a_recorded_replacement_lets_a_person_decide_the_old_meters_open_episode(tmp_path):
    # 1000 → 1020 (held 20, open) → the meter is swapped (new start 5) → confirming counts 20;
    # then 5 → 5.1 on the new meter (≤ 0.25 in 10 s): 20 + 0.1 = 20.1
    loop = Loop(tmp_path)
    loop.reading(1000.0, 0.0)
    loop.reading(1020.0, 10.0)
    opened = loop.kind("flag")[0]
    loop._commit(KIND_COMMAND, INSTALLER_DEVICE, "replace_meter", None, "", START + 20.0,
                 {"device": "flow-meter", "point": "forward_total", "new_start": 5.0})
    loop.reading(5.1, 30.0)
    loop.confirm(opened.seq, 40.0)
    assert loop.metered() == pytest.approx(20.1, abs=1e-9)


PLAN = build_plan(site(Path(tempfile.mkdtemp(prefix="wellgate-flags-"))))


@settings(max_examples=60, deadline=None)
@given(faulty_track(), st.data())
def test_through_the_engine_confirming_flags_never_counts_more_than_the_meter_moved(track, data):
    # the counter's property again, but with the flags as the store holds them and a person's
    # confirm commands: any subset of the open ones stays within the meter's true movement,
    # all of them (each named by any of its episode's records) give it exactly
    readings, moved, _, _ = track
    loop = Loop(plan=PLAN)
    for value, t, _ in readings:
        loop.reading(value, t)
    end = readings[-1][1]
    records = {f.data["episode"]: f.seq for f in loop.kind("flag")
               if f.data.get("episode") is not None}
    chosen = data.draw(st.sets(st.sampled_from(sorted(records)))) if records else set()
    for episode in sorted(chosen):
        loop.confirm(records[episode], end + 1)
    assert loop.metered() <= moved + 1e-6
    for flag in loop.kind("flag"):  # now every flag, again: each episode counts once
        loop.confirm(flag.seq, end + 2)
    assert loop.metered() == pytest.approx(moved, abs=1e-6)
