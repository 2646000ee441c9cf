"""Crash safety of the signed store: the writer process (python tests/ingest_proc.py) is killed
with SIGKILL at random points of heavy ingest and restarted, again and again. After every kill:
each commit the process reported ("committed <seq>") is in the store, every reading is exactly the
one its ingest index makes (all fields, raw included), in order, seq 1..N without a gap, block
heads seen before are unchanged, boot counts every start and seq and chain continue across them,
and verify passes. Also: readers (`wellgate verify`, `wellgate export`) killed in the middle of
reading leave the writer alone; kills at every write and sync call of the very first open (schema
creation) and of `wellgate init` (key creation) leave a state the next start recovers from.

Kill points come from random.Random seeded with SEED (WELLGATE_CRASH_SEED overrides it; every
failure message names the seed and the plan of the run). Two ways to kill:
- from this process at a time: a delay after start, right after the k-th "committed" line, or a
  few milliseconds after it (the next commit is then being built, written or synced);
- exactly at a system call, with strace's fault injection (-e inject=CALL:signal=KILL:when=N,
  with -P to count only the calls on one file): the N-th pwrite64 of WAL frames (a commit torn
  half-way), the N-th fdatasync of the WAL (a commit written, not yet synced), the N-th pwrite64
  into the database file (a checkpoint half-copied). These tests need strace (Debian: strace).
`pytest --torture` runs 500 timed kills and 150 exact ones instead of 50 and 12, and kills at
every call of the first open and of init instead of a sample (about 20 minutes on 2 cores; the
normal run of this file takes about 80 s).
"""

from __future__ import annotations

import itertools
import os
import queue
import random
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from store_support import synthetic_reading

from gateway.store import (
    DB_FILE,
    KEY_FILE,
    PUBLIC_KEY_FILE,
    KeyExists,
    StoreWriter,
    create_key,
    load_private_key,
    load_public_key,
    open_reader,
    verify_store,
)
from gateway.store.keys import raw_public_key
from gateway.store.records import KIND_READING, ROW_COLUMNS, STORE_DEVICE, Record, from_reading
from gateway.store.schema import applied_migrations

SEED = int(os.environ.get("WELLGATE_CRASH_SEED", "20261129"))
INGEST = (sys.executable, str(Path(__file__).parent / "ingest_proc.py"))
WELLGATE = (sys.executable, "-m", "gateway")
STRACE = shutil.which("strace")
WAIT = 30.0  # seconds a child may take for its next line on a loaded 2-core machine
MIGRATIONS = ["m001_records_blocks_meta_deliveries"]
WAL_MAGIC = (0x377F0682, 0x377F0683)


# --- a child process whose output lines are collected as they come -----------------------------

STARTED: list[subprocess.Popen] = []  # every child of the running test, killed at its end


