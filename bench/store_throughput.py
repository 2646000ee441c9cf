"""Signed-store throughput against plain SQLite, and bytes written to disk per stored reading.

    .venv/bin/python bench/store_throughput.py [--readings 20000] [--rounds 5]
        [--seconds 60] [--time-scale 10] [--dir DIR]

(a) Throughput. The same realistic readings (gateway/simulator/backlog.py: the simulated well's 16
channels as acquisition decodes them, raw registers and both clocks) are stored three ways, each
into its own new database in --dir: through StoreWriter.append (canonical JSON, hash chain, one
Ed25519 signature per block, one transaction per block), through StoreSink (the acquisition's
sink: accept() per poll, the writer thread commits every commit_max, then flush()), and as plain
SQLite batched inserts of the same rows (same columns but the two leaf columns, raw packed the
same way, executemany + COMMIT per batch, no hash, no signature). All three use
journal_mode=WAL and synchronous=FULL (the store's settings). The three take each batch in
lockstep, in an order rotated batch by batch, so a burst of load from the machine's other tenants
falls on all three alike; each way's time is the sum of its own batches. Batches: 1000 readings
(commit_max, e.g. a backlog after an outage) and 16 (one poll of the 16 channels per commit).
Ratio = plain time / store time for the same readings in the same round; the median of the rounds
is the result, min..max shows the noise.

(b) Bytes written to disk per stored reading. One child process per variant, all at once, each
polling steadily into its own new store through StoreSink at a realistic rate for --seconds of
real time; the schedule runs --time-scale times faster than real time (poll interval and
commit_interval both divided by it, so every commit holds what it would hold in real time).
write_bytes of /proc/<pid>/io (bytes the process caused to be written to the storage layer, at
page-cache level) is read by this process when the child has opened its store, after its last
commit ("polling": WAL frames and their fsyncs), and after it closed the store (the final
checkpoint copies the WAL into the database, as the periodic checkpoints of a long run do).
Variants: 16 channels every 5 s and the demo's rate (config/examples/demo.toml: its points per
poll interval, 7.6 readings/s), each committed per the default commit_interval (5 s), one reading
per commit (commit_max = 1), and, at the demo's rate, a 30 s commit_interval.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.acquisition.service import polled_devices
from gateway.config import StoreSection, load_config
from gateway.readings import Reading
from gateway.simulator.backlog import minute_polls
from gateway.store import (
    StoreSink,
    StoreWriter,
    create_key,
    load_private_key,
    open_reader,
    verify_store,
)
from gateway.store.records import normal_value, pack_raw
from gateway.store.schema import DB_FILE

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"
PLAIN_SCHEMA = ("CREATE TABLE records (seq INTEGER PRIMARY KEY, kind TEXT, device TEXT, "
                "point TEXT, value, unit TEXT, quality TEXT, raw BLOB, wall_time REAL, "
                "mono_time REAL, boot INTEGER, data TEXT)")
PLAIN_INSERT = "INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
SECONDS_PER_DAY = 86_400


def realistic_readings(count: int) -> list[Reading]:
    """`count` readings of the simulated well's 16 channels, poll after poll."""
    polls = itertools.chain.from_iterable(minute_polls(count // 16 + 2))
    return list(itertools.islice(polls, count))


def batches(readings: list[Reading], size: int) -> Iterator[list[Reading]]:
    for start in range(0, len(readings), size):
        yield readings[start:start + size]


# --- (a) throughput -----------------------------------------------------------------------------

class PlainSQLite:
    """The rows as plain SQLite batched inserts: one transaction per batch, nothing signed."""

    name = "plain SQLite"

    def __init__(self, folder: Path) -> None:
        self.conn = sqlite3.connect(folder / "plain.db", isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute(PLAIN_SCHEMA)
        self.data_texts: dict[str, str] = {}
        self.seq = 0

    def put(self, batch: list[Reading]) -> None:
        rows = []
        for r in batch:
            self.seq += 1
            data = self.data_texts.get(r.kind)
            if data is None:
                data = self.data_texts[r.kind] = json.dumps({"kind": r.kind},
                                                            separators=(",", ":"))
            rows.append((self.seq, "reading", r.device, r.point, normal_value(r.value), r.unit,
                         r.quality, pack_raw(r.raw), r.wall_time, r.mono_time, 1, data))
        self.conn.execute("BEGIN")
        self.conn.executemany(PLAIN_INSERT, rows)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


class SignedWriter:
    """StoreWriter.append: canonical JSON, hash chain, one Ed25519 signature and one transaction
    per batch."""

    name = "StoreWriter"

    def __init__(self, folder: Path) -> None:
        create_key(folder)
        self.writer = StoreWriter(folder, load_private_key(folder))

    def put(self, batch: list[Reading]) -> None:
        self.writer.append(batch)

    def close(self) -> None:
        self.writer.close()


class SignedSink:
    """StoreSink, as acquisition uses it: accept() per 16-channel poll; its writer thread commits
    every commit_max (= the batch) readings; put() returns when flush() says all is committed."""

    name = "StoreSink"

    def __init__(self, folder: Path, batch: int) -> None:
        create_key(folder)
        self.sink = StoreSink(folder, StoreSection(commit_max=batch, commit_interval=3600))

    def put(self, batch: list[Reading]) -> None:
        for poll in batches(batch, 16):
            self.sink.accept(poll)
        if not self.sink.flush(timeout=600):
            raise RuntimeError("the sink did not commit everything within 600 s")

    def close(self) -> None:
        self.sink.close()


def one_round(base: Path, readings: list[Reading], batch: int,
              round_no: int) -> dict[str, float]:
    """Seconds each way spent storing the readings, the ways taking each batch in lockstep (in
    an order rotated batch by batch), so that a burst of load on this shared machine falls on
    all of them alike."""
    folders = {name: Path(tempfile.mkdtemp(prefix="store-bench-", dir=base)) for name in NAMES}
    ways = [PlainSQLite(folders[NAMES[0]]), SignedWriter(folders[NAMES[1]]),
            SignedSink(folders[NAMES[2]], batch)]
    spent = dict.fromkeys(NAMES, 0.0)
    try:
        for number, chunk in enumerate(batches(readings, batch)):
            turn = (number + round_no) % len(ways)
            for way in ways[turn:] + ways[:turn]:
                started = time.perf_counter()
                way.put(chunk)
                spent[way.name] += time.perf_counter() - started
        for way in ways:
            way.close()
        if round_no == 0:
            for name in NAMES[1:]:
                check_store(folders[name], len(readings))
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
    return spent


NAMES = (PlainSQLite.name, SignedWriter.name, SignedSink.name)


def check_store(folder: Path, expected: int) -> None:
    conn = open_reader(folder / DB_FILE)
    try:
        result = verify_store(conn, load_private_key(folder).public_key())
    finally:
        conn.close()
    if not result.ok or result.records != expected:
        raise RuntimeError(f"{folder}: {result.summary()}; expected {expected} records")


def throughput(base: Path, readings: list[Reading], batch: int, rounds: int) -> None:
    times: dict[str, list[float]] = {name: [] for name in NAMES}
    for round_no in range(rounds):
        for name, seconds in one_round(base, readings, batch, round_no).items():
            times[name].append(seconds)
    n = len(readings)
    print(f"\n(a) {n} readings in batches of {batch}, {rounds} rounds "
          "(journal_mode=WAL, synchronous=FULL)")
    print(f"{'way':14} {'readings/s (median)':>20} {'ratio to plain (median, min..max)':>36}")
    plain = times[NAMES[0]]
    for name in NAMES:
        rate = statistics.median(n / t for t in times[name])
        ratios = [p / t for p, t in zip(plain, times[name], strict=True)]
        print(f"{name:14} {rate:20.0f} {statistics.median(ratios):17.3f} "
              f"({min(ratios):.3f}..{max(ratios):.3f})")


# --- (b) bytes written per stored reading -------------------------------------------------------

def demo_rate() -> float:
    """Readings per second of config/examples/demo.toml: each device's points / its interval."""
    config = load_config(DEMO_CONFIG)
    rate = 0.0
    for bus in config.buses:
        for device in polled_devices(config, bus.name):
            points = (sum(len(block.points) for block in device.blocks)
                      if device.decoder is not None else len(device.dlt_points))
            rate += points / device.interval
    return rate


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    per_poll: int  # readings handed to the sink every poll_interval
    poll_interval: float
    commit_interval: float
    commit_max: int

    @property
    def rate(self) -> float:
        return self.per_poll / self.poll_interval


def variants() -> list[Variant]:
    demo_per_poll = round(demo_rate() * 5.0)
    return [
        Variant("16 ch / 5 s, commit per 5 s", 16, 5.0, 5.0, 1000),
        Variant("16 ch / 5 s, every reading", 16, 5.0, 5.0, 1),
        Variant(f"demo ({demo_per_poll} / 5 s), commit per 5 s", demo_per_poll, 5.0, 5.0, 1000),
        Variant(f"demo ({demo_per_poll} / 5 s), every reading", demo_per_poll, 5.0, 5.0, 1),
        Variant(f"demo ({demo_per_poll} / 5 s), commit per 30 s", demo_per_poll, 5.0, 30.0,
                1000),
    ]


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/{pid}/io has no write_bytes")


def child(args: argparse.Namespace) -> None:
    """Poll steadily into a store; stop at each stage until the parent has read /proc/PID/io."""
    scale = args.time_scale
    polls = int(args.seconds * scale / args.poll_interval) + 1
    readings = iter(realistic_readings(polls * args.per_poll))
    sink = StoreSink(args.state_dir, StoreSection(commit_interval=args.commit_interval / scale,
                                                  commit_max=args.commit_max))
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    for poll in range(polls):
        time.sleep(max(0.0, started + poll * args.poll_interval / scale - time.monotonic()))
        wall, mono = time.time(), time.monotonic()
        sink.accept([r._replace(wall_time=wall, mono_time=mono)
                     for r in itertools.islice(readings, args.per_poll)])
    if not sink.flush(timeout=120):
        raise RuntimeError("could not commit everything")
    stats = sink.stats
    print(f"flushed {stats.committed_records} {stats.committed_blocks}", flush=True)
    sys.stdin.readline()
    sink.close()
    print("closed", flush=True)
    sys.stdin.readline()


def disk_bytes(base: Path, seconds: float, scale: float) -> None:
    runs = []
    for number, variant in enumerate(variants()):
        folder = base / f"steady-{number}"
        create_key(folder)
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", "--state-dir", str(folder),
             "--per-poll", str(variant.per_poll), "--poll-interval", str(variant.poll_interval),
             "--commit-interval", str(variant.commit_interval),
             "--commit-max", str(variant.commit_max), "--seconds", str(seconds),
             "--time-scale", str(scale)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        runs.append((variant, folder, proc))

    def step(proc: subprocess.Popen, expect: str) -> list[str]:
        assert proc.stdout is not None
        line = proc.stdout.readline().split()
        if not line or line[0] != expect:
            raise RuntimeError(f"child said {line}, expected {expect}")
        return line

    for _, _, proc in runs:
        step(proc, "ready")
    opened = {proc.pid: write_bytes(proc.pid) for _, _, proc in runs}
    for _, _, proc in runs:
        proc.stdin.write("go\n")  # all start polling together
    results = []
    for variant, folder, proc in runs:
        _, records, blocks = step(proc, "flushed")
        polled = write_bytes(proc.pid) - opened[proc.pid]
        proc.stdin.write("close\n")
        step(proc, "closed")
        total = write_bytes(proc.pid) - opened[proc.pid]
        proc.stdin.close()
        proc.wait(60)
        check_store(folder, int(records))
        results.append((variant, int(records), int(blocks), polled, total))
    print(f"\n(b) steady polling for {seconds * scale:.0f} simulated s ({seconds:.0f} s real, "
          f"time scale {scale:g}); write_bytes of /proc/<pid>/io")
    print(f"{'variant':36} {'readings':>8} {'commits':>7} {'per commit':>10} "
          f"{'B/reading polling':>18} {'B/reading incl. checkpoint':>27} "
          f"{'MB/day at this rate':>20}")
    per_reading = {}
    for variant, records, blocks, polled, total in results:
        per_reading[variant.name] = total / records
        per_day = total / records * variant.rate * SECONDS_PER_DAY / 1e6
        print(f"{variant.name:36} {records:8d} {blocks:7d} {records / blocks:10.1f} "
              f"{polled / records:18.0f} "
              f"{total / records:27.0f} {per_day:20.1f}")
    names = [v.name for v, *_ in results]
    for batched, single in ((names[0], names[1]), (names[2], names[3])):
        print(f"every reading / {batched}: {per_reading[single] / per_reading[batched]:.1f}x "
              "the bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=20_000, help="(a): readings per way")
    parser.add_argument("--rounds", type=int, default=5, help="(a): rounds of the three ways")
    parser.add_argument("--seconds", type=float, default=60.0, help="(b): real seconds")
    parser.add_argument("--time-scale", type=float, default=10.0,
                        help="(b): simulated seconds per real second")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the databases go (default: a temporary folder; use the disk "
                             "you mean to measure: tmpfs counts no write_bytes)")
    parser.add_argument("--only", choices=["a", "b"], default=None)
    # the child of (b)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--per-poll", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--poll-interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--commit-interval", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--commit-max", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    base = Path(tempfile.mkdtemp(prefix="store-bench-", dir=args.dir))
    try:
        print(f"databases in {base} ({os.statvfs(base).f_bsize}-byte blocks), "
              f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}")
        if args.only in (None, "a"):
            readings = realistic_readings(args.readings)
            for batch in (1000, 16):
                throughput(base, readings, batch, args.rounds)
        if args.only in (None, "b"):
            disk_bytes(base, args.seconds, args.time_scale)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
