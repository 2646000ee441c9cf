"""A journal writer for crash tests: deterministic entries, a durable fold mark, released space.

    python tests/journal_proc.py --path FILE --capacity BYTES [--fold-every N] [--count N]

Entry seq s always carries payload(s) (a pure function of s, 0..1500 bytes, so entries take one
to four sectors), so a checker knows what every recovered entry must hold. Every --fold-every
entries the process "folds": it writes the seq it has appended through to FILE.folded (a
temporary file, fsync, rename, fsync of the folder: durable, as a store's fold commit would be)
and then releases that much of the journal, so the ring wraps and reuses released space.
stdout, one line each, flushed:
    recovered <after> <first seq or -> <last seq or -> <torn seq or ->
    acked <seq>             after append() has returned (durable from this line on)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.store.journal import Journal


def payload(seq: int) -> bytes:
    """The payload of entry `seq`: its length and bytes follow from seq alone."""
    size = (seq * 7919) % 1501
    block = hashlib.sha256(seq.to_bytes(8, "big")).digest()
    return (block * (size // 32 + 1))[:size]


def folded_mark(path: Path) -> int:
    """The seq folded through, as the last fold left it (0 before any)."""
    mark = path.with_name(path.name + ".folded")
    return int(mark.read_text()) if mark.exists() else 0


def write_mark(path: Path, seq: int) -> None:
    mark = path.with_name(path.name + ".folded")
    temporary = mark.with_name(mark.name + ".tmp")
    with open(temporary, "w") as file:
        file.write(str(seq))
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, mark)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--capacity", type=int, default=64 * 1024)
    parser.add_argument("--fold-every", type=int, default=20)
    parser.add_argument("--count", type=int, default=1_000_000)
    args = parser.parse_args()
    after = folded_mark(args.path)
    journal = Journal(args.path, after=after, capacity_bytes=args.capacity, direct=True)
    entries = journal.entries
    for entry in entries:
        if entry.payload != payload(entry.seq):
            raise SystemExit(f"entry {entry.seq} holds other bytes than it was given")
    torn = journal.torn.seq if journal.torn else "-"
    first, last = (entries[0].seq, entries[-1].seq) if entries else ("-", "-")
    print(f"recovered {after} {first} {last} {torn}", flush=True)
    for _ in range(args.count):
        seq = journal.append(payload(journal.next_seq))
        print(f"acked {seq}", flush=True)
        if seq % args.fold_every == 0:
            write_mark(args.path, seq)
            journal.release(seq)
    journal.close()


if __name__ == "__main__":
    main()
