"""A writer process for crash and full-disk tests: deterministic readings through StoreSink.

    python tests/ingest_proc.py --state-dir D --rate 5000 [--count N] [--commit-interval S]
        [--commit-max N] [--chunk N] [--max-pages N] [--init]

Reading number i is a pure function of i (tests/store_support.py synthetic_reading), and i can
be read back from the stored record (index_of), so a checker regenerates what every stored
reading must be. A restarted process continues at the index after the last stored reading, so
indexes in the store only ever increase; a gap in them is readings that were buffered but not
committed when the process died.
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

# The gateway of the checkout these tests belong to, before any installed copy (store_support
# is found beside this file: a script's own folder comes first on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store_support import index_from_raw, synthetic_reading

from gateway.config import StoreSection
from gateway.store.keys import KEY_FILE, create_key
from gateway.store.records import KIND_READING, unpack_raw
from gateway.store.schema import DB_FILE, open_reader
from gateway.store.sink import StoreSink
from gateway.store.writer import Block


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
    return index_from_raw(unpack_raw(row[1]), row[0]) + 1


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/ingest_proc.py",
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