@pytest.fixture(autouse=True)
def no_child_outlives_its_test():
    """A test stopped half-way (pytest-timeout, an error) left its writer ingesting 6,000
    readings/s for an hour, loading the machine for every later test."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


class Child:
    """A process; a thread collects its stdout lines with their arrival time."""

    def __init__(self, command: list[str], stderr_path: Path) -> None:
        self.command = command
        self._stderr_path = stderr_path
        with open(stderr_path, "w") as stderr:
            self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr,
                                         text=True, bufsize=1)
        STARTED.append(self.proc)
        self.started = time.monotonic()
        self._queue: queue.Queue[tuple[float, str] | None] = queue.Queue()
        self.lines: list[tuple[float, str]] = []
        self.ended = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put((time.monotonic(), line.rstrip("\n")))
        self._queue.put(None)

    def next_line(self, timeout: float = WAIT) -> str | None:
        """The next line (None once the process closed its stdout)."""
        if self.ended:
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"{self.command}: no output for {timeout} s; "
                                 f"stderr: {self.stderr()[-2000:]}") from None
        if item is None:
            self.ended = True
            return None
        self.lines.append(item)
        return item[1]

    def wait_for(self, prefix: str, count: int = 1) -> bool:
        """Read until the count-th line starting with prefix (False if the output ended)."""
        seen = sum(1 for _, line in self.lines if line.startswith(prefix))
        while seen < count:
            line = self.next_line()
            if line is None:
                return False
            seen += line.startswith(prefix)
        return True

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)

    def finish(self, timeout: float = WAIT) -> list[str]:
        """Wait for the end; all lines the process wrote (those written before a kill too)."""
        self.proc.wait(timeout)
        while self.next_line() is not None:
            pass
        self._thread.join(timeout)
        return [line for _, line in self.lines]

    def stderr(self) -> str:
        return self._stderr_path.read_text(errors="replace")


@dataclass
class Run:
    """What one writer process said before it died or closed."""

    plan: str
    lines: list[str]
    stderr: str
    returncode: int | None = None

    def _started(self) -> list[str]:
        return next((line.split() for line in self.lines if line.startswith("started ")), [])

    @property
    def boot(self) -> int | None:
        words = self._started()
        return int(words[2]) if words else None

    @property
    def first_index(self) -> int | None:
        words = self._started()
        return int(words[4]) if words else None

    @property
    def committed(self) -> list[int]:
        return [int(line.split()[1]) for line in self.lines if line.startswith("committed ")]

    @property
    def closed(self) -> bool:
        return any(line.startswith("closed ") for line in self.lines)

    def describe(self) -> str:
        return (f"seed {SEED}, plan: {self.plan}; exit {self.returncode}; last lines "
                f"{self.lines[-3:]}; stderr: {self.stderr[-1500:]!r}")


def ingest_command(state_dir: Path, *options: object) -> list[str]:
    return [*INGEST, "--state-dir", str(state_dir), *map(str, options)]


# --- what the WAL held when the writer died -------------------------------------------------------

def uncommitted_wal_frames(wal: Path) -> int:
    """Frames of the WAL's current generation after its last commit frame: a transaction that was
    being written when the process died (SQLite's recovery ignores them). Frames belong to the
    current generation when their salts equal the header's; after a SIGKILL (not a power cut)
    everything written is in the file, so checksums are not needed to tell them apart."""
    try:
        data = wal.read_bytes()
    except FileNotFoundError:
        return 0
    if len(data) < 32:
        return 0
    magic, _version, page_size, _checkpoint, salt1, salt2 = struct.unpack(">6I", data[:24])
    if magic not in WAL_MAGIC:
        return 0
    pending, offset, frame = 0, 32, 24 + page_size
    while offset + frame <= len(data):
        _page, commit_size, frame_salt1, frame_salt2 = struct.unpack(
            ">4I", data[offset:offset + 16])
        if (frame_salt1, frame_salt2) != (salt1, salt2):
            break
        pending = 0 if commit_size else pending + 1
        offset += frame
    return pending


# --- what the store must hold -------------------------------------------------------------------

@dataclass
class StoreModel:
    """What the store must hold, built up run by run from the writers' own reports."""

    state_dir: Path
    public_key: Ed25519PublicKey
    readings: int = 0  # readings checked so far: the ingest index the next one must have
    last_seq: int = 0  # records checked so far: seq 1..last_seq
    boot: int = 0  # meta.boot at the last check
    heads: dict[int, bytes] = field(default_factory=dict)  # block_no -> head, all seen so far
    starts: list[tuple[int, int]] = field(default_factory=list)  # (first index, boot) per run
    tally: Counter = field(default_factory=Counter)

    @property
    def db(self) -> Path:
        return self.state_dir / DB_FILE

    def check_after(self, run: Run) -> None:
        """Everything the store must satisfy now that `run` is dead (or closed)."""
        why = run.describe()
        if uncommitted_wal_frames(self.state_dir / (DB_FILE + "-wal")):
            self.tally["killed while writing a commit's WAL frames"] += 1
        if run.boot is None:
            self.tally["killed before it started ingesting"] += 1
        else:
            assert run.boot == self.boot + 1, f"boot {run.boot} after boot {self.boot}: {why}"
            assert run.first_index == self.readings, (
                f"started at index {run.first_index}, but {self.readings} readings are stored: "
                f"{why}")
            self.starts.append((run.first_index, run.boot))
        if not self.db.exists():
            assert not run.committed, f"commits reported, but there is no database: {why}"
            return
        conn = open_reader(self.db)
        try:
            self._check(conn, run, why)
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection, run: Run, why: str) -> None:
        if not applied_migrations(conn):
            assert not run.committed, f"commits reported, but no schema: {why}"
            self.tally["killed before the schema was committed"] += 1
            return
        result = verify_store(conn, self.public_key)
        assert result.ok, f"verify: {result.summary()}: {why}"
        conn.execute("BEGIN")  # one snapshot for the rest (no writer runs now anyway)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            count, low, high = conn.execute(
                "SELECT count(*), min(seq), max(seq) FROM records").fetchone()
            blocks = conn.execute("SELECT block_no, last_seq, head FROM blocks "
                                  "ORDER BY block_no").fetchall()
            assert count == (high or 0) and low in (None, 1), (
                f"{count} records but seq {low}..{high}: a gap: {why}")
            assert meta["next_seq"] == (high or 0) + 1, f"meta {meta}, last seq {high}: {why}"
            assert meta["boot"] in (self.boot, self.boot + 1), (
                f"meta.boot {meta['boot']} after boot {self.boot}: {why}")
            if run.boot is not None:
                assert meta["boot"] == run.boot, f"meta.boot {meta['boot']}: {why}"
            now = {block_no: head for block_no, _, head in blocks}
            for block_no, head in self.heads.items():
                assert now.get(block_no) == head, f"block {block_no} changed or vanished: {why}"
            self.heads = now
            block_ends = {last for _, last, _ in blocks}
            lost = [seq for seq in run.committed if seq not in block_ends]
            assert not lost, f"reported commits {lost} are not in the store: {why}"
            reported = max(run.committed, default=0)
            if (high or 0) > max(reported, self.last_seq):
                self.tally["killed after a commit, before it was reported"] += 1
            for row in conn.execute(f"SELECT {ROW_COLUMNS} FROM records WHERE seq > ? "
                                    "ORDER BY seq", (self.last_seq,)):
                self.check_record(Record.from_row(row), why)
        finally:
            conn.execute("ROLLBACK")
        self.boot = meta["boot"]
        if run.committed:
            self.tally["killed after at least one reported commit"] += 1

    def check_record(self, record: Record, why: str = "") -> None:
        """The next record in seq order: the reading of the next ingest index, written by the
        run that started at or before that index (the store's own alarms are let through)."""
        self.last_seq += 1
        assert record.seq == self.last_seq, f"seq {record.seq} after {self.last_seq - 1}: {why}"
        if record.device == STORE_DEVICE:  # e.g. store_low_space on a nearly full test disk
            self.tally[f"store record {record.kind} {record.point}"] += 1
            return
        index = self.readings
        boot = next(b for first, b in reversed(self.starts) if first <= index)
        made = synthetic_reading(index)
        expected = (record.seq, KIND_READING, made.device, made.point, made.value, made.unit,
                    made.quality, list(made.raw), made.wall_time, made.mono_time, boot,
                    {"kind": made.kind})
        assert record.fields() == expected and type(record.value) is type(made.value), (
            f"seq {record.seq} is {record.fields()}; reading {index} of boot {boot} is "
            f"{expected}: {why}")
        assert record.leaf is None, f"seq {record.seq} is a tombstone: {why}"
        self.readings += 1

    def recheck_everything(self) -> None:
        """Every record again from seq 1 (what check_after saw as new, one run at a time)."""
        again = StoreModel(self.state_dir, self.public_key, starts=list(self.starts))
        conn = open_reader(self.db)
        try:
            for row in conn.execute(f"SELECT {ROW_COLUMNS} FROM records ORDER BY seq"):
                again.check_record(Record.from_row(row), "full re-check")
        finally:
            conn.close()
        assert (again.last_seq, again.readings) == (self.last_seq, self.readings)


