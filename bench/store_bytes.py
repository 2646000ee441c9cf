"""Bytes written to disk per stored reading (issue 16): the store today against candidate designs.

    .venv/bin/python bench/store_bytes.py [--seconds 120] [--scale-1min 360] [--scale-5s 180]
        [--dir /var/tmp] [--only store,journal-dict-60]

Two rates, both the simulated well's 16 channels (gateway/simulator/backlog.py: readings as
acquisition decodes them, raw registers included): one poll a minute and one every 5 s. Each design
runs in its own child process, all at once, polling --seconds x --scale simulated seconds on a
schedule --scale times faster than real time (so a run covers hours); the store's commit_interval
is scaled alike and a fold comes every so many polls, so every commit and every fold holds what it
would in real time (a store that falls behind its schedule on a loaded machine commits more polls
at once, which only flatters it). write_bytes of /proc/<pid>/io (bytes the process caused to be
written to the storage layer: page-cache pages dirtied, or O_DIRECT bytes) is read when the child
has opened its files, after its last poll ("polling"), and after it closed ("incl. close": the
final checkpoint or fold). Afterwards every child reads back what it stored and checks it: the
store with `wellgate verify`'s verify_store; the compact designs by decoding every block
(gateway/uplink/payload.py), recomputing every leaf and head (gateway/store/chain.py), checking
every block's Ed25519 signature, and comparing each record with the one it was given.

Designs:
  store                  the store today: StoreSink, commit_interval 5 s (default), one SQLite
                         row per reading, WAL, synchronous=FULL.
  sqlite-blocks          one SQLite row per poll: the poll's signed block in the compact columnar
                         form the uplink sends (encode_payload, zlib), WAL, synchronous=FULL.
  journal-alone-60       each poll's signed block, compact and zlib'ed on its own, as one entry of
                         gateway/store/journal.py (O_DIRECT, fdatasync); every 60 simulated
                         minutes the blocks since the last fold go into one SQLite row (one
                         compact payload for all of them, WAL, synchronous=FULL), then the
                         journal space is released.
  journal-dict-60/-360   the same, each entry compressed with a zlib dictionary: the
                         uncompressed payload of the first entry after the last fold (which is
                         compressed alone), so an entry need not repeat the channel names; fold
                         every 60 or 360 simulated minutes.
  journal-dict-360-rollback  the same, the fold's SQLite file in rollback-journal mode (DELETE)
                         instead of WAL: new pages are written once, not again by a checkpoint
                         (but a reader and the fold then lock each other out for its moment).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

from gateway.config import StoreSection
from gateway.readings import Reading
from gateway.simulator.backlog import minute_polls
from gateway.store import (
    StoreSink,
    chain,
    create_key,
    load_private_key,
    open_reader,
    verify_store,
)
from gateway.store.journal import Journal
from gateway.store.records import from_reading
from gateway.store.schema import DB_FILE
from gateway.uplink.payload import BlockSignature, decode_payload, encode_payload, records_equal

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store_throughput import write_bytes  # the counter part (b) of that bench reads

SECONDS_PER_DAY = 86_400
CHANNELS = 16
BOOT = 1
# a journal entry of a compact block: dictionary entry seq (0: none), block_no, first_seq,
# count, signed_wall; then the block's head (32 bytes) and the zlib'ed compact payload
ENTRY = struct.Struct(">QQQId")
FOLD_SCHEMA = ("CREATE TABLE folds (fold_no INTEGER PRIMARY KEY, first_block INTEGER, "
               "last_block INTEGER, first_seq INTEGER, last_seq INTEGER, prev_head BLOB, "
               "head BLOB, through_entry INTEGER, walls BLOB, payload BLOB)")
BLOCKS_SCHEMA = ("CREATE TABLE blocks (block_no INTEGER PRIMARY KEY, first_seq INTEGER, "
                 "last_seq INTEGER, prev_head BLOB, head BLOB, signed_wall REAL, payload BLOB)")


@dataclasses.dataclass(frozen=True)
class Rate:
    name: str
    poll_interval: float
    scale_option: str


RATES = {"1min": Rate("16 ch / 1 min", 60.0, "scale_1min"),
         "5s": Rate("16 ch / 5 s", 5.0, "scale_5s")}
POWER_CUT = {
    "store": "readings of the last commit_interval (5 s) not yet committed",
    "sqlite": "the poll being committed (not yet acknowledged)",
    "journal": "the poll being committed (not yet acknowledged); a torn entry is its own sectors",
}


def open_sqlite(path: Path, schema: str, mode: str = "WAL") -> sqlite3.Connection:
    """As the store opens its file: WAL, synchronous=FULL (a commit fsyncs the WAL); or with
    another journal mode (DELETE: a rollback journal)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA journal_mode={mode}")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(schema)
    return conn


