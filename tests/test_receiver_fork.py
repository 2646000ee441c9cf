"""Forks: a gateway's store cut back (its newest blocks deleted, next seq wound back) that later
signs other records under seqs the receiver already holds. The receiver compares every re-used
seq with what it stores, records a `fork` event naming the first differing seq, and refuses the
batch with kind "fork" and that seq (fork_seq), storing nothing of it. The same records sent
again stay a harmless duplicate.

The gateway here is the real store (gateway/store) and outbox; the cut-back is what a power cut
or tampering leaves: blocks and records after seq 160 gone, meta.next_seq back to 161, and new
readings appended (blocks of 48 records instead of 16, so block numbers and boundaries differ).
"""

from __future__ import annotations

import pytest
from uplink_support import GATEWAY, make_store

from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config, minute_polls
from gateway.uplink import wire
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config

RECIPES = recipes_from_config(backlog_config())
COLUMNS = "seq, kind, device, point, value, unit, quality, raw, wall_time, mono_time, boot, data"


@pytest.fixture
def world(tmp_path):
    store = make_store(tmp_path, minutes=20)  # 320 records, blocks 0..19 of 16
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    for nonce, after in enumerate((0, 160), start=1):
        assert receiver.accept(batch(store, after, 160, nonce)).acked_seq == after + 160
    yield store, receiver
    receiver.close()
    store.writer.close()


def batch(store, after: int, records: int, nonce: int) -> bytes:
    chunk = Outbox(store.db).read(after, records)
    return wire.encode_batch(store.writer.key, GATEWAY, nonce, 0.0, chunk.blocks, chunk.records,
                             chunk.prev_head, chunk.head, RECIPES)


def cut_back_and_rewrite(store, keep: int = 160, minutes: int = 12, per_block: int = 3) -> None:
    """Delete everything after seq `keep` (a block end), wind next_seq back, then append other
    readings, `per_block` minutes to a block."""
    conn = store.writer.conn
    conn.execute("DELETE FROM records WHERE seq > ?", (keep,))
    conn.execute("DELETE FROM blocks WHERE last_seq > ?", (keep,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'next_seq'", (keep + 1,))
    polls = list(minute_polls(minutes, seed=7, start_minute=500))
    for start in range(0, minutes, per_block):
        store.writer.append([reading for poll in polls[start:start + per_block]
                             for reading in poll])


def first_difference(store, receiver, from_seq: int = 1) -> int:
    """The first seq from `from_seq` whose record at the receiver differs from the gateway's
    (rewritten) one."""
    theirs = dict((row[0], row) for row in receiver.conn.execute(
        f"SELECT {COLUMNS} FROM records WHERE gateway = ?", (GATEWAY,)))
    for row in store.writer.conn.execute(f"SELECT {COLUMNS} FROM records WHERE seq >= ? ORDER "
                                         "BY seq", (from_seq,)):
        if row[0] in theirs and theirs[row[0]] != row:
            return row[0]
    raise AssertionError("the rewritten store does not differ from what the receiver holds")


def assert_fork_refused(receiver, ack, fork_seq, before_records: int) -> None:
    assert (ack.status, ack.code, ack.kind) == ("rejected", 409, "fork")
    assert ack.fork_seq == fork_seq
    assert ack.acked_seq == 320
    assert f"seq {fork_seq}" in ack.reason
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == before_records
    events = receiver.conn.execute("SELECT kind, first_seq, detail FROM events WHERE kind = "
                                   "'fork'").fetchall()
    assert len(events) == 1 and events[0][1] == fork_seq and f"seq {fork_seq}" in events[0][2]


def test_cursor_left_alone_the_rewritten_block_across_it_is_a_fork(world):
    """The gateway's cursor stays at 320; its next batch starts with the new block 305..352,
    whose seqs 305..320 the receiver holds with other content (once: a generic 409)."""
    store, receiver = world
    cut_back_and_rewrite(store)
    data = batch(store, 320, 200, nonce=3)
    assert wire.open_envelope(data).header["first_seq"] == 305
    ack = receiver.accept(data)
    assert_fork_refused(receiver, ack, first_difference(store, receiver, 305), 320)


def test_cursor_rewound_too_is_a_fork_not_a_database_error(world):
    """The gateway's cursor wound back to 144 as well: its batch starts with block 9, which the
    receiver holds identical, then new blocks under stored seqs (once: IntegrityError, HTTP 500,
    no event)."""
    store, receiver = world
    cut_back_and_rewrite(store)
    ack = receiver.accept(batch(store, 144, 400, nonce=3))
    assert_fork_refused(receiver, ack, first_difference(store, receiver), 320)
    assert ack.fork_seq == 161


def test_other_records_entirely_under_stored_seqs_are_not_a_duplicate(world):
    """A batch that ends before the receiver's acked seq was acked as a duplicate without a look
    at its content; other content under those seqs is a fork."""
    store, receiver = world
    cut_back_and_rewrite(store)
    data = batch(store, 160, 48, nonce=3)  # the new block 161..208 alone
    assert wire.open_envelope(data).header["last_seq"] == 208
    ack = receiver.accept(data)
    assert_fork_refused(receiver, ack, 161, 320)


def test_a_rewritten_chain_that_continues_at_the_next_seq_is_a_fork(world):
    """Same block layout as before: the batch after seq 320 starts from another chain head than
    the one stored; the fork is at or before seq 320 (which one the batch cannot tell)."""
    store, receiver = world
    cut_back_and_rewrite(store, minutes=20, per_block=1)
    ack = receiver.accept(batch(store, 320, 160, nonce=3))
    assert (ack.status, ack.code, ack.kind, ack.fork_seq) == ("rejected", 409, "fork", None)
    assert "at or before seq 320" in ack.reason
    kinds = [kind for (kind,) in receiver.conn.execute("SELECT kind FROM events")]
    assert kinds == ["fork"]


def test_repeated_fork_refusals_are_one_event(world):
    store, receiver = world
    cut_back_and_rewrite(store)
    for nonce in range(3, 13):
        assert receiver.accept(batch(store, 320, 200, nonce)).kind == "fork"
    receiver.flush_events()
    rows = receiver.conn.execute("SELECT kind, count FROM events").fetchall()
    assert rows == [("fork", 10)]


def test_the_same_records_again_stay_a_duplicate(world):
    store, receiver = world
    for nonce, after in ((3, 0), (4, 80), (5, 144)):
        ack = receiver.accept(batch(store, after, 160, nonce))
        assert (ack.status, ack.code, ack.acked_seq, ack.kind) == ("duplicate", 200, 320, "")
    assert receiver.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0