def new_state(tmp_path: Path) -> tuple[Path, StoreModel]:
    state_dir = tmp_path / "state"
    public = create_key(state_dir)
    return state_dir, StoreModel(state_dir, public)


def final_clean_run(state_dir: Path, model: StoreModel, tmp_path: Path) -> Run:
    """A last writer that closes by itself; then the model, a full re-check and the real CLI."""
    child = Child(ingest_command(state_dir, "--rate", 0, "--count", 500), tmp_path / "last.txt")
    lines = child.finish(timeout=60)
    run = Run("clean run of 500 readings", lines, child.stderr(), child.proc.returncode)
    assert run.closed and run.returncode == 0, run.describe()
    model.check_after(run)
    model.recheck_everything()
    done = subprocess.run([*WELLGATE, "verify", "--db", str(model.db)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"OK: {model.last_seq} records in {len(model.heads)} blocks, seq 1..{model.last_seq}")
    return run


# --- 1. SIGKILL at random times during heavy ingest ---------------------------------------------

def timed_kill_cycle(state_dir: Path, rng: random.Random, number: int, tmp_path: Path) -> Run:
    """Start a writer with random (heavy) settings, kill it by one of three timed plans."""
    rate = rng.choice([3000, 6000, 10000])
    commit_max = rng.choice([50, 200, 1000])
    interval = rng.choice([0.01, 0.03])
    settings = f"rate {rate}/s, commit_max {commit_max}, commit_interval {interval}"
    child = Child(ingest_command(state_dir, "--rate", rate, "--commit-max", commit_max,
                                 "--commit-interval", interval, "--chunk", 50),
                  tmp_path / f"stderr-{number}.txt")
    how = rng.random()
    if how < 0.3:
        delay = rng.uniform(0.0, 0.8)  # import, open, boot, first commits
        plan = f"kill {delay:.3f} s after start"
        time.sleep(max(0.0, child.started + delay - time.monotonic()))
    else:
        k = rng.randint(1, 6)
        assert child.wait_for("committed ", k), f"no commit {k}: {child.stderr()[-2000:]}"
        if how < 0.6:
            plan = f"kill right after commit {k}"
        else:
            delay = rng.uniform(0.0, 0.04)
            plan = f"kill {delay * 1000:.1f} ms after commit {k} (the next one in progress)"
            time.sleep(delay)
    child.kill()
    lines = child.finish()
    return Run(f"cycle {number}: {plan}; {settings}", lines, child.stderr(),
               child.proc.returncode)


def run_timed_kills(tmp_path: Path, cycles: int, seed: str) -> StoreModel:
    state_dir, model = new_state(tmp_path)
    rng = random.Random(f"{SEED}/{seed}")
    for number in range(cycles):
        run = timed_kill_cycle(state_dir, rng, number, tmp_path)
        assert run.returncode == -signal.SIGKILL or run.closed, run.describe()
        model.check_after(run)
    final_clean_run(state_dir, model, tmp_path)
    print(f"\n{cycles} timed kills, {model.readings} readings in {len(model.heads)} blocks: "
          + "; ".join(f"{name}: {n}" for name, n in sorted(model.tally.items())))
    return model


def test_sigkill_at_random_times_loses_no_reported_commit(tmp_path):
    model = run_timed_kills(tmp_path, cycles=50, seed="timed")
    # the plans must have hit both sides of the first commit
    assert model.tally["killed after at least one reported commit"] >= 25, model.tally
    assert model.tally["killed before it started ingesting"] >= 1, model.tally


@pytest.mark.torture
@pytest.mark.timeout(3600)
def test_torture_sigkill_at_random_times_500_cycles(tmp_path):
    for store in range(5):  # 5 stores of 100 cycles: verify after each kill stays quick
        folder = tmp_path / f"store-{store}"
        folder.mkdir()
        run_timed_kills(folder, cycles=100, seed=f"timed-torture-{store}")


# --- 2. SIGKILL exactly at a write or sync call (strace fault injection) ------------------------

def need_strace() -> str:
    if STRACE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("strace is missing: .ci/run must install it (apt-get install strace); "
                        "the exact-syscall crash tests need it")
        pytest.skip("no strace here (Debian: apt-get install strace)")
    return STRACE


def killed_at(call: str, when: int, *paths: Path) -> list[str]:
    """strace arguments: SIGKILL the process at the when-th `call` (on any of `paths`, if
    given), counted per thread."""
    options = [need_strace(), "-f", "-qq", "-o", os.devnull]
    for path in paths:
        options += ["-P", str(path)]
    return [*options, "-e", f"trace={call}", "-e", f"inject={call}:signal=KILL:when={when}"]


KILLED = (128 + signal.SIGKILL, -signal.SIGKILL)  # strace exits as its tracee did


def exact_kill_cycle(state_dir: Path, rng: random.Random, number: int, target: str,
                     tmp_path: Path) -> Run:
    wal, db = state_dir / (DB_FILE + "-wal"), state_dir / DB_FILE
    if target == "wal-write":  # a commit's frames half written
        call, when, path, commit_max, count = "pwrite64", rng.randint(1, 150), wal, \
            rng.choice([50, 400]), 6000
    elif target == "wal-sync":  # a commit written, not yet synced
        call, when, path, commit_max, count = "fdatasync", rng.randint(1, 15), wal, \
            rng.choice([50, 400]), 6000
    else:  # a checkpoint half copied into the database file (small commits: 1000 frames soon)
        call, when, path, commit_max, count = "pwrite64", rng.randint(1, 40), db, 50, 20000
    plan = (f"exact {number}: SIGKILL at {call} #{when} on {path.name} (per thread); "
            f"commit_max {commit_max}, up to {count} readings")
    child = Child([*killed_at(call, when, path),
                   *ingest_command(state_dir, "--rate", 0, "--commit-max", commit_max,
                                   "--commit-interval", 0.01, "--count", count)],
                  tmp_path / f"stderr-exact-{number}.txt")
    lines = child.finish(timeout=120)
    return Run(plan, lines, child.stderr(), child.proc.returncode)


def run_exact_kills(tmp_path: Path, cycles: int, seed: str) -> StoreModel:
    state_dir, model = new_state(tmp_path)
    rng = random.Random(f"{SEED}/{seed}")
    targets = ["wal-write", "wal-sync", "db-write"]  # each at least once, then at random
    targets += rng.choices(targets, weights=[5, 3, 2], k=cycles - len(targets))
    for number, target in enumerate(targets):
        run = exact_kill_cycle(state_dir, rng, number, target, tmp_path)
        if run.returncode in KILLED:
            model.tally[f"killed at {target}"] += 1
        else:
            assert run.returncode == 0 and run.closed, run.describe()
            model.tally[f"{target} point not reached (closed)"] += 1
        model.check_after(run)
    final_clean_run(state_dir, model, tmp_path)
    print(f"\n{cycles} exact kills, {model.readings} readings in {len(model.heads)} blocks: "
          + "; ".join(f"{name}: {n}" for name, n in sorted(model.tally.items())))
    return model


def test_sigkill_at_exact_commit_and_checkpoint_calls_loses_no_reported_commit(tmp_path):
    model = run_exact_kills(tmp_path, cycles=12, seed="exact")
    assert model.tally["killed while writing a commit's WAL frames"] >= 1, model.tally
    assert model.tally["killed at db-write"] >= 1, model.tally


@pytest.mark.torture
@pytest.mark.timeout(3600)
def test_torture_sigkill_at_exact_calls_150_cycles(tmp_path):
    for store in range(3):
        folder = tmp_path / f"store-{store}"
        folder.mkdir()
        run_exact_kills(folder, cycles=50, seed=f"exact-torture-{store}")


# --- 3. readers killed in the middle of reading ---------------------------------------------------

def test_readers_killed_mid_read_leave_the_writer_alone(tmp_path):
    state_dir, model = new_state(tmp_path)
    fill = Child(ingest_command(state_dir, "--rate", 0, "--count", 40_000), tmp_path / "fill.txt")
    run = Run("fill 40000 readings", fill.finish(timeout=120), fill.stderr(),
              fill.proc.returncode)
    assert run.closed, run.describe()
    model.check_after(run)

    writer = Child(ingest_command(state_dir, "--rate", 2000, "--commit-interval", 0.05),
                   tmp_path / "writer.txt")
    assert writer.wait_for("committed ", 3), writer.stderr()
    rng = random.Random(f"{SEED}/readers")
    db = str(state_dir / DB_FILE)
    mid_read: Counter = Counter()
    readers_from = time.monotonic()
    for number in range(9):
        kind = ("verify", "export", "stalled export")[number % 3]
        if kind == "verify":
            reader = Child([*WELLGATE, "verify", "--db", db], tmp_path / f"r{number}.txt")
            assert reader.wait_for("public key "), reader.stderr()  # it reads the store next
            time.sleep(rng.uniform(0.0, 0.1))
        elif kind == "export":
            reader = Child([*WELLGATE, "export", "--db", db, "--format",
                            rng.choice(["jsonl", "csv"])], tmp_path / f"r{number}.txt")
            assert reader.wait_for("", rng.randint(2, 10_000)), reader.stderr()
        else:  # nobody reads its output: it blocks on a full pipe inside its read transaction
            with open(tmp_path / f"r{number}.txt", "w") as stderr:
                stalled = subprocess.Popen([*WELLGATE, "export", "--db", db],
                                           stdout=subprocess.PIPE, stderr=stderr)
            assert stalled.stdout.read(1), "export wrote nothing"  # it is exporting ...
            time.sleep(rng.uniform(0.2, 0.5))  # ... and soon stuck on the full pipe
            mid_read[kind] += stalled.poll() is None
            stalled.kill()
            stalled.wait(WAIT)
            stalled.stdout.close()
            continue
        running = reader.proc.poll() is None
        reader.kill()
        out = reader.finish()
        mid_read[kind] += running and not any(line.startswith("OK:") for line in out)
    readers_until = time.monotonic()
    assert writer.proc.poll() is None, writer.stderr()
    assert writer.wait_for("committed ", len(writer.lines) + 3)  # still committing afterwards
    writer.proc.send_signal(signal.SIGTERM)
    run = Run("writer while readers were killed", writer.finish(), writer.stderr(),
              writer.proc.returncode)
    assert run.closed and run.returncode == 0, run.describe()
    # its close could checkpoint and delete the WAL: no killed reader left a lock behind (checked
    # before this process opens the store: a read-only connection leaves an empty WAL file)
    assert not (state_dir / (DB_FILE + "-wal")).exists()
    model.check_after(run)
    model.recheck_everything()
    times = [at for at, line in writer.lines if line.startswith("committed ")
             and readers_from <= at <= readers_until]
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    print(f"\nreaders killed mid-read: {dict(mid_read)}; {len(times)} commits meanwhile, gap "
          f"median {gaps[len(gaps) // 2] * 1000:.0f} ms, max {gaps[-1] * 1000:.0f} ms")
    assert gaps[-1] < 1.0, f"the writer stalled {gaps[-1]:.2f} s while readers ran"
    assert mid_read["verify"] >= 2 and mid_read["export"] >= 2, mid_read
    assert mid_read["stalled export"] == 3, mid_read


# --- 4. SIGKILL during the very first open (schema creation) and during key creation ------------

LEAN_OPEN = ("import sys; from pathlib import Path; "
             "from gateway.store import StoreWriter, load_private_key; d = Path(sys.argv[1]); "
             "w = StoreWriter(d, load_private_key(d)); print('opened boot', w.boot, flush=True); "
             "w.close()")
NO_PYC = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}  # the same calls in every run


