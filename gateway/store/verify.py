"""Verify a store: every block signature, the hash chain through every record, seq continuity.

Streams blocks and records side by side in one read transaction (one consistent snapshot, never
blocking the writer), holding only the current block and the thinned-seq ranges in memory.
Stops at the first problem, which is always the lowest bad seq, and names it:
  - a record whose content no longer matches its stored leaf prefix: that record (altered);
  - records that do not hash to their block's signed head: the block's first seq (altered, and
    the leaf prefix too);
  - a seq missing inside a block (deleted), a block missing between two others, or
    meta.next_seq beyond the last block (the newest blocks deleted);
  - a record outside every signed block (inserted);
  - a block whose signature does not verify with the given public key (forged or wrong key);
  - a tombstone (thinned record) that no later "thinned" store_event lists;
  - a store starting after block 0 without a "pruned" store_event saying so.
Signatures are checked with the public key given, never with a key found in the database.
A file SQLite cannot read (flipped bytes, lost pages) is reported as "the database file is
damaged: <what SQLite says>", never raised; check_file() also runs SQLite's quick_check once the
chain is verified, so damage outside the records (b-tree pages, the file header) is found too.
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.store import chain
from gateway.store.block_rows import LEAF_PREFIX_SIZE
from gateway.store.records import (
    EVENT_PRUNED,
    EVENT_THINNED,
    KIND_STORE_EVENT,
    ROW_COLUMNS,
    STORE_DEVICE,
    unpack_raw,
)

DAMAGED = "the database file is damaged: "
# What SQLite says when it cannot get at the file at all (not damage: verify cannot run)
NOT_DAMAGE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_PERM",
                        "SQLITE_NOMEM", "SQLITE_READONLY", "SQLITE_AUTH", "SQLITE_INTERRUPT"})
# What a record's damaged content can raise while it is read into its canonical form
CONTENT_ERRORS = (ValueError, TypeError, OverflowError, KeyError, IndexError, AttributeError,
                  struct.error, RecursionError)

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                            allow_nan=False)


class _Bad(Exception):
    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(seq, problem)
        self.seq = seq
        self.problem = problem


def is_damage(exc: sqlite3.Error) -> bool:
    """Whether a SQLite error means the file is damaged (not: locked, unreadable, no memory)."""
    return getattr(exc, "sqlite_errorname", "") not in NOT_DAMAGE


@dataclass
class VerifyResult:
    """What verify found: OK with counts, or the first bad seq and what is wrong there."""

    ok: bool
    records: int = 0  # records checked, tombstones included
    blocks: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    thinned: int = 0
    first_block: int | None = None
    bad_seq: int | None = None
    problem: str = ""

    def summary(self) -> str:
        if not self.ok and self.bad_seq is None:
            return f"FAILED: {self.problem}"
        if not self.ok:
            return f"FAILED at seq {self.bad_seq}: {self.problem}"
        if self.blocks == 0:
            return "OK: 0 records in 0 blocks (an empty store)"
        text = (f"OK: {self.records} records in {self.blocks} blocks, "
                f"seq {self.first_seq}..{self.last_seq}")
        notes = []
        if self.thinned:
            notes.append(f"{self.thinned} thinned")
        if self.first_block:
            notes.append(f"blocks 0..{self.first_block - 1} pruned after delivery")
        return text + (f" ({'; '.join(notes)})" if notes else "")


class _DataCache:
    """Parsed data of the few texts most records repeat ({"kind":"instant"} ...)."""

    def __init__(self, limit: int = 256) -> None:
        self._parsed: dict[str, Any] = {}
        self._limit = limit

    def get(self, text: str | None) -> Any:
        if text is None:
            return None
        value = self._parsed.get(text)
        if value is None:
            value = json.loads(text)
            if len(self._parsed) < self._limit and len(text) <= 64:
                self._parsed[text] = value
        return value


def _ranges_of(data: Any) -> list[tuple[int, int]]:
    ranges = data.get("seqs", []) if isinstance(data, dict) else []
    return [(int(a), int(b)) for a, b in ranges]


@dataclass
class Verifier:
    """Checks a store; a second check() continues after the blocks the first one verified (the
    demo's live status). A problem found stays: later checks report it again."""

    public_key: Ed25519PublicKey
    progress: Callable[[int], None] | None = None  # called with the records of each block
    file_check: bool = False  # also SQLite's quick_check of the whole file, once the chain is OK
    _next_block: int | None = None
    _next_seq: int | None = None
    _head: bytes = chain.ZERO_HEAD
    _result: VerifyResult = field(default_factory=lambda: VerifyResult(ok=True))
    _tombstones: list[list[int]] = field(default_factory=list)  # merged [first, last] runs
    _thinned_lists: list[tuple[int, int, int]] = field(default_factory=list)  # (a, b, event seq)
    _pruned_through: set[int] = field(default_factory=set)
    _data: _DataCache = field(default_factory=_DataCache)

    def check(self, conn: sqlite3.Connection) -> VerifyResult:
        """Verify what was committed since the last check (everything, the first time)."""
        if not self._result.ok:
            return self._result
        try:
            conn.execute("BEGIN")  # one snapshot for blocks, records and meta
            try:
                self._check(conn)
                if self.file_check:
                    self._check_file(conn)
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        except _Bad as bad:
            self._result.ok = False
            self._result.bad_seq, self._result.problem = bad.seq, bad.problem
        except sqlite3.Error as exc:
            if not is_damage(exc):
                raise
            self._result.ok = False
            verified = self._result.last_seq
            self._result.problem = DAMAGED + " ".join(str(exc).split()) + (
                "" if verified is None else f" (seq {self._result.first_seq}..{verified} "
                                            "verified before it)")
        return self._result

    def _check_file(self, conn: sqlite3.Connection) -> None:
        problems = [str(row[0]).replace("*** in database main ***", "").strip()
                    for row in conn.execute("PRAGMA quick_check(5)")]
        if problems != ["ok"]:
            raise sqlite3.DatabaseError("; ".join(" ".join(text.split()) for text in problems))

    def _check(self, conn: sqlite3.Connection) -> None:
        result = self._result
        block_rows = conn.execute(
            "SELECT block_no, first_seq, last_seq, count, prev_head, head, signature FROM blocks "
            "WHERE block_no >= ? ORDER BY block_no", (self._next_block or 0,))
        record_rows = conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq >= ? "
                                   "ORDER BY seq", (self._next_seq or 0,))
        records: Iterator[tuple] = iter(record_rows)
        row = next(records, None)
        for block_no, first, last, count, prev_head, head, signature in block_rows:
            self._check_block_row(block_no, first, last, count, prev_head, head, signature)
            if self._next_block is None:
                self._start(conn, block_no, first, prev_head)
            elif block_no != self._next_block:
                raise _Bad(self._next_seq or first,
                           f"block {self._next_block} is missing (the next block found is "
                           f"{block_no}, from seq {first}): deleted")
            if first != self._next_seq:
                raise _Bad(min(first, self._next_seq or first),
                           f"block {block_no} starts at seq {first}; the previous block ends at "
                           f"seq {(self._next_seq or 1) - 1}")
            if prev_head != self._head:
                raise _Bad(first, f"block {block_no} does not continue the chain (its prev_head "
                                  f"is not block {block_no - 1}'s head)")
            if last < first or count != last - first + 1:
                raise _Bad(first, f"block {block_no} says {count} records for seq {first}..{last}")
            if not chain.block_signature_valid(self.public_key, block_no, first, last, prev_head,
                                               head, signature):
                raise _Bad(first, f"the signature of block {block_no} (seq {first}..{last}) does "
                                  "not verify with this public key")
            running = prev_head
            for seq in range(first, last + 1):
                if row is not None and row[0] < seq:
                    raise _Bad(row[0], "record is in no signed block (inserted)")
                if row is None or row[0] > seq:
                    raise _Bad(seq, f"record is missing from block {block_no} (seq {first}..{last})"
                                    ": deleted")
                running = chain.chain_step(running, self._leaf(row))
                row = next(records, None)
            if running != head:
                raise _Bad(first, f"the records of block {block_no} (seq {first}..{last}) do not "
                                  "hash to its signed head: a record in it was altered")
            self._head, self._next_seq, self._next_block = head, last + 1, block_no + 1
            result.blocks += 1
            result.records += count
            result.last_seq = last
            if self.progress is not None:
                self.progress(count)
        if row is not None:
            raise _Bad(row[0], "record is in no signed block (inserted)")
        self._check_next_seq(conn)
        self._check_tombstones()
        self._check_pruned_start()

    def _check_block_row(self, block_no: Any, first: Any, last: Any, count: Any,
                         prev_head: Any, head: Any, signature: Any) -> None:
        """A block row of the types and sizes it is written with (damage can change them)."""
        at = first if isinstance(first, int) else (self._next_seq or 1)
        numbers = {"block_no": block_no, "first_seq": first, "last_seq": last, "count": count}
        for name, value in numbers.items():
            if not isinstance(value, int) or value < 0:
                raise _Bad(at, f"block row {block_no!r} is damaged: {name} is {value!r}")
        for name, value, size in (("prev_head", prev_head, chain.HASH_SIZE),
                                  ("head", head, chain.HASH_SIZE), ("signature", signature, 64)):
            if not isinstance(value, bytes) or len(value) != size:
                raise _Bad(at, f"block {block_no} is damaged: its {name} is not {size} bytes")

    def _start(self, conn: sqlite3.Connection, block_no: int, first: int,
               prev_head: bytes) -> None:
        """The first block found: block 0 starts from the zero head at seq 1; a later one was
        left by pruning and starts from its own signed prev_head."""
        if block_no == 0 and (first != 1 or prev_head != chain.ZERO_HEAD):
            raise _Bad(first, "block 0 must start at seq 1 from the zero head")
        first_record = conn.execute("SELECT min(seq) FROM records").fetchone()[0]
        if first_record is not None and first_record < first:
            raise _Bad(first_record, "record is in no signed block (inserted)")
        self._next_block, self._next_seq, self._head = block_no, first, prev_head
        self._result.first_seq, self._result.first_block = first, block_no

    def _leaf(self, row: tuple) -> bytes:
        (seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data_text, prefix,
         leaf) = row
        if leaf is not None:
            if len(leaf) != chain.HASH_SIZE:
                raise _Bad(seq, f"tombstone leaf is {len(leaf)} bytes; expected 32")
            self._add_tombstone(seq)
            return leaf
        try:
            data = self._data.get(data_text)
            canonical = _ENCODER.encode([seq, kind, device, point, value, unit, quality,
                                         unpack_raw(raw), wall, mono, boot, data])
        except CONTENT_ERRORS as exc:
            raise _Bad(seq, f"content cannot be read ({exc}): altered") from None
        leaf = chain.leaf_hash(canonical.encode("utf-8"))
        if prefix != leaf[:LEAF_PREFIX_SIZE]:
            raise _Bad(seq, "content differs from what was hashed when it was committed: altered")
        if kind == KIND_STORE_EVENT and device == STORE_DEVICE:
            try:
                if point == EVENT_THINNED:
                    self._thinned_lists += [(a, b, seq) for a, b in _ranges_of(data)]
                elif point == EVENT_PRUNED and isinstance(data, dict):
                    self._pruned_through.add(int(data.get("blocks", [0, -1])[1]))
            except CONTENT_ERRORS as exc:
                raise _Bad(seq, f"a {point} event that cannot be read ({exc})") from None
        return leaf

    def _add_tombstone(self, seq: int) -> None:
        self._result.thinned += 1
        if self._tombstones and self._tombstones[-1][1] == seq - 1:
            self._tombstones[-1][1] = seq
        else:
            self._tombstones.append([seq, seq])

    def _check_tombstones(self) -> None:
        listed = sorted((a, b) for a, b, event in self._thinned_lists if b < event)
        index, covered_to = 0, 0  # seqs 1..covered_to are listed by the events seen so far
        for first, last in self._tombstones:
            seq = first
            while seq <= last:
                while index < len(listed) and listed[index][0] <= seq:
                    covered_to = max(covered_to, listed[index][1])
                    index += 1
                if covered_to < seq:
                    raise _Bad(seq, "record was thinned (content removed) but no later thinning "
                                    "event lists it")
                seq = covered_to + 1

    def _check_next_seq(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        next_seq = self._next_seq or 1
        if row is not None and isinstance(row[0], int) and row[0] > next_seq:
            raise _Bad(next_seq, f"meta.next_seq is {row[0]} but the last block ends at seq "
                                 f"{next_seq - 1}: the newest blocks were deleted")

    def _check_pruned_start(self) -> None:
        start = self._result.first_block
        if start and (start - 1) not in self._pruned_through:
            raise _Bad(self._result.first_seq or 0,
                       f"the store starts at block {start} but no pruning event says blocks "
                       f"before it were pruned: deleted")


def verify_store(conn: sqlite3.Connection, public_key: Ed25519PublicKey,
                 progress: Callable[[int], None] | None = None) -> VerifyResult:
    """Verify a whole store from a (read-only) connection."""
    return Verifier(public_key, progress).check(conn)


def damaged(exc: sqlite3.Error) -> VerifyResult:
    """The result for a file SQLite could not read even to begin verifying it."""
    return VerifyResult(ok=False, problem=DAMAGED + str(exc))
