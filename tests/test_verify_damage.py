"""`wellgate verify` on a store file with flipped bytes reports the damage and exits 1, never a
traceback (issue 10, item 11).

Found this way: bytes of a real store file flipped, then `wellgate verify`: a traceback. Here a
store made by the real writer is copied, one byte of the copy flipped (xor 0xff), and the real
command run on it, at 40 offsets: the file header's fields SQLite reads, then offsets spread over
the whole file. An offset whose flip changes nothing SQLite reads back (slack space in a page, a
field of an unsigned table) cannot be detected and is not damage; such an offset is moved on to
the next byte that is: where the file stops being readable, or the records or the signed columns
of the blocks read back otherwise.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from store_support import synthetic_reading

from gateway.store import StoreWriter, create_key, load_private_key
from gateway.store.records import from_reading
from gateway.store.schema import DB_FILE

WELLGATE = [sys.executable, "-m", "gateway"]
FORKED_CLI = Path(__file__).parent / "forked_cli.py"
HEADER_FIELDS = (0, 7, 16, 17, 18, 19, 20, 21, 22, 28, 32, 44, 52, 56)  # docs: fileformat2
SPREAD = 40 - len(HEADER_FIELDS)
SIGNED = ("SELECT * FROM records ORDER BY seq",
          "SELECT block_no, first_seq, last_seq, count, prev_head, head, signature FROM blocks "
          "ORDER BY block_no")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A closed store of 1,500 readings in 30 blocks, every page in the main file."""
    state = tmp_path_factory.mktemp("store")
    create_key(state)
    writer = StoreWriter(state, load_private_key(state))
    for block in range(30):
        writer.append([from_reading(synthetic_reading(block * 50 + i)) for i in range(50)])
    writer.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    writer.close()
    return state