def calls_on(state_dir: Path, command: list[str], calls: tuple[str, ...],
             tmp_path: Path) -> list[tuple[str, int, str]]:
    """A dry run under strace: every call of `calls` the (single-threaded) process makes on
    state_dir or a file in it, as (call, n, trace line), n counting that call from the start of
    the process, as strace's when= does."""
    trace = tmp_path / "dry-run.trace"
    subprocess.run([need_strace(), "-f", "-y", "-qq", "-o", str(trace), "-e",
                    f"trace={','.join(calls)}", *command], check=True, capture_output=True,
                   env=NO_PYC, timeout=60)
    seen: Counter = Counter()
    points = []
    for line in trace.read_text().splitlines():
        pid, rest = line.split(None, 1)  # strace pads a short pid with spaces
        call = rest.split("(", 1)[0]
        if call not in calls:
            continue
        seen[pid, call] += 1
        if str(state_dir) in rest:
            assert len({p for p, _ in seen}) == 1, f"more than one thread: {line}"
            points.append((call, seen[pid, call], rest[:160]))
    return points


def test_sigkill_at_any_call_of_the_first_open_leaves_a_store_that_opens(tmp_path, torture):
    dry = tmp_path / "dry-run"
    create_key(dry)
    points = calls_on(dry, [sys.executable, "-c", LEAN_OPEN, str(dry)],
                      ("openat", "pwrite64", "fdatasync", "ftruncate", "unlink"), tmp_path)
    assert sum(call == "pwrite64" for call, *_ in points) >= 10, points
    if not torture:  # all of them (about 60) with --torture
        points = random.Random(f"{SEED}/first-open").sample(points, 12)
    for number, (call, when, line) in enumerate(points):
        state_dir = tmp_path / f"state-{number}"
        public = create_key(state_dir)
        killed = subprocess.run([*killed_at(call, when), sys.executable, "-c", LEAN_OPEN,
                                 str(state_dir)], capture_output=True, text=True, env=NO_PYC,
                                timeout=60)
        why = f"killed at {call} #{when} of the first open ({line}): {killed.stderr[-800:]}"
        assert killed.returncode in KILLED, why  # in the open, or in the close after it
        writer = StoreWriter(state_dir, load_private_key(state_dir))  # the next start
        try:
            assert applied_migrations(writer.conn) == MIGRATIONS, why
            assert writer.boot in (1, 2), why
            block = writer.append([from_reading(synthetic_reading(i)) for i in range(10)])
            assert (block.block_no, block.first_seq, block.last_seq) == (0, 1, 10), why
        finally:
            writer.close()
        conn = open_reader(state_dir / DB_FILE)
        try:
            assert verify_store(conn, public).summary() == (
                "OK: 10 records in 1 blocks, seq 1..10"), why
        finally:
            conn.close()