class Blocks:
    """Signed blocks made as the store makes them: seq, chain head, Ed25519 signature."""

    def __init__(self, folder: Path) -> None:
        self.key = load_private_key(folder)
        self.seq, self.block_no, self.head = 1, 0, chain.ZERO_HEAD
        self.given: list[tuple[Any, ...]] = []  # every record made, for the check

    def make(self, readings: list[Reading]) -> tuple[BlockSignature, list[tuple[Any, ...]],
                                                     bytes, bytes]:
        fields = [from_reading(r).fields(seq, BOOT)
                  for seq, r in enumerate(readings, self.seq)]
        prev_head = head = self.head
        for record in fields:
            head = chain.chain_step(head, chain.leaf_hash(chain.canonical_bytes(record)))
        first, last = self.seq, self.seq + len(fields) - 1
        block = BlockSignature(self.block_no, first, last,
                               chain.sign_block(self.key, self.block_no, first, last,
                                                prev_head, head))
        self.seq, self.block_no, self.head = last + 1, self.block_no + 1, head
        self.given += fields
        return block, fields, prev_head, head


def check_blocks(folder: Path, blocks: list[BlockSignature], records: list[Any],
                 given: list[tuple[Any, ...]]) -> int:
    """Every record as given, every head recomputed, every signature valid; the record count."""
    public = load_private_key(folder).public_key()
    if len(records) != len(given) or not all(map(records_equal, records, given)):
        raise RuntimeError(f"{folder}: the records read back differ from those given")
    head, seq = chain.ZERO_HEAD, 1
    for block in blocks:
        prev_head = head
        for record in records[block.first_seq - 1:block.last_seq]:
            head = chain.chain_step(head, chain.leaf_hash(chain.canonical_bytes(record)))
        if block.first_seq != seq or not chain.block_signature_valid(
                public, block.block_no, block.first_seq, block.last_seq, prev_head, head,
                block.signature):
            raise RuntimeError(f"{folder}: block {block.block_no} does not verify")
        seq = block.last_seq + 1
    return len(records)


class StoreDesign:
    """The store today."""

    def __init__(self, folder: Path, scale: float, fold_minutes: float) -> None:
        self.folder = folder
        self.sink = StoreSink(folder, StoreSection(commit_interval=5.0 / scale))

    def commit(self, readings: list[Reading]) -> None:
        self.sink.accept(readings)  # the writer thread commits every commit_interval

    def flush(self) -> tuple[int, int, int]:
        if not self.sink.flush(timeout=120):
            raise RuntimeError("the sink did not commit everything in 120 s")
        return self.sink.stats.committed_records, self.sink.stats.committed_blocks, 0

    def close(self) -> None:
        self.sink.close()

    def check(self) -> int:
        conn = open_reader(self.folder / DB_FILE)
        try:
            result = verify_store(conn, load_private_key(self.folder).public_key())
        finally:
            conn.close()
        if not result.ok:
            raise RuntimeError(f"{self.folder}: {result.summary()}")
        return result.records


class SqliteBlocks:
    """One SQLite row per poll holding its signed block in compact form."""

    def __init__(self, folder: Path, scale: float, fold_minutes: float) -> None:
        self.folder = folder
        self.blocks = Blocks(folder)
        self.conn = open_sqlite(folder / "blocks.db", BLOCKS_SCHEMA)

    def commit(self, readings: list[Reading]) -> None:
        block, fields, prev_head, head = self.blocks.make(readings)
        payload = zlib.compress(encode_payload([block], fields, {}), 9)
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (block.block_no, block.first_seq, block.last_seq, prev_head, head,
                           time.time(), payload))
        self.conn.execute("COMMIT")

    def flush(self) -> tuple[int, int, int]:
        return self.blocks.seq - 1, self.blocks.block_no, 0

    def close(self) -> None:
        self.conn.close()

    def check(self) -> int:
        conn = sqlite3.connect(self.folder / "blocks.db")
        blocks, records = [], []
        for block_no, first_seq, payload in conn.execute(
                "SELECT block_no, first_seq, payload FROM blocks ORDER BY block_no"):
            found, recs = decode_payload(zlib.decompress(payload), first_seq, block_no)
            blocks += found
            records += recs
        conn.close()
        return check_blocks(self.folder, blocks, records, self.blocks.given)


