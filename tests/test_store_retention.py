"""Retention and thinning: only whole blocks delivered to every uplink and older than retention
are pruned; thinning keeps totals at a coarser interval, records exactly what it removed, frees
pages, never launders an altered record, and verify still passes."""

from __future__ import annotations

import sqlite3
import time

import pytest
from store_support import index_of, stored, synthetic_reading, verified

from gateway.config import StoreSection
from gateway.store import StoreSink, StoreWriter, create_key, load_private_key, open_reader
from gateway.store.export import export_records
from gateway.store.records import NewRecord, from_reading
from gateway.store.retention import prune_delivered, thin_oldest
from gateway.store.schema import DB_FILE

PER_BLOCK = 10


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def state_dir(tmp_path):
    folder = tmp_path / "state"
    create_key(folder)
    return folder


def write_blocks(writer: StoreWriter, clock: Clock, walls: list[float], first_index: int = 0):
    for number, wall in enumerate(walls):
        clock.now = wall
        start = first_index + number * PER_BLOCK
        writer.append([from_reading(synthetic_reading(i)) for i in range(start, start + PER_BLOCK)])


def acked(writer: StoreWriter, **destinations: int) -> None:
    with writer.transaction() as conn:
        conn.executemany("INSERT OR REPLACE INTO deliveries (destination, acked_seq) VALUES (?, ?)",
                         destinations.items())






def block_numbers(writer: StoreWriter) -> list[int]:
    return [n for (n,) in writer.conn.execute("SELECT block_no FROM blocks ORDER BY block_no")]


@pytest.fixture
def five_blocks(state_dir):
    """Blocks 0..4 (seq 1..50) committed at wall times 0, 100, 200, 300, 400."""
    clock = Clock()
    writer = StoreWriter(state_dir, load_private_key(state_dir), clock=clock)
    write_blocks(writer, clock, [0, 100, 200, 300, 400])
    yield writer, clock
    writer.close()


def test_only_whole_blocks_every_uplink_acknowledged_are_pruned(five_blocks, state_dir):
    writer, _ = five_blocks
    acked(writer, platform=25, backup=45)  # block 2 (seq 21..30) only partly delivered
    result = prune_delivered(writer, ["platform", "backup"], older_than_wall=350, reason="test")
    assert (result.first_block, result.last_block, result.first_seq, result.last_seq) == (
        0, 1, 1, 20)
    assert block_numbers(writer) == [2, 3, 4, 5]  # 5 holds the "pruned" event
    records = stored(state_dir)
    assert records[0].seq == 21
    event = records[-1]
    assert (event.kind, event.point, event.value) == ("store_event", "pruned", 20)
    assert event.data["blocks"] == [0, 1] and event.data["seqs"] == [[1, 20]]
    assert event.data["delivered_seq"] == 25 and event.data["reason"] == "test"
    assert verified(state_dir).summary() == (
        "OK: 31 records in 4 blocks, seq 21..51 (blocks 0..1 pruned after delivery)")


def test_blocks_younger_than_retention_stay_even_when_delivered(five_blocks):
    writer, _ = five_blocks
    acked(writer, platform=50)
    result = prune_delivered(writer, ["platform"], older_than_wall=250, reason="test")
    assert (result.first_block, result.last_block) == (0, 2)  # walls 0, 100, 200 < 250
    assert block_numbers(writer)[:2] == [3, 4]


def test_the_newest_block_is_never_pruned_so_the_chain_continues(five_blocks, state_dir):
    writer, clock = five_blocks
    acked(writer, platform=50)  # everything delivered
    prune_delivered(writer, ["platform"], older_than_wall=None, reason="test")
    assert block_numbers(writer) == [4, 5]  # block 4 was the newest: kept; 5 is the event
    prune_delivered(writer, ["platform"], older_than_wall=None, reason="test")
    assert block_numbers(writer) == [5, 6]  # now 4 could go; the event block 5 is not delivered
    assert prune_delivered(writer, ["platform"], older_than_wall=None, reason="test") is None
    write_blocks(writer, clock, [500], first_index=50)
    result = verified(state_dir)
    assert result.ok, result.summary()
    assert result.last_seq == stored(state_dir)[-1].seq


