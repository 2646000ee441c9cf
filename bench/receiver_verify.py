"""The receiver's verification throughput: records per CPU-second through Receiver.accept().

    .venv/bin/python bench/receiver_verify.py --store /tmp/wellgate-backlog     # 30 days
    .venv/bin/python bench/receiver_verify.py --days 3 --baseline /tmp/base     # vs a checkout
    .venv/bin/python bench/receiver_verify.py --days 3 --profile                # where it goes

The batches are real: bench/drain_backlog.py's backlog (16 channels, one reading and one signed
block a simulated minute, written by the store's own writer) read by the uplink's Outbox, encoded
by its payload encoder, compressed and sealed exactly as the engine does, in batches of up to
50,000 records (the engine's default). They are made once, written to a file, and fed to a fresh
Receiver (its own SQLite database on disk, synchronous=FULL) in a child process per run, one
batch after the other, as `wellgate platform serve` would call accept(). Each run is timed by the
child's process CPU time (every thread: the signature and insert workers too), not wall time, and
every ack must be "stored". With --baseline, the same file is fed to the receiver of another
checkout (e.g. `git worktree add /tmp/wellgate-base main`) in the same run, alternating with
this one round by round, and the ratio printed: the machine is shared and its speed drifts.

--profile adds a breakdown: CPU per thread of the receiver (main: framing, decoding, leaves, chain,
rows; signature-check; record-insert: SQLite) from /proc, cProfile of the main thread grouped into
what it does (its per-call overhead inflates Python-level work against C-level maps), and each
stage alone on the first batch, best of 3 (cProfile off, collector paused). --audit checks each
receiver's database afterwards with gateway/platform/audit.py (every record hashed, every block
signature verified again).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = "150602-0017"
BATCH_RECORDS = 50_000


# --- the parent: make the batches, run the receivers side by side -----------------------------


def make_batches(store: Path, days: float, out: Path) -> tuple[int, int, int]:
    """The backlog's batches as the engine seals them, into `out`: (batches, records, blocks)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]
    from drain_backlog import make_backlog

    from gateway.simulator.backlog import backlog_config
    from gateway.store.keys import public_pem
    from gateway.uplink import wire
    from gateway.uplink.outbox import Outbox
    from gateway.uplink.payload import encode_payload
    from gateway.uplink.recipes import recipes_from_config

    writer, last = make_backlog(store, days)
    key = writer.key
    (out.parent / "gateway.pub").write_bytes(public_pem(key.public_key()))
    writer.close()
    outbox = Outbox(store / "wellgate.db")
    recipes = recipes_from_config(backlog_config())
    batches = records = blocks = 0
    cursor, nonce = 0, 0
    with out.open("wb") as sink:
        while cursor < last:
            chunk = outbox.read(cursor, BATCH_RECORDS)
            raw = encode_payload(chunk.blocks, chunk.records, recipes)
            nonce += 1
            data = wire.seal(key, GATEWAY, nonce, 1.7e9, chunk.blocks, chunk.prev_head,
                             chunk.head, wire.compress(raw), len(raw))
            sink.write(struct.pack(">I", len(data)) + data)
            batches, records, blocks = (batches + 1, records + len(chunk.records),
                                        blocks + len(chunk.blocks))
            cursor = chunk.last_seq
    outbox.close()
    return batches, records, blocks