class JournalFold:
    """Each poll's signed block as one journal entry; a compact SQLite fold every N minutes."""

    def __init__(self, folder: Path, poll_interval: float, fold_minutes: float,
                 dictionary: bool, mode: str = "WAL") -> None:
        self.folder = folder
        self.blocks = Blocks(folder)
        self.use_dictionary = dictionary
        self.fold_every = round(fold_minutes * 60.0 / poll_interval)  # polls (simulated time)
        self.journal = Journal(folder / "wellgate.journal", capacity_bytes=8 << 20, direct=True)
        self.conn = open_sqlite(folder / "folds.db", FOLD_SCHEMA, mode)
        self.pending: list[tuple[BlockSignature, list[tuple[Any, ...]], bytes, bytes, float]] = []
        self.dictionary: tuple[int, bytes] | None = None
        self.folds = 0
        self.polls = 0

    def commit(self, readings: list[Reading]) -> None:
        block, fields, prev_head, head = self.blocks.make(readings)
        raw = encode_payload([block], fields, {})
        if self.dictionary is None:
            compressed, reference = zlib.compress(raw, 9), 0
        else:
            compressor = zlib.compressobj(9, zdict=self.dictionary[1])
            compressed = compressor.compress(raw) + compressor.flush()
            reference = self.dictionary[0]
        wall = time.time()
        seq = self.journal.append(ENTRY.pack(reference, block.block_no, block.first_seq,
                                             len(fields), wall) + head + compressed)
        if self.use_dictionary and self.dictionary is None:
            self.dictionary = (seq, raw)
        self.pending.append((block, fields, prev_head, head, wall))
        self.polls += 1
        if self.polls % self.fold_every == 0:
            self.fold()

    def fold(self) -> None:
        """The blocks since the last fold as one SQLite row; then their journal space is free."""
        if not self.pending:
            return
        blocks = [p[0] for p in self.pending]
        records = [record for p in self.pending for record in p[1]]
        payload = zlib.compress(encode_payload(blocks, records, {}), 9)
        walls = zlib.compress(struct.pack(f">{len(blocks)}d", *(p[4] for p in self.pending)), 9)
        through = self.journal.next_seq - 1
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.execute("INSERT INTO folds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (self.folds, blocks[0].block_no, blocks[-1].block_no,
                           blocks[0].first_seq, blocks[-1].last_seq, self.pending[0][2],
                           self.pending[-1][3], through, walls, payload))
        self.conn.execute("COMMIT")  # durable (synchronous=FULL) before the journal lets go
        self.journal.release(through)
        self.pending.clear()
        self.dictionary = None
        self.folds += 1

    def flush(self) -> tuple[int, int, int]:
        return self.blocks.seq - 1, self.blocks.block_no, self.folds

    def close(self) -> None:
        self.check_journal()  # reads only: no write_bytes
        self.fold()
        self.journal.close()
        self.conn.close()

    def check(self) -> int:
        """Every fold row decoded (a clean close folds what the journal held)."""
        conn = sqlite3.connect(self.folder / "folds.db")
        blocks: list[BlockSignature] = []
        records: list[Any] = []
        for first_block, first_seq, payload in conn.execute(
                "SELECT first_block, first_seq, payload FROM folds ORDER BY fold_no"):
            found, recs = decode_payload(zlib.decompress(payload), first_seq, first_block)
            blocks += found
            records += recs
        conn.close()
        return check_blocks(self.folder, blocks, records, self.blocks.given)

    def check_journal(self) -> None:
        """What a restart would recover from the journal now (it only reads) is exactly the
        blocks not yet folded: decoded through their dictionary entries, record by record."""
        journal = Journal(self.folder / "wellgate.journal", after=self.journal.next_seq - 1
                          - len(self.pending))
        journal.close()
        raws: dict[int, bytes] = {}
        records: list[Any] = []
        for entry in journal.entries:
            reference, block_no, first_seq, _, _ = ENTRY.unpack_from(entry.payload)
            compressed = entry.payload[ENTRY.size + chain.HASH_SIZE:]
            inflater = (zlib.decompressobj(zdict=raws[reference]) if reference
                        else zlib.decompressobj())
            raws[entry.seq] = inflater.decompress(compressed) + inflater.flush()
            records += decode_payload(raws[entry.seq], first_seq, block_no)[1]
        given = [record for p in self.pending for record in p[1]]
        if len(records) != len(given) or not all(map(records_equal, records, given)):
            raise RuntimeError(f"{self.folder}: the journal's entries differ from the blocks "
                               "not yet folded")


DESIGNS = {
    "store": lambda folder, scale, poll: StoreDesign(folder, scale, 0),
    "sqlite-blocks": lambda folder, scale, poll: SqliteBlocks(folder, scale, 0),
    "journal-alone-60": lambda folder, scale, poll: JournalFold(folder, poll, 60, False),
    "journal-dict-60": lambda folder, scale, poll: JournalFold(folder, poll, 60, True),
    "journal-dict-360": lambda folder, scale, poll: JournalFold(folder, poll, 360, True),
    "journal-dict-360-rollback": lambda folder, scale, poll: JournalFold(folder, poll, 360, True,
                                                                         "DELETE"),
}