@pytest.mark.parametrize(("destinations", "acks"), [
    ([], {}),  # no uplink configured: nothing counts as delivered
    (["platform", "backup"], {"platform": 50}),  # one uplink never acknowledged anything
    (["platform"], {"platform": 0}),
])
def test_undelivered_history_is_never_pruned(five_blocks, destinations, acks):
    writer, _ = five_blocks
    if acks:
        acked(writer, **acks)
    assert prune_delivered(writer, destinations, older_than_wall=None, reason="test") is None
    assert block_numbers(writer) == [0, 1, 2, 3, 4]


def test_deleting_more_leading_blocks_than_pruning_did_is_caught(five_blocks, state_dir):
    writer, _ = five_blocks
    acked(writer, platform=20)
    prune_delivered(writer, ["platform"], older_than_wall=None, reason="test")
    writer.conn.execute("DELETE FROM records WHERE seq BETWEEN 21 AND 30")
    writer.conn.execute("DELETE FROM blocks WHERE block_no = 2")
    result = verified(state_dir)
    assert not result.ok and result.bad_seq == 31 and "no pruning event" in result.problem


def test_the_sink_prunes_delivered_history_past_retention(state_dir):
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.01, retention_days=1e-5),
                     destinations=["platform"], retention_every=0.05, maintenance_every=0.05)
    sink.accept([synthetic_reading(i) for i in range(30)])
    assert sink.flush()
    sink.accept([synthetic_reading(30)])  # a second block: the first one is not the newest
    assert sink.flush()
    conn = sqlite3.connect(state_dir / DB_FILE)
    conn.execute("INSERT INTO deliveries (destination, acked_seq) VALUES ('platform', 30)")
    conn.commit()
    conn.close()
    deadline = time.monotonic() + 10
    while not any(r.point == "pruned" for r in stored(state_dir)):
        assert time.monotonic() < deadline, "never pruned"
        time.sleep(0.05)
    sink.close()
    assert min(r.seq for r in stored(state_dir)) == 31
    assert verified(state_dir).ok


# --- thinning -----------------------------------------------------------------------------------

KEEP_INTERVAL = 0.05  # s: synthetic readings are 1 ms apart


def expected_kept(indexes: range) -> set[int]:
    """The thinning rule written out again: totals every KEEP_INTERVAL per point, status when
    the value changes, instants never."""
    last_total: dict = {}
    last_status: dict = {}
    kept = set()
    for i in indexes:
        reading = synthetic_reading(i)
        key = (reading.device, reading.point)
        if reading.kind == "total":
            if key not in last_total or reading.wall_time - last_total[key] >= KEEP_INTERVAL:
                last_total[key] = reading.wall_time
                kept.add(i)
        elif reading.kind == "status":
            if last_status.get(key, object()) != reading.value:
                kept.add(i)
            last_status[key] = reading.value
    return kept


@pytest.fixture
def writer_with_readings(state_dir):
    """1000 synthetic readings (seq 1..1000) in 10 blocks."""
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    for block in range(10):
        writer.append([from_reading(synthetic_reading(i))
                       for i in range(block * 100, (block + 1) * 100)])
    yield writer
    writer.close()


def test_thinning_keeps_totals_coarsely_lists_exactly_what_it_removed_and_verifies(
        writer_with_readings, state_dir):
    writer = writer_with_readings
    result = thin_oldest(writer, KEEP_INTERVAL, "test", free_bytes=1, floor_bytes=2)
    records = stored(state_dir)
    kept = {index_of(r) for r in records if r.kind == "reading" and not r.is_tombstone}
    assert kept == expected_kept(range(1000))
    tombstones = {r.seq for r in records if r.is_tombstone}
    assert len(tombstones) == 1000 - len(kept) == result.thinned
    event = records[-1]
    assert (event.kind, event.point, event.value) == ("store_event", "thinned", len(tombstones))
    assert {s for a, b in event.data["seqs"] for s in range(a, b + 1)} == tombstones
    assert (event.data["free_bytes"], event.data["floor_bytes"]) == (1, 2)
    assert all(r.kind is None and r.raw == [] and len(r.leaf) == 32 for r in records
               if r.is_tombstone)
    summary = verified(state_dir).summary()
    assert summary == f"OK: 1001 records in 11 blocks, seq 1..1001 ({len(tombstones)} thinned)"
    assert thin_oldest(writer, KEEP_INTERVAL, "test", 1, 2).thinned == 0  # only the event left
    assert thin_oldest(writer, KEEP_INTERVAL, "test", 1, 2) is None


