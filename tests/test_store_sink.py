"""StoreSink: when it commits, and what a full disk or an I/O error does (nothing lost that fits
in memory, no crash, no corruption, alarms recorded, writing resumes when space returns)."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
from store_support import index_of, matches, stored, synthetic_reading, verified

from gateway.config import StoreSection
from gateway.readings import Reading
from gateway.store import StoreSink, create_key, open_reader
from gateway.store.records import Record
from gateway.store.schema import DB_FILE


def readings(first: int, count: int) -> list[Reading]:
    return [synthetic_reading(i) for i in range(first, first + count)]


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def state_dir(tmp_path):
    folder = tmp_path / "state"
    create_key(folder)
    return folder


def faulty_connect():
    """A connection factory whose connections fail on demand: `fail` makes COMMIT raise that
    message (no SQLite error code, like an I/O error the driver reports), `page_limit` sets
    PRAGMA max_page_count before each transaction (a genuine SQLITE_FULL once the file would
    grow past it), `stall` makes COMMIT hang that many seconds (a card busy with its own garbage
    collection), `opens_failing` makes that many next connects fail."""

    class Faulty(sqlite3.Connection):
        fail: str | None = None
        page_limit: int | None = None
        stall = 0.0
        stalling = threading.Event()  # set while a COMMIT hangs
        opens = 0

        def execute(self, sql, *args):
            if sql.startswith("BEGIN") and Faulty.page_limit is not None:
                super().execute(f"PRAGMA max_page_count={Faulty.page_limit}")
            if sql == "COMMIT" and Faulty.stall:
                Faulty.stalling.set()
                time.sleep(Faulty.stall)
                Faulty.stalling.clear()
            if sql == "COMMIT" and Faulty.fail:
                raise sqlite3.OperationalError(Faulty.fail)
            return super().execute(sql, *args)

    def connect(path):
        Faulty.opens += 1
        if getattr(connect, "opens_failing", 0):
            connect.opens_failing -= 1
            raise sqlite3.OperationalError("unable to open database file")
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                               factory=Faulty)

    connect.faulty = Faulty
    return connect






def reading_indexes(records: list[Record]) -> list[int]:
    return [index_of(r) for r in records if r.kind == "reading"]


FAST = {"retry_initial": 0.05, "retry_max": 0.2, "maintenance_every": 3600.0}


def test_commit_max_waiting_readings_commit_without_waiting_for_the_interval(state_dir):
    commits = []
    sink = StoreSink(state_dir, StoreSection(commit_interval=3600, commit_max=100),
                     on_commit=commits.append, **FAST)
    sink.accept(readings(0, 250))
    wait_until(lambda: sink.stats.committed_records == 200, what="two full batches")
    assert [b.count for b in commits] == [100, 100]
    time.sleep(0.2)
    assert sink.stats.buffered == 50  # the rest waits for the interval (an hour here)
    sink.close()
    assert [b.count for b in commits] == [100, 100, 50]  # close commits what waits
    assert reading_indexes(stored(state_dir)) == list(range(250))


def test_the_oldest_reading_waits_at_most_commit_interval(state_dir):
    commits = []
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.3, commit_max=1000),
                     on_commit=commits.append, **FAST)
    sink.accept(readings(0, 5))  # the first readings since start commit at once
    wait_until(lambda: commits, what="the first commit")
    started = time.monotonic()
    sink.accept(readings(5, 5))
    wait_until(lambda: len(commits) == 2, what="a second commit")
    waited = time.monotonic() - started
    assert 0.25 <= waited < 2.0, waited
    sink.close()
    assert all(matches(r) for r in stored(state_dir))


def test_the_first_readings_since_start_commit_at_once(state_dir):
    commits = []
    sink = StoreSink(state_dir, StoreSection(commit_interval=3600), on_commit=commits.append,
                     **FAST)
    started = time.monotonic()
    sink.accept(readings(0, 3))
    wait_until(lambda: commits, what="the first commit")
    assert time.monotonic() - started < 2.0  # not the hour of commit_interval
    sink.accept(readings(3, 3))
    time.sleep(0.2)
    assert sink.stats.buffered == 3 and len(commits) == 1  # later ones wait for the interval
    sink.close()
    assert reading_indexes(stored(state_dir)) == list(range(6))


def test_accept_returns_at_once_while_the_writer_hangs_on_the_disk(state_dir):
    connect = faulty_connect()
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.02), connect=connect, **FAST)
    connect.faulty.stall = 3.0
    sink.accept(readings(0, 100))
    assert connect.faulty.stalling.wait(10), "the writer never reached its COMMIT"
    slowest = 0.0
    for chunk in range(1, 11):  # the writer is in its 3 s COMMIT all this time
        started = time.monotonic()
        sink.accept(readings(chunk * 100, 100))
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(0.05)
    assert sink.stats.committed_records == 0, "the stalled commit ended early: test void"
    assert slowest < 1.0, slowest  # waiting for the disk would take until the stall ends
    connect.faulty.stall = 0.0
    assert sink.flush(timeout=20)
    sink.close()
    assert reading_indexes(stored(state_dir)) == list(range(1100))


def test_a_full_disk_keeps_readings_in_memory_then_stores_them_all_with_the_alarm(state_dir):
    connect = faulty_connect()
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.02), connect=connect, **FAST)
    sink.accept(readings(0, 100))
    assert sink.flush()
    reader = open_reader(state_dir / DB_FILE)
    connect.faulty.page_limit = reader.execute("PRAGMA page_count").fetchone()[0]
    reader.close()
    for chunk in range(50):  # polling goes on while the disk is full
        sink.accept(readings(100 + chunk * 100, 100))
        time.sleep(0.005)
    wait_until(lambda: sink.stats.write_failing, what="writes failing")
    stats = sink.stats
    assert "full" in stats.last_error and stats.buffered > 0 and stats.dropped == 0
    connect.faulty.page_limit = 1_000_000  # space returns
    wait_until(lambda: not sink.stats.write_failing and sink.stats.buffered == 0,
               what="writing again")
    sink.close()
    records = stored(state_dir)
    assert reading_indexes(records) == list(range(5100))  # every reading, once, in order
    assert all(matches(r) for r in records if r.kind == "reading")
    alarms = [r for r in records if r.kind == "alarm"]
    assert [(a.point, a.value) for a in alarms] == [("store_write_failing", "raised"),
                                                   ("store_write_failing", "cleared")]
    assert "database or disk is full" in alarms[0].data["error"]
    assert alarms[1].data["failed_attempts"] >= 1
    assert verified(state_dir).ok


def test_an_io_error_is_logged_once_the_connection_reopened_and_writing_resumes(
        state_dir, caplog):
    connect = faulty_connect()
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.02), connect=connect, **FAST)
    boot = sink.stats.boot
    connect.faulty.fail = "disk I/O error"
    with caplog.at_level(logging.DEBUG, logger="gateway.store"):
        sink.accept(readings(0, 10))
        wait_until(lambda: connect.faulty.opens >= 4, what="several reconnects")
        connect.faulty.fail = None
        sink.accept(readings(10, 10))
        wait_until(lambda: sink.stats.buffered == 0 and not sink.stats.write_failing,
                   what="writing again")
    sink.close()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "disk I/O error" in errors[0].getMessage()  # once per change
    assert any("writing again" in r.getMessage() for r in caplog.records)
    records = stored(state_dir)
    assert reading_indexes(records) == list(range(20))
    assert {r.boot for r in records} == {boot}  # a reconnect is not a new boot
    assert [a.value for a in records if a.kind == "alarm"] == ["raised", "cleared"]
    assert verified(state_dir).ok


def test_a_store_that_cannot_be_opened_at_start_is_retried_and_polling_goes_on(state_dir):
    connect = faulty_connect()
    connect.opens_failing = 3
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.02), connect=connect, **FAST)
    assert sink.stats.boot is None and sink.stats.write_failing
    sink.accept(readings(0, 30))
    wait_until(lambda: sink.stats.committed_records >= 30, what="the store opened and written")
    assert sink.stats.boot == 1
    sink.close()
    assert reading_indexes(stored(state_dir)) == list(range(30))


def test_a_full_memory_buffer_drops_the_oldest_counts_them_and_records_the_loss(state_dir):
    connect = faulty_connect()
    connect.faulty.fail = "database or disk is full"
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.01, buffer_max=10_000),
                     connect=connect, retry_initial=1.0, retry_max=1.0,
                     maintenance_every=3600.0)
    sink.accept(readings(0, 1))
    wait_until(lambda: sink.stats.write_failing, what="writes failing")
    sink.accept(readings(1, 11_999))  # one call, while the writer waits to retry
    assert sink.stats.dropped == 2000 and sink.stats.buffered == 10_000
    connect.faulty.fail = None
    wait_until(lambda: sink.stats.buffered == 0, timeout=20, what="the buffer written")
    sink.close()
    records = stored(state_dir)
    assert reading_indexes(records) == list(range(2000, 12_000))
    (event,) = [r for r in records if r.point == "readings_dropped"]
    assert event.kind == "store_event" and event.value == 2000
    assert event.data["first_wall_time"] == synthetic_reading(0).wall_time
    assert event.data["last_wall_time"] == synthetic_reading(1999).wall_time
    assert verified(state_dir).ok


def test_close_while_the_disk_stays_full_gives_up_at_the_deadline(state_dir, caplog):
    connect = faulty_connect()
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.01), connect=connect, **FAST)
    connect.faulty.fail = "database or disk is full"
    sink.accept(readings(0, 10))
    wait_until(lambda: sink.stats.write_failing, what="writes failing")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="gateway.store"):
        sink.close(timeout=0.5)
    assert time.monotonic() - started < 3
    assert any("10 readings not committed (lost)" in r.getMessage() for r in caplog.records)
    assert verified(state_dir).ok


def test_accept_never_raises_and_a_record_that_cannot_be_encoded_is_rejected_alone(state_dir):
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.01), **FAST)
    sink.accept([object()])  # not a reading: logged, nothing queued
    sink.accept(None)
    bad = synthetic_reading(1)
    bad = Reading(bad.device, bad.point, "\ud800", bad.unit, bad.raw, bad.wall_time,
                  bad.mono_time)  # a lone surrogate has no UTF-8 form
    sink.accept([synthetic_reading(0), bad, synthetic_reading(2)])
    assert sink.flush()
    sink.close()
    records = stored(state_dir)
    assert reading_indexes(records) == [0, 2]
    (event,) = [r for r in records if r.kind == "store_event"]
    assert (event.point, event.value) == ("records_rejected", 1)
    assert verified(state_dir).ok


def test_low_free_space_raises_the_alarm_thins_and_clears_when_space_returns(state_dir):
    free = [10**12]
    sink = StoreSink(state_dir, StoreSection(commit_interval=0.01, free_space_floor_mb=100,
                                             thin_keep_interval=1.0),
                     free_space=lambda: free[0], retry_initial=0.05, maintenance_every=0.05)
    sink.accept(readings(0, 6000))  # 6 s of synthetic time, 1 ms apart
    assert sink.flush()
    free[0] = 50_000_000  # below the 100 MB floor
    wait_until(lambda: sink.stats.low_space, what="the low-space state")
    wait_until(lambda: any(r.point == "thinned" for r in stored(state_dir)), what="thinning")
    free[0] = 200_000_000
    wait_until(lambda: not sink.stats.low_space, what="the alarm cleared")
    sink.accept(readings(6000, 10))
    sink.close()
    records = stored(state_dir)
    alarms = [(r.point, r.value, r.data["free_bytes"]) for r in records if r.kind == "alarm"]
    assert alarms == [("store_low_space", "raised", 50_000_000),
                      ("store_low_space", "cleared", 200_000_000)]
    thinned = [r for r in records if r.point == "thinned"]
    listed = {seq for event in thinned for a, b in event.data["seqs"] for seq in range(a, b + 1)}
    assert listed == {r.seq for r in records if r.is_tombstone}
    assert thinned[0].data["free_bytes"] == 50_000_000
    assert thinned[0].data["floor_bytes"] == 100_000_000
    kept = [r for r in records if r.kind == "reading" and index_of(r) < 6000]
    assert {r.data["kind"] for r in kept} <= {"total", "status"}  # every instant thinned
    assert reading_indexes(records)[-10:] == list(range(6000, 6010))  # new ones still stored
    result = verified(state_dir)
    assert result.ok and result.thinned == len(listed), result.summary()