def child(args: argparse.Namespace) -> None:
    """Poll into one design; wait at each stage until the parent has read /proc/PID/io."""
    rate = RATES[args.rate]
    polls = int(args.seconds * args.scale / rate.poll_interval)
    readings = list(itertools.islice(minute_polls(polls), polls))
    design = DESIGNS[args.design](args.state_dir, args.scale, rate.poll_interval)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    for number, poll in enumerate(readings):
        time.sleep(max(0.0, started + number * rate.poll_interval / args.scale
                       - time.monotonic()))
        wall, mono = time.time(), time.monotonic()
        design.commit([r._replace(wall_time=wall, mono_time=mono) for r in poll])
    stored, commits, folds = design.flush()
    print(f"flushed {stored} {commits} {folds}", flush=True)
    sys.stdin.readline()
    design.close()
    print("closed", flush=True)
    sys.stdin.readline()
    print(f"checked {design.check()}", flush=True)


def run(base: Path, args: argparse.Namespace) -> None:
    runs = []
    for rate_key, rate in RATES.items():
        scale = getattr(args, rate.scale_option)
        for design in args.only:
            folder = base / f"{rate_key}-{design}"
            create_key(folder)
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", "--state-dir", str(folder),
                 "--design", design, "--rate", rate_key, "--scale", str(scale),
                 "--seconds", str(args.seconds)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            runs.append((rate, scale, design, proc))

    def step(proc: subprocess.Popen, expect: str) -> list[str]:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        if not words or words[0] != expect:
            raise RuntimeError(f"child said {words}, expected {expect}")
        return words

    for *_, proc in runs:
        step(proc, "ready")
    opened = {proc.pid: write_bytes(proc.pid) for *_, proc in runs}
    for *_, proc in runs:
        proc.stdin.write("go\n")
    print(f"{'rate':14} {'design':25} {'readings':>8} {'commits':>7} {'folds':>5} "
          f"{'B/reading polling':>17} {'B/reading incl. close':>21} {'÷ store':>7} "
          f"{'MB/day':>7}  a power cut loses")
    store_bytes: dict[str, float] = {}
    for rate, _, design, proc in runs:
        _, stored, commits, folds = step(proc, "flushed")
        polled = write_bytes(proc.pid) - opened[proc.pid]
        proc.stdin.write("close\n")
        step(proc, "closed")
        total = write_bytes(proc.pid) - opened[proc.pid]
        proc.stdin.write("check\n")
        checked = int(step(proc, "checked")[1])
        proc.stdin.close()
        proc.wait(60)
        readings = int(stored)
        if checked != readings:
            raise RuntimeError(f"{design}: {checked} records read back of {readings}")
        per_day = total / readings * CHANNELS / rate.poll_interval * SECONDS_PER_DAY / 1e6
        if design == "store":
            store_bytes[rate.name] = total / readings
        ratio = (f"{total / readings / store_bytes[rate.name]:7.3f}"
                 if rate.name in store_bytes else f"{'-':>7}")
        print(f"{rate.name:14} {design:25} {readings:8d} {int(commits):7d} {int(folds):5d} "
              f"{polled / readings:17.1f} {total / readings:21.1f} {ratio} {per_day:7.2f}  "
              f"{POWER_CUT[design.split('-')[0]]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="real seconds of polling")
    parser.add_argument("--scale-1min", type=float, default=360.0,
                        help="simulated seconds per real second at one poll a minute")
    parser.add_argument("--scale-5s", type=float, default=180.0,
                        help="simulated seconds per real second at one poll every 5 s")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"),
                        help="where the files go (a disk: tmpfs counts no write_bytes)")
    parser.add_argument("--only", type=lambda text: text.split(","), default=list(DESIGNS),
                        help=f"designs, comma-separated (default all: {','.join(DESIGNS)})")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--design", help=argparse.SUPPRESS)
    parser.add_argument("--rate", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    unknown = set(args.only) - set(DESIGNS)
    if unknown:
        parser.error(f"--only {','.join(sorted(unknown))}: no such design; "
                     f"expected some of {','.join(DESIGNS)}")
    base = Path(tempfile.mkdtemp(prefix="store-bytes-", dir=args.dir))
    try:
        print(f"files in {base} ({os.statvfs(base).f_bsize}-byte blocks), SQLite "
              f"{sqlite3.sqlite_version}, Python {sys.version.split()[0]}, load average "
              f"{os.getloadavg()[0]:.1f}; {args.seconds:g} s real per design")
        run(base, args)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