def test_thinning_frees_pages_for_new_records(state_dir):
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    for block in range(40):
        writer.append([from_reading(synthetic_reading(i))
                       for i in range(block * 500, (block + 1) * 500)])
    assert writer.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    pages = writer.conn.execute("PRAGMA page_count").fetchone()[0]
    thin_oldest(writer, 3600.0, "test", 1, 2)
    freed = writer.conn.execute("PRAGMA freelist_count").fetchone()[0]
    writer.close()
    assert freed > pages * 0.3, (freed, pages)


def test_export_leaves_tombstones_out_but_keeps_the_event(writer_with_readings, state_dir):
    thin_oldest(writer_with_readings, KEEP_INTERVAL, "test", 1, 2)
    conn = open_reader(state_dir / DB_FILE)
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

    written = export_records(conn, Out(), "jsonl")
    conn.close()
    records = stored(state_dir)
    assert written == len(lines) == sum(1 for r in records if not r.is_tombstone)
    assert '"point":"thinned"' in lines[-1]


def test_thinning_never_launders_an_altered_record(writer_with_readings, state_dir):
    writer = writer_with_readings
    writer.conn.execute("UPDATE records SET value = 999.0 WHERE seq = 150")  # block 1
    thin_oldest(writer, KEEP_INTERVAL, "test", 1, 2)
    records = {r.seq: r for r in stored(state_dir)}
    assert not any(records[seq].is_tombstone for seq in range(101, 201))  # block 1 left as is
    assert any(records[seq].is_tombstone for seq in range(1, 101))
    result = verified(state_dir)
    assert not result.ok and result.bad_seq == 150


def test_deleting_the_thinning_event_is_caught(writer_with_readings, state_dir):
    thin_oldest(writer_with_readings, KEEP_INTERVAL, "test", 1, 2)
    writer_with_readings.conn.execute("DELETE FROM records WHERE seq = 1001")
    result = verified(state_dir)
    assert not result.ok and result.bad_seq == 1001 and "missing" in result.problem


def test_a_thinned_store_keeps_growing_and_verifying_after_a_restart(writer_with_readings,
                                                                     state_dir):
    thin_oldest(writer_with_readings, KEEP_INTERVAL, "test", 1, 2)
    writer_with_readings.close()
    writer = StoreWriter(state_dir, load_private_key(state_dir))
    writer.append([from_reading(synthetic_reading(i)) for i in range(1000, 1100)])
    writer.close()
    result = verified(state_dir)
    assert result.ok and result.last_seq == 1101, result.summary()


def test_records_not_yet_accounted_are_never_pruned(five_blocks, state_dir):
    """Issue 11 item 15: the accounting room's newest checkpoint says it has consumed seq 15.
    Everything (seq 1..51) is delivered, but only blocks whose last seq is <= 15 may go: block
    0 (seq 1..10); block 1 (seq 11..20) still holds seqs 16..20 the room has not accounted."""
    writer, clock = five_blocks
    clock.now = 450
    writer.append([NewRecord.make("accounting", "accounting", "checkpoint", 15, wall_time=450,
                                  data={"cursor": 15})])  # block 5, seq 51
    acked(writer, platform=51)
    result = prune_delivered(writer, ["platform"], older_than_wall=None, reason="test")
    assert (result.first_block, result.last_block, result.first_seq, result.last_seq) == (
        0, 0, 1, 10)
    assert prune_delivered(writer, ["platform"], older_than_wall=None, reason="test") is None
    assert stored(state_dir)[0].seq == 11