def read_back(path: Path) -> object:
    """What SQLite reads of the records and the blocks' signed columns; None if it cannot."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchall() != [("ok",)]:
                return None
            return [conn.execute(query).fetchall() for query in SIGNED]
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None


def flipped(original: bytes, offset: int, folder: Path) -> Path:
    data = bytearray(original)
    data[offset] ^= 0xFF
    path = folder / DB_FILE
    path.write_bytes(bytes(data))
    for suffix in ("-wal", "-shm"):
        (folder / (DB_FILE + suffix)).unlink(missing_ok=True)
    return path


def page_slack(data: bytes, offset: int, page_size: int) -> int | None:
    """The end of the unused gap (between cell pointers and cell content) `offset` is in."""
    base = offset - offset % page_size
    header = base + (100 if base == 0 else 0)
    kind = data[header]
    if kind not in (2, 5, 10, 13):
        return None
    cells = int.from_bytes(data[header + 3:header + 5], "big")
    content = int.from_bytes(data[header + 5:header + 7], "big") or 65536
    pointers_end = header + (8 if kind in (10, 13) else 12) + 2 * cells
    return base + content if pointers_end <= offset < base + content else None


def damaging_offsets(store: Path, scratch: Path) -> list[int]:
    original = (store / DB_FILE).read_bytes()
    page_size = int.from_bytes(original[16:18], "big")
    intact = read_back(store / DB_FILE)
    offsets = []
    wanted = list(HEADER_FIELDS) + [100 + k * (len(original) - 100) // SPREAD
                                    for k in range(SPREAD)]
    for start in wanted:
        offset = start
        while offset < len(original):
            skip = page_slack(original, offset, page_size)
            if skip is not None:
                offset = skip
                continue
            if read_back(flipped(original, offset, scratch)) != intact:
                break
            offset += 1
        assert offset < len(original), f"no damaging byte from offset {start} on"
        offsets.append(offset)
    return offsets


def test_verify_reports_flipped_bytes_anywhere_in_the_file_and_exits_1(store, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    offsets = damaging_offsets(store, scratch)
    assert len(offsets) == 40
    original = (store / DB_FILE).read_bytes()
    runs = []
    for offset in offsets:
        folder = tmp_path / f"at-{offset}"
        folder.mkdir(exist_ok=True)
        shutil.copy(store / "gateway.pub", folder / "gateway.pub")
        path = flipped(original, offset, folder)
        runs.append({"argv": ["verify", "--db", str(path)], "stdout": str(folder / "stdout"),
                     "stderr": str(folder / "stderr")})
    # 40 runs of the real command, each its own process, forked from one that imported the CLI
    # (a fresh interpreter for each spent ~35 s of the test's 40 on imports)
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    done = subprocess.run([sys.executable, str(FORKED_CLI), str(tmp_path / "runs.json"),
                           "gateway.store"],
                          capture_output=True, text=True, timeout=60 + 10 * len(runs))
    assert done.returncode == 0 and len(done.stdout.split()) == len(runs), done.stderr[-3000:]
    outcomes = []
    for offset, run, code in zip(offsets, runs, map(int, done.stdout.split()), strict=True):
        stdout, stderr = Path(run["stdout"]).read_text(), Path(run["stderr"]).read_text()
        last = (stdout.strip().splitlines() or [""])[-1]
        outcomes.append((offset, code, last, stderr.strip()[-300:]))
    wrong = [outcome for outcome in outcomes
             if outcome[1] != 1 or "Traceback" in outcome[3]
             or not (outcome[2].startswith("FAILED at seq ")
                     or outcome[2].startswith("FAILED: the database file is damaged: "))]
    assert not wrong, "\n".join(map(str, wrong))
    # both kinds of report occur: where the chain shows it, and where SQLite cannot read
    assert any(last.startswith("FAILED at seq") for _, _, last, _ in outcomes)
    assert any("damaged" in last for _, _, last, _ in outcomes)


@pytest.mark.parametrize("column", ["last_seq", "first_seq"])
def test_a_flipped_byte_that_makes_a_blocks_seq_a_blob_is_reported_not_a_traceback(
        store, tmp_path, column):
    """Found by the test above in a CI run: the flipped byte at offset 188427 turned a block's
    seq into a blob, and verify died in seq_span with `ValueError: invalid literal for int()`.
    The same damage made deterministically: the newest block's seq stored as 8 raw bytes."""
    folder = tmp_path / "damaged"
    folder.mkdir()
    shutil.copy(store / "gateway.pub", folder / "gateway.pub")
    path = folder / DB_FILE
    shutil.copy(store / DB_FILE, path)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(f"UPDATE blocks SET {column} = X'0000000febe99b39' "
                     "WHERE block_no = (SELECT max(block_no) FROM blocks)")
    conn.close()
    done = subprocess.run([*WELLGATE, "verify", "--db", str(path)], capture_output=True,
                          text=True, timeout=60)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-600:]
    assert last.startswith(("FAILED at seq ", "FAILED: the database file is damaged: ")), last


def test_the_forked_runner_reports_an_uncaught_exception_as_python_does(tmp_path, monkeypatch):
    """The runner the 40-offset test uses: a traceback on stderr and status 1 for an exception
    the CLI lets out, the message and status 1 for SystemExit("..."), the code of sys.exit(n)."""
    import forked_cli

    def raising(exc: BaseException):
        def main() -> None:
            raise exc
        return main

    outcomes = []
    for number, exc in enumerate([ZeroDivisionError("x"), SystemExit("bad flag"), SystemExit(3)]):
        monkeypatch.setattr(forked_cli, "main", raising(exc))
        err = tmp_path / f"err-{number}"
        outcomes.append((forked_cli.run([], str(tmp_path / "out"), str(err)), err.read_text()))
    status, stderr = outcomes[0]
    assert status == 1 and "Traceback" in stderr and "ZeroDivisionError: x" in stderr
    assert outcomes[1] == (1, "bad flag\n")
    assert outcomes[2] == (3, "")
