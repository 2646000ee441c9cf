"""A writer process for crash and full-disk tests: deterministic readings through StoreSink.

    python -m gateway.store.ingest --state-dir D --rate 5000 [--count N] [--commit-interval S]
        [--commit-max N] [--chunk N] [--max-pages N] [--init]

Reading number i is a pure function of i (synthetic_reading), and i can be read back from the
stored record (index_of), so a checker regenerates what every stored reading must be. A restarted
process continues at the index after the last stored reading, so indexes in the store only ever
increase; a gap in them is readings that were buffered but not committed when the process died.
stdout, one line each, flushed:
    started boot <boot> index <first index this run>
    committed <last seq>            after each commit has returned (durable from this line on)
    closed <last seq or none>       after SIGTERM/SIGINT or --count, once the buffer is committed
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from gateway.config import StoreSection
from gateway.readings import Reading
from gateway.store.keys import KEY_FILE, create_key
from gateway.store.records import KIND_READING, Record, unpack_raw
from gateway.store.schema import DB_FILE, open_reader
from gateway.store.sink import StoreSink
from gateway.store.writer import Block

DEVICES = ("ingest-flow", "ingest-energy", "ingest-level")
POINTS = (("forward_total", "m³", "total"), ("flow_rate", "m³/h", "instant"),
          ("import_energy", "kWh", "total"), ("pipe_status", "", "status"))
BASE_WALL = 1_750_000_000.0  # 2025-06-15: readings' wall times are BASE_WALL + i / 1000


def synthetic_reading(index: int) -> Reading:
    """Reading number `index` (0 <= index < 2**64): the same for every call."""
    device = DEVICES[index % len(DEVICES)]
    point, unit, kind = POINTS[(index // len(DEVICES)) % len(POINTS)]
    value: Any
    if kind == "total":
        value = index * 0.25
    elif kind == "status":
        value = "empty" if index % 7 == 0 else "full"
    else:
        value = (index % 1000) / 10
    raw = tuple((index >> shift) & 0xFFFF for shift in (48, 32, 16, 0))
    return Reading(device=device, point=point, value=value, unit=unit, raw=raw,
                   wall_time=BASE_WALL + index / 1000, mono_time=index / 1000,
                   quality="uncertain" if index % 97 == 0 else "good", kind=kind)


def index_of(record: Record) -> int:
    """The index a stored synthetic reading was made from (its raw registers)."""
    return _index_from_raw(record.raw, record.seq)


def _index_from_raw(raw: list[int], seq: int) -> int:
    if len(raw) != 4:
        raise ValueError(f"seq {seq}: raw {raw} is not an ingest index (4 registers)")
    high, mid_high, mid_low, low = raw
    return (high << 48) | (mid_high << 32) | (mid_low << 16) | low


def matches(record: Record) -> bool:
    """Whether a stored record is exactly the synthetic reading of its index."""
    reading = synthetic_reading(index_of(record))
    return (record.kind == KIND_READING and record.device == reading.device
            and record.point == reading.point and record.value == reading.value
            and type(record.value) is type(reading.value) and record.unit == reading.unit
            and record.quality == reading.quality and tuple(record.raw) == reading.raw
            and record.wall_time == reading.wall_time and record.mono_time == reading.mono_time
            and record.data == {"kind": reading.kind})


def next_index(state_dir: Path) -> int:
    """The index after the last stored synthetic reading (0 for a new store)."""
    path = Path(state_dir) / DB_FILE
    if not path.exists():
        return 0
    conn = open_reader(path)
    try:
        row = conn.execute("SELECT seq, raw FROM records WHERE kind = ? AND device LIKE ? "
                           "ORDER BY seq DESC LIMIT 1", (KIND_READING, "ingest-%")).fetchone()
    except Exception:  # no table yet: the process died before the first migration committed
        return 0
    finally:
        conn.close()
    if row is None:
        return 0
    return _index_from_raw(unpack_raw(row[1]), row[0]) + 1


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.store.ingest",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=2000.0, help="readings per second")
    parser.add_argument("--count", type=int, default=None, help="stop after this many")
    parser.add_argument("--chunk", type=int, default=50, help="readings per accept() call")
    parser.add_argument("--commit-interval", type=float, default=0.05)
    parser.add_argument("--commit-max", type=int, default=1000)
    parser.add_argument("--max-pages", type=int, default=None,
                        help="PRAGMA max_page_count on the writer (a full disk, simulated)")
    parser.add_argument("--init", action="store_true", help="create the key if there is none")
    args = parser.parse_args(argv)

    if args.init and not (args.state_dir / KEY_FILE).exists():
        create_key(args.state_dir)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    settings = StoreSection(commit_interval=args.commit_interval, commit_max=args.commit_max)
    index = next_index(args.state_dir)

    def committed(block: Block) -> None:
        _say(f"committed {block.last_seq}")

    sink = StoreSink(args.state_dir, settings, on_commit=committed,
                     max_page_count=args.max_pages)
    _say(f"started boot {sink.stats.boot} index {index}")
    end = None if args.count is None else index + args.count
    started, made = time.monotonic(), 0
    try:
        while not stopping and (end is None or index < end):
            if sink.stats.buffered > settings.buffer_max // 2:  # the test tool waits; the
                time.sleep(0.01)  # gateway never does (its sink drops the oldest instead)
                continue
            size = args.chunk if end is None else min(args.chunk, end - index)
            sink.accept([synthetic_reading(i) for i in range(index, index + size)])
            index += size
            made += size
            if args.rate > 0:
                ahead = made / args.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    finally:
        sink.close(timeout=30.0)
    _say(f"closed {sink.stats.last_seq if sink.stats.last_seq is not None else 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