def run_child(root: Path, batches: Path, profile: bool, audit: bool) -> dict:
    command = [sys.executable, str(Path(__file__).resolve()), "--feed", str(batches),
               "--root", str(root)] + (["--profile"] if profile else []) + (
                   ["--audit"] if audit else [])
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1800,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the receiver of {root} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parent(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="wellgate-verify-"))
    try:
        store = args.store or work / "gateway"
        batches_file = work / "batches.bin"
        made = make_batches(store, args.days, batches_file)
        print(f"{made[1]} records in {made[2]} blocks, {made[0]} batches "
              f"({batches_file.stat().st_size / made[1]:.2f} B/record on the wire)")
        load = os.getloadavg()[0]
        variants = [("this checkout", ROOT)]
        if args.baseline:
            variants.insert(0, ("baseline", args.baseline.resolve()))
        results: dict[str, list[dict]] = {name: [] for name, _ in variants}
        for round_no in range(args.rounds):
            for name, root in variants:
                result = run_child(root, batches_file, args.profile and round_no == 0,
                                   args.audit and round_no == 0)
                results[name].append(result)
                print(f"round {round_no + 1} {name:<14} {result['records'] / result['cpu']:>9,.0f}"
                      f" records/CPU-s  ({result['cpu']:.2f} CPU-s, {result['wall']:.2f} s wall)"
                      + (f"  audit: {result['audit']}" if "audit" in result else ""), flush=True)
                if "threads" in result:
                    print("    CPU by thread: " + ", ".join(
                        f"{thread} {cpu:.2f} s" for thread, cpu in result["threads"].items()))
                if "parts" in result:
                    print("    each stage alone, CPU µs per record (first batch): " + ", ".join(
                        f"{what} {value:.2f}" for what, value in result["parts"].items()))
                if "profile" in result:
                    total = sum(result["profile"].values())
                    print("    main thread (cProfile, its own overhead included): " + ", ".join(
                        f"{what} {seconds / total:.0%}" for what, seconds in sorted(
                            result["profile"].items(), key=lambda item: -item[1])))
        print(f"load average (1 min) before: {load:.2f}, after: {os.getloadavg()[0]:.2f}")
        best = {name: max(r["records"] / r["cpu"] for r in runs) for name, runs in
                results.items()}
        for name, value in best.items():
            print(f"best {name:<14} {value:>9,.0f} records/CPU-s")
        if args.baseline:
            ratios = [new["cpu"] and (new["records"] / new["cpu"]) / (old["records"] / old["cpu"])
                      for old, new in zip(results["baseline"], results["this checkout"],
                                          strict=True)]
            print("ratio this/baseline by round: " + ", ".join(f"{r:.2f}" for r in ratios)
                  + f"; median {statistics.median(ratios):.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


# --- the child: one receiver, fed every batch ---------------------------------------------------

# cProfile groups: (file name part or function name, group); builtins go to their caller's group
GROUPS = (
    ("chain_blocks", "chain"), ("fast_leaves", "leaf hashing"),
    ("verify", "signatures"), ("first_bad_signature", "signatures"),
    ("block_signature_valid", "signatures"), ("block_message", "signatures"),
    ("decompress", "decompression"),
    ("payload.py", "decoding"), ("columns.py", "decoding"), ("recipes.py", "decoding"),
    ("leaves.py", "leaf hashing"), ("columnar.py", "leaves and rows (columns)"),
    ("payload_read.py", "decoding"),
    ("chain_step", "chain"), ("_verify", "chain"),
    ("rows.py", "rows for SQLite"), ("records.py", "rows for SQLite"),
    ("encode", "JSON"), ("iterencode", "JSON"), ("json", "JSON"),
    ("executemany", "SQLite"), ("execute", "SQLite"), ("sqlite3", "SQLite"),
    ("wire.py", "envelope"), ("sha256", "hashing (other)"),
)


def group_of(function: tuple[str, int, str]) -> str | None:
    file, _, name = function
    for part, group in GROUPS:
        if part == name or (part.endswith(".py") and file.endswith(part)):
            return group
    for part, group in GROUPS:
        if part in name and not part.endswith(".py"):
            return group
    return None if file == "~" else "receiver (other)"


def grouped(stats: dict) -> dict[str, float]:
    """Own time of each function, by group; a builtin's by its callers' groups."""
    totals: dict[str, float] = {}
    for function, (_, _, own, _, callers) in stats.items():
        group = group_of(function)
        if function[0] == "~" and group in (None, "hashing (other)", "JSON"):
            caller_groups = {}
            for caller, entry in callers.items():
                found = group_of(caller)
                if found and found != "receiver (other)":
                    caller_groups[found] = caller_groups.get(found, 0.0) + entry[2]
            if caller_groups and group != "JSON":
                share = sum(caller_groups.values()) or 1.0
                for found, part in caller_groups.items():
                    totals[found] = totals.get(found, 0.0) + own * part / share
                continue
            group = group or "other builtins"
        totals[group] = totals.get(group, 0.0) + own
    return totals


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live thread of this process by name (Linux /proc)."""
    import threading

    tick = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = "main" if thread is threading.main_thread() else thread.name.rsplit("_", 1)[0]
        found[name] = found.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return found


def parts(data: bytes, key) -> dict[str, float]:
    """CPU µs per record of each stage of accept() alone, on one batch (best of 3)."""
    import gc
    import hashlib
    import sqlite3
    import zlib

    from gateway.platform.db import open_database
    from gateway.platform.rows import INSERT_RECORD, Rows, fast_leaves
    from gateway.store import chain
    from gateway.uplink.wire import decode_envelope, open_envelope

    try:  # the column-by-column receiver (gateway/platform/columnar.py), if this tree has it
        from gateway.platform.columnar import INSERT_PLAIN, verified_columns
        from gateway.uplink.wire import read_envelope
    except ImportError:
        verified_columns = None

    envelope = open_envelope(data)
    batch = decode_envelope(envelope)
    count = len(batch.records)
    found: dict[str, float] = {}

    def timed(name: str, work) -> object:
        best, answer = float("inf"), None
        for _ in range(3):
            started = time.process_time()
            answer = work()
            best = min(best, time.process_time() - started)
        found[name] = best * 1e6 / count
        return answer

    def chained() -> list[tuple]:
        running, signed, offset = batch.prev_head, [], 0
        for block in batch.blocks:
            prev_head = running
            for leaf in leaves[offset:offset + block.last_seq - block.first_seq + 1]:
                running = chain.chain_step(running, leaf)
            offset += block.last_seq - block.first_seq + 1
            signed.append((block.block_no, block.first_seq, block.last_seq, prev_head, running,
                           block.signature))
        return signed

    def memory_insert(insert: str, rows: list) -> None:
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.execute("CREATE TABLE records (gateway TEXT NOT NULL, seq INTEGER NOT NULL, kind "
                     "TEXT, device TEXT, point TEXT, value, unit TEXT, quality TEXT, raw BLOB, "
                     "wall_time REAL, mono_time REAL, boot INTEGER, data TEXT, leaf BLOB, "
                     "PRIMARY KEY (gateway, seq)) WITHOUT ROWID")
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        conn.close()

    def inserted() -> None:
        folder = Path(tempfile.mkdtemp(prefix="wellgate-parts-"))
        conn: sqlite3.Connection = open_database(folder / "platform.db")
        conn.execute("BEGIN")
        conn.executemany(insert, rows)
        conn.execute("COMMIT")
        conn.close()
        shutil.rmtree(folder, ignore_errors=True)

    gc.disable()
    try:
        timed("envelope signature", lambda: envelope.signature_valid(key))
        timed("decompression", lambda: zlib.decompress(envelope.payload))
        if verified_columns is None:
            timed("decoding (decompression included)", lambda: decode_envelope(envelope))
            leaves = timed("leaf hashing", lambda: fast_leaves(batch.records))
        else:
            columns = timed("reading the columns (decompression included)",
                            lambda: read_envelope(envelope))
            verified = timed("leaves and rows from the columns",
                             lambda: verified_columns(columns, batch.gateway))
            leaves = verified.leaves
        signed = timed("chain", chained)
        timed("every block signature", lambda: [chain.block_signature_valid(key, *block)
                                                for block in signed])
        if verified_columns is None:
            insert = INSERT_RECORD
            rows = timed("rows (raw packing, data JSON)",
                         lambda: Rows(batch, batch.first_seq).build(0, count))
        else:
            insert, rows = INSERT_PLAIN, verified.rows
        timed("SQLite insert and commit", inserted)
        if verified_columns is not None:  # what the libraries alone cost for these records
            texts = [chain.canonical_bytes(record) for record in batch.records]
            timed("floor: sha256 of every canonical text and chain step",
                  lambda: [hashlib.sha256(hashlib.sha256(text).digest() * 2).digest()
                           for text in texts])
            timed("floor: SQLite insert into an in-memory table", lambda: memory_insert(
                insert, rows))
    finally:
        gc.enable()
    return found


def child(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(args.root))
    from gateway.platform.receiver import Receiver
    from gateway.store.keys import load_public_key

    data = args.feed.read_bytes()
    batches, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack(">I", data[offset:offset + 4])
        batches.append(data[offset + 4:offset + 4 + size])
        offset += 4 + size
    key = load_public_key(args.feed.parent / "gateway.pub")
    folder = Path(tempfile.mkdtemp(prefix="wellgate-receiver-"))
    receiver = Receiver(folder / "platform.db", {GATEWAY: key})
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
    threads_before = thread_cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    records = 0
    for batch in batches:
        if profiler:
            profiler.enable()
        ack = receiver.accept(batch)
        if profiler:
            profiler.disable()
        if ack.status != "stored":
            raise SystemExit(f"batch refused: {ack}")
        records += ack.stored
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    result: dict = {"records": records, "cpu": cpu, "wall": wall}
    if args.profile:
        after = thread_cpu()
        result["threads"] = {name: after[name] - threads_before.get(name, 0.0) for name in after}
        import pstats

        result["profile"] = grouped(pstats.Stats(profiler).stats)  # type: ignore[attr-defined]
    receiver.close()
    if args.profile:
        result["parts"] = parts(batches[0], key)
    if args.audit:
        import sqlite3

        from gateway.platform.audit import audit_gateway

        conn = sqlite3.connect(f"file:{folder / 'platform.db'}?mode=ro", uri=True,
                               isolation_level=None)
        audited = audit_gateway(conn, GATEWAY, key)
        conn.close()
        result["audit"] = (f"{audited.records} records, {audited.blocks} blocks verified"
                           if audited.ok else f"FAILED: {audited.problem}")
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--store", type=Path, default=None,
                        help="folder for the backlog store (kept, and reused when it fits)")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout's root: its receiver is measured side by side")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--audit", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--feed", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.feed:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
