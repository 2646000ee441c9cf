"""Finding the uplink's next blocks and the store's seq span costs the same in an old store as in
a new one (found by the steady-CPU work of issue 16: `blocks_after` ran `WHERE last_seq > ?`,
which no index serves, so every batch read scanned the blocks table from its first block)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from gateway.store import queries
from gateway.store.schema import open_writer

# What the queries answered before, by scanning: the reference the new ones must equal.
SCAN_BLOCKS_AFTER = ("SELECT block_no, first_seq, last_seq, prev_head, head, signature FROM blocks "
                     "WHERE last_seq > ? ORDER BY block_no LIMIT ?")
SCAN_SPAN = "SELECT max(last_seq), min(first_seq) FROM blocks"


def make_blocks(conn: sqlite3.Connection, sizes: list[int], first_block: int = 1,
                first_seq: int = 1) -> None:
    """Block rows as commits make them: numbered in order, each holding the next `size` seqs."""
    rows, seq = [], first_seq
    for block_no, size in enumerate(sizes, start=first_block):
        rows.append((block_no, seq, seq + size - 1, size, b"p", b"h", 0.0, b"s"))
        seq += size
    with conn:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


def vm_steps(conn: sqlite3.Connection, call) -> int:
    """SQLite virtual-machine steps (in thousands) that `call` makes: a cost that counts rows
    scanned, independent of the machine's speed and load."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    conn.set_progress_handler(count, 1000)
    try:
        call()
    finally:
        conn.set_progress_handler(None, 0)
    return steps[0]


@pytest.fixture
def conn(tmp_path):
    connection = open_writer(tmp_path / "wellgate.db")
    yield connection
    connection.close()


def test_the_next_blocks_and_the_span_cost_no_more_in_a_years_store(conn):
    # A year of one commit a minute: 525,600 blocks of 16 readings.
    make_blocks(conn, [16] * 525_600)
    newest = 525_600 * 16
    for after in (newest - 16 * 50, newest - 1, newest):
        steps = vm_steps(conn, lambda after=after: queries.blocks_after(conn, after, 1000))
        assert steps <= 2, f"blocks_after({after}) took {steps}k VM steps"
    assert vm_steps(conn, lambda: queries.seq_span(conn)) <= 1
    assert queries.seq_span(conn) == (newest, 1)


def test_the_blocks_found_are_the_ones_the_scan_found(conn):
    # Blocks of random sizes, the oldest pruned away (numbering and seqs start late), cursors
    # everywhere: before the oldest block, inside blocks, on their edges, at and past the end.
    rng = random.Random(16)
    sizes = [rng.choice((1, 2, 16, 31, 38, 1000)) for _ in range(3000)]
    make_blocks(conn, sizes, first_block=41, first_seq=9001)
    newest = conn.execute("SELECT max(last_seq) FROM blocks").fetchone()[0]
    cursors = {0, 8999, 9000, 9001, 9002, newest - 1, newest, newest + 5}
    cursors |= {rng.randrange(9000, newest + 1) for _ in range(300)}
    for after in sorted(cursors):
        for limit in (1, 7, 5000):
            expected = [queries.StoredBlock._make(row)
                        for row in conn.execute(SCAN_BLOCKS_AFTER, (after, limit))]
            assert queries.blocks_after(conn, after, limit) == expected, (after, limit)
    assert queries.seq_span(conn) == tuple(conn.execute(SCAN_SPAN).fetchone())


def test_an_empty_store_has_no_blocks_and_the_empty_span(conn):
    assert queries.blocks_after(conn, 0, 10) == []
    assert queries.seq_span(conn) == (0, 1)


def test_a_seq_that_is_not_a_number_is_reported_as_damage(conn):
    make_blocks(conn, [16] * 100)
    with conn:
        conn.execute("UPDATE blocks SET last_seq = X'0000000febe99b39' WHERE block_no = 50")
    with pytest.raises(sqlite3.DatabaseError, match="last_seq holds b'"):
        queries.blocks_after(conn, 16 * 49 + 3, 10)
