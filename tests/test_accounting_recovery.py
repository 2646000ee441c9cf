"""The accounting room after an exception (issue 11 item 14): the groups it queued are committed
before it restores the checkpoint, and a record that raises has no effect at all."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from accounting_support import SimulatedFeed, site, stored

from gateway.accounting.intervals import IntervalAccount
from gateway.accounting.service import AccountingRoom

HOUR = 3600.0


def ok_clock():
    return 1, "test clock"


class HoldingSink:
    """Groups wait here until `flush`, as they wait in a busy writer's queue."""

    def __init__(self, sink) -> None:
        self.sink, self.held = sink, []

    def append_group(self, group) -> None:
        self.held.append(group)

    def append_record(self, entry) -> None:
        self.sink.append_record(entry)

    def flush(self, timeout: float = 10.0) -> bool:
        for group in self.held:
            self.sink.append_group(group)
        self.held = []
        return self.sink.flush(timeout)


def test_an_exception_neither_writes_a_group_twice_nor_half_applies_a_record(tmp_path,
                                                                            monkeypatch):
    """Two hours of the simulated well in 900 s intervals, then the room accounts them while
    every group it makes waits in the writer's queue. Counting one flow-total reading half-way
    through raises (its tracker has moved on, its volume is not counted yet). Hand-worked: the
    reading is skipped whole, so the next one carries its difference (totals are cumulative): the
    metered total is what the well pumped, every reading seq is in exactly one volume record and
    no record is written twice. Before the fix the room restored the checkpoint while its queued
    groups were still to commit and accounted everything again: each interval twice."""
    config = site(tmp_path, interval=900)
    feed = SimulatedFeed(config)
    try:
        feed.run(2 * HOUR, every=10)
        totals = [r.seq for r in stored(feed.state_dir, "reading")
                  if r.point == "forward_total"]
        poison = totals[len(totals) // 2]
        count = IntervalAccount.count

        def failing_count(self, name, total, interval):
            if interval.seq == poison:
                raise RuntimeError("a bug while counting one reading")
            return count(self, name, total, interval)

        monkeypatch.setattr(IntervalAccount, "count", failing_count)
        sink = HoldingSink(feed.sink)
        room = AccountingRoom.from_config(config, sink, clock_probe=ok_clock, poll_s=0.05)
        room.run_in_thread()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (room.engine is None
                                               or room.engine.cursor < totals[-1]):
            time.sleep(0.1)
        room.close(final=True)
        assert sink.flush()
        volumes = [r for r in stored(feed.state_dir, "volume") if r.point == "metered"]
        spans = sorted(tuple(r.data["seqs"]) for r in volumes)
        assert all(a[1] < b[0] for a, b in pairwise(spans)), "a reading counted twice"
        kinds = [(r.kind, r.point, r.wall_time, r.value) for r in stored(feed.state_dir)
                 if r.kind in ("volume", "energy", "alarm")]
        assert len(kinds) == len(set(kinds)), "a record written twice"
        metered = sum(r.value for r in volumes)
        assert metered == pytest.approx(feed.well.snapshot().volume_m3, abs=0.2)
        checkpoints = stored(feed.state_dir, "accounting")
        assert checkpoints[-1].value >= totals[-1]
    finally:
        feed.close()
