"""StoreSink.append_group: a group of records commits whole in one signed block or not at all,
in the order given, never split by commit_max, never dropped, retried after a failed commit."""

from __future__ import annotations

import sqlite3

import pytest
from store_support import synthetic_reading

from gateway.config import StoreSection
from gateway.store import StoreSink, create_key, load_private_key, open_reader
from gateway.store.records import ROW_COLUMNS, NewRecord, Record
from gateway.store.schema import DB_FILE
from gateway.store.verify import verify_store


@pytest.fixture
def state_dir(tmp_path):
    folder = tmp_path / "state"
    create_key(folder)
    return folder


def group(name: str, size: int) -> list[NewRecord]:
    return [NewRecord.make("volume", "acct", name, float(i), "m³", wall_time=1000.0 + i,
                           data={"part": i, "of": size}) for i in range(size)]


def stored(state_dir) -> tuple[list[Record], list[tuple[int, int]]]:
    conn = open_reader(state_dir / DB_FILE)
    try:
        records = [Record.from_row(row) for row in
                   conn.execute(f"SELECT {ROW_COLUMNS} FROM records ORDER BY seq")]
        blocks = conn.execute("SELECT first_seq, last_seq FROM blocks ORDER BY block_no")
        return records, list(blocks)
    finally:
        conn.close()


def block_of(seq: int, blocks: list[tuple[int, int]]) -> int:
    return next(i for i, (first, last) in enumerate(blocks) if first <= seq <= last)


def test_a_group_larger_than_commit_max_commits_in_one_block_in_order(state_dir):
    sink = StoreSink(state_dir, StoreSection(commit_max=5, commit_interval=60))
    try:
        sink.accept(synthetic_reading(i) for i in range(12))
        sink.append_group(group("a", 9))
        sink.accept(synthetic_reading(i) for i in range(12, 20))
        sink.append_group(group("b", 3))
        assert sink.flush()
    finally:
        sink.close()
    records, blocks = stored(state_dir)
    for name, size in (("a", 9), ("b", 3)):
        members = [r for r in records if r.kind == "volume" and r.point == name]
        assert [r.data["part"] for r in members] == list(range(size))
        assert [r.seq for r in members] == list(range(members[0].seq, members[0].seq + size))
        assert len({block_of(r.seq, blocks) for r in members}) == 1
    assert sum(r.kind == "reading" for r in records) == 20
    assert verify_store(open_reader(state_dir / DB_FILE),
                        load_private_key(state_dir).public_key()).ok


def test_a_failed_commit_keeps_the_group_whole_and_it_commits_once_later(state_dir):
    class Failing(sqlite3.Connection):
        fail = False

        def execute(self, sql, *args):
            if sql == "COMMIT" and Failing.fail:
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    def connect(path):
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               factory=Failing)

    sink = StoreSink(state_dir, StoreSection(commit_interval=60), connect=connect,
                     retry_initial=0.05, retry_max=0.1)
    try:
        Failing.fail = True
        sink.append_group(group("g", 4))
        assert not sink.flush(timeout=0.5)  # cannot commit: nothing of the group is stored
        assert stored(state_dir)[0] == []
        Failing.fail = False
        assert sink.flush(timeout=5)
    finally:
        sink.close()
    records, blocks = stored(state_dir)
    members = [r for r in records if r.kind == "volume"]
    assert [r.data["part"] for r in members] == [0, 1, 2, 3]
    assert len({block_of(r.seq, blocks) for r in members}) == 1
    assert [r.point for r in records if r.kind == "alarm"] == ["store_write_failing"] * 2


def test_a_full_memory_buffer_drops_readings_never_a_group(state_dir):
    class Failing(sqlite3.Connection):
        def execute(self, sql, *args):
            if sql == "COMMIT" and Failing.fail:
                raise sqlite3.OperationalError("disk I/O error")
            return super().execute(sql, *args)

    Failing.fail = True

    def connect(path):
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               factory=Failing)

    sink = StoreSink(state_dir, StoreSection(commit_interval=60, buffer_max=10_000),
                     connect=connect, retry_initial=0.05, retry_max=0.1)
    try:
        sink.append_group(group("g", 3))
        sink.accept(synthetic_reading(i) for i in range(10_050))
        assert sink.stats.dropped == 50
        Failing.fail = False
        assert sink.flush(timeout=10)
    finally:
        sink.close()
    records, _ = stored(state_dir)
    assert [r.data["part"] for r in records if r.kind == "volume"] == [0, 1, 2]


def test_a_record_without_canonical_form_refuses_the_whole_group(state_dir):
    sink = StoreSink(state_dir, StoreSection(commit_interval=60))
    try:
        bad = NewRecord("volume", "acct", "x", 1.0, "m³", "good", (), 0.0, 0.0,
                        {"nan": float("nan")}, '{"nan":NaN}')
        with pytest.raises(ValueError, match="1 record\\(s\\) of a group of 3 cannot be encoded"):
            sink.append_group([*group("g", 2), bad])
        assert sink.flush()
    finally:
        sink.close()
    assert [r for r in stored(state_dir)[0] if r.kind == "volume"] == []