def test_sigkill_at_any_call_of_init_leaves_no_key_or_a_whole_key_pair(tmp_path, torture):
    dry = tmp_path / "dry-run"
    init = [*WELLGATE, "init", "--state-dir"]
    points = calls_on(dry, [*init, str(dry)],
                      ("mkdir", "openat", "write", "fsync", "rename", "link", "unlink"), tmp_path)
    assert {"write", "fsync", "link"} <= {call for call, *_ in points}, points
    if not torture:  # the calls that change what is on disk; all of them (16) with --torture
        points = [point for point in points if point[0] in ("write", "fsync", "rename", "link")]
    for number, (call, when, line) in enumerate(points):
        state_dir = tmp_path / f"state-{number}"
        killed = subprocess.run([*killed_at(call, when), *init, str(state_dir)],
                                capture_output=True, text=True, env=NO_PYC, timeout=60)
        why = f"killed at {call} #{when} of init ({line}): {killed.stderr[-800:]}"
        assert killed.returncode in KILLED and "fingerprint" not in killed.stdout, why
        if (state_dir / KEY_FILE).exists():  # a whole key, and its public key beside it
            key = load_private_key(state_dir)
            with pytest.raises(KeyExists):
                create_key(state_dir)  # what `wellgate init` runs again
        else:  # no key: the next init makes one
            create_key(state_dir)
            key = load_private_key(state_dir)
        public = load_public_key(state_dir / PUBLIC_KEY_FILE)
        assert raw_public_key(public) == raw_public_key(key.public_key()), why
        assert (state_dir / KEY_FILE).stat().st_mode & 0o777 == 0o600, why
        writer = StoreWriter(state_dir, key)  # and the store starts with it
        writer.append([from_reading(synthetic_reading(0))])
        writer.close()
        conn = open_reader(state_dir / DB_FILE)
        try:
            assert verify_store(conn, public).ok, why
        finally:
            conn.close()
