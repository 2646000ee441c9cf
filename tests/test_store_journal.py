"""The sector journal (gateway/store/journal.py): recovery after SIGKILL, torn writes, flipped
bytes, wrapping, and what each commit costs in bytes written (/proc/PID/io)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import pytest
from journal_proc import folded_mark, payload

from gateway.store.journal import (
    ENTRY_OVERHEAD,
    SECTOR,
    Journal,
    JournalDamaged,
    JournalError,
    JournalFull,
    create,
    device_sector,
    entry_bytes,
    sectors_for,
)

PROC = Path(__file__).resolve().parent / "journal_proc.py"


def reopen(path: Path, after: int = 0) -> Journal:
    journal = Journal(path, after=after)
    journal.close()
    return journal


def test_entries_come_back_in_order_with_their_bytes(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=64 * 1024)
    seqs = [journal.append(payload(seq)) for seq in range(1, 41)]
    journal.close()
    assert seqs == list(range(1, 41))
    again = reopen(path)
    assert [(e.seq, e.payload) for e in again.entries] == [(s, payload(s)) for s in seqs]
    assert again.torn is None and again.next_seq == 41
    # each entry starts on a fresh sector and takes the sectors its size needs
    for entry in again.entries:
        assert entry.sectors == -(-(len(entry.payload) + 20) // SECTOR)
    assert [b.sector for b in again.entries[1:]] == [a.sector + a.sectors
                                                     for a in again.entries[:-1]]


def test_an_entry_is_laid_out_as_documented(tmp_path: Path) -> None:
    """Bytes checked by hand against the module docstring: magic, u64 seq, u32 length, payload,
    CRC-32 (zlib's, the same as `crc32` of Python's binascii and of gzip) of all before it."""
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=8192)
    journal.append(b"abc")
    journal.close()
    data = path.read_bytes()
    assert data[:4] == b"WGJ1" and int.from_bytes(data[4:8], "big") == 512
    assert int.from_bytes(data[8:16], "big") == 16  # 8192 bytes in 512-byte sectors
    body = b"WGJE" + (1).to_bytes(8, "big") + (3).to_bytes(4, "big") + b"abc"
    assert data[512:512 + 19] == body
    assert data[531:535] == (zlib.crc32(body)).to_bytes(4, "big")
    assert data[535:1024] == bytes(1024 - 535)
    assert ENTRY_OVERHEAD == 20 and sectors_for(492) == 1 and sectors_for(493) == 2


def test_the_journal_wraps_into_released_space_and_refuses_to_overwrite_the_rest(
        tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=16 * SECTOR)  # 15 sectors for entries
    written = []
    with pytest.raises(JournalFull, match="not yet released"):
        for seq in range(1, 100):
            written.append(journal.append(payload(seq)))
    assert reopen(path).entries[-1].seq == written[-1]  # the refused entry changed nothing
    journal.release(written[len(written) // 2])
    after = written[len(written) // 2]
    more = []
    with pytest.raises(JournalFull):
        for _ in range(100):
            more.append(journal.append(payload(journal.next_seq)))
    journal.close()
    assert more, "released space was not reused"
    again = reopen(path, after=after)
    assert [e.seq for e in again.entries] == list(range(after + 1, more[-1] + 1))
    assert all(e.payload == payload(e.seq) for e in again.entries)


def test_a_torn_last_entry_is_not_recovered_and_its_seq_is_written_again(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=64 * 1024)
    for seq in range(1, 11):
        journal.append(payload(seq) or b"x")
    big = journal.append(bytes(range(256)) * 6)  # 1536 bytes: four sectors
    journal.close()
    last = reopen(path).entries[-1]
    assert last.seq == big and last.sectors == 4
    for torn_sector in range(last.sector, last.sector + last.sectors):
        damaged = tmp_path / f"torn-{torn_sector}"
        data = bytearray(path.read_bytes())
        data[torn_sector * SECTOR:(torn_sector + 1) * SECTOR] = random.Random(
            torn_sector).randbytes(SECTOR)  # the sector as a cut-off write might leave it
        damaged.write_bytes(bytes(data))
        journal = Journal(damaged)
        assert [e.seq for e in journal.entries] == list(range(1, big))
        assert all(e.payload == (payload(e.seq) or b"x") for e in journal.entries)
        if torn_sector != last.sector:  # its header survived: reported as torn
            assert journal.torn is not None and journal.torn.seq == big
        assert journal.append(b"again") == big
        journal.close()
        assert reopen(damaged).entries[-1].payload == b"again"


def test_every_flipped_byte_of_an_entry_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=16 * 1024)
    for seq in range(1, 4):
        journal.append(f"entry {seq}: ".encode() + payload(seq)[:60])
    journal.close()
    entries = reopen(path).entries
    pristine = path.read_bytes()
    for victim in (entries[1], entries[2]):  # one in the middle, the newest
        start = victim.sector * SECTOR
        for offset in range(len(victim.payload) + ENTRY_OVERHEAD):
            for flip in (0x01, 0x80, 0xFF):
                data = bytearray(pristine)
                data[start + offset] ^= flip
                path.write_bytes(bytes(data))
                if victim.seq == 3:
                    assert [e.seq for e in reopen(path).entries] == [1, 2], (offset, flip)
                else:
                    with pytest.raises(JournalDamaged, match="entries 2 are missing"):
                        reopen(path)


def test_a_damaged_header_or_a_foreign_file_is_refused_with_a_clear_error(
        tmp_path: Path) -> None:
    path = tmp_path / "j"
    Journal(path, capacity_bytes=4096).close()
    data = bytearray(path.read_bytes())
    data[9] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match="header fails its CRC"):
        Journal(path)
    other = tmp_path / "other"
    other.write_bytes(b"SQLite format 3\0" + bytes(4080))
    with pytest.raises(JournalError, match=r"not a wellgate journal: it starts b'SQLi'"):
        Journal(other)
    assert other.read_bytes()[:6] == b"SQLite"  # nothing written to it


def test_each_commit_writes_only_its_sectors() -> None:
    """/proc/PID/io write_bytes of a process appending 100 one-sector and 100 three-sector
    entries (each fdatasync'ed): 512 and 1536 bytes a commit, where a page-cache write costs a
    4096-byte page at least. On the disk (/var/tmp), not tmpfs, which counts no write_bytes."""
    folder = Path(tempfile.mkdtemp(prefix="journal-test-", dir="/var/tmp"))
    script = (
        "import sys\n"
        "from gateway.store.journal import Journal\n"
        "def written():\n"
        "    return int(open('/proc/self/io').read().split('write_bytes:')[1].split()[0])\n"
        "j = Journal(sys.argv[1], capacity_bytes=1 << 20, direct=True)\n"
        "before = written()\n"
        "for _ in range(100): j.append(b'r' * 400)\n"
        "small = written() - before\n"
        "before = written()\n"
        "for _ in range(100): j.append(b'R' * 1200)\n"
        "print(small, written() - before)\n")
    try:
        result = subprocess.run([sys.executable, "-c", script, str(folder / "j")],
                                capture_output=True, text=True, timeout=120, check=True)
    finally:
        for name in os.listdir(folder):
            os.unlink(folder / name)
        os.rmdir(folder)
    assert result.stdout.split() == [str(100 * 512), str(100 * 1536)]


@pytest.mark.timeout(3600)
def test_every_acknowledged_entry_survives_sigkill_and_nothing_is_invented(
        tmp_path: Path, torture: bool) -> None:
    """A real writer process (tests/journal_proc.py) is SIGKILLed at random moments, 6 times
    (200 with --torture), while it appends, folds and wraps around a 24 KiB ring; after each
    kill a new process recovers: every entry it had acknowledged is there with its own bytes,
    nothing after the last one written, and the seqs continue."""
    path = tmp_path / "j"
    rng = random.Random(16)
    acked = 0  # the newest acknowledgement read from any writer so far
    for _ in range(200 if torture else 6):
        proc = subprocess.Popen([sys.executable, str(PROC), "--path", str(path),
                                 "--capacity", str(48 * SECTOR), "--fold-every", "7"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            words = proc.stdout.readline().split()
            assert words and words[0] == "recovered", words  # (it checks every payload)
            after = int(words[1])
            newest = after if words[3] == "-" else int(words[3])
            if words[2] != "-":
                assert int(words[2]) == after + 1
            assert newest >= acked, f"acknowledged seq {acked} lost; recovered up to {newest}"
            wanted = newest + rng.randint(20, 120)
            deadline = time.monotonic() + 60
            while acked < wanted and time.monotonic() < deadline:
                line = proc.stdout.readline().split()
                assert line and line[0] == "acked", line
                assert int(line[1]) == max(acked, newest) + 1  # seqs continue, none reused
                acked = int(line[1])
            assert acked >= wanted, "the writer stalled"
            time.sleep(rng.uniform(0, 0.01))  # kill while it writes the next ones
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
    after = folded_mark(path)
    journal = Journal(path, after=after)
    journal.close()
    assert max(after, journal.next_seq - 1) >= acked
    assert all(e.payload == payload(e.seq) for e in journal.entries)


def test_a_journal_of_4096_byte_sectors_works_as_one_of_512(tmp_path: Path) -> None:
    """The sector size is the file's own (its header), as made for its disk: a 4096-byte one
    (a 4Kn disk) takes entries, recovers them and tears alike."""
    path = tmp_path / "j"
    create(path, 64 * 1024, sector=4096)
    journal = Journal(path)
    assert journal.sector == 4096 and journal.sectors == 16
    for seq in range(1, 6):
        journal.append(payload(seq))
    journal.close()
    again = reopen(path)
    assert [(e.seq, e.payload) for e in again.entries] == [(s, payload(s)) for s in range(1, 6)]
    assert [e.sector for e in again.entries] == [1, 2, 3, 4, 5]  # 1 sector each (< 4076 bytes)
    assert device_sector(tmp_path) in (512, 1024, 2048, 4096)


def test_an_entry_inside_a_payload_is_not_taken_for_one(tmp_path: Path) -> None:
    """A payload that holds a whole, valid entry at a sector boundary (a journal file stored in
    the journal, say) is one entry: recovery skips the sectors of an intact entry."""
    path = tmp_path / "j"
    journal = Journal(path, capacity_bytes=16 * 1024)
    inner = entry_bytes(999, b"phantom")
    outer = bytes(SECTOR - 16) + inner  # the inner entry starts exactly on the next sector
    journal.append(outer)
    journal.close()
    again = reopen(path)
    assert [(e.seq, e.payload) for e in again.entries] == [(1, outer)]
    assert again.next_seq == 2


def strace_kill(call: str, when: int, path: Path) -> list[str]:
    """strace arguments: SIGKILL the process on entering its when-th `call` on `path`."""
    strace = shutil.which("strace")
    if strace is None:
        if os.environ.get("CI") == "true":
            pytest.fail("strace is missing: .ci/run must install it (apt-get install strace)")
        pytest.skip("no strace here (Debian: apt-get install strace)")
    return [strace, "-f", "-qq", "-o", os.devnull, "-P", str(path), "-e", f"trace={call}",
            "-e", f"inject={call}:signal=KILL:when={when}"]


@pytest.mark.parametrize("call", ["pwritev,pwritev2", "fdatasync"])
def test_a_kill_exactly_at_the_write_or_the_sync_of_an_entry(tmp_path: Path, call: str) -> None:
    """SIGKILL on entering the n-th entry's pwritev (nothing of it written) or its fdatasync
    (written, not yet synced, never acknowledged), with strace's fault injection: recovery
    returns the n-1 acknowledged entries, plus the n-th only if it was written whole."""
    for when in (1, 30):  # the first entry; one after the ring has wrapped
        path = tmp_path / f"{call.split(',')[0]}-{when}"
        Journal(path, capacity_bytes=48 * SECTOR).close()  # made first: only entries counted
        result = subprocess.run(
            [*strace_kill(call, when, path), sys.executable, str(PROC), "--path", str(path),
             "--capacity", str(48 * SECTOR), "--fold-every", "7", "--count", "40"],
            capture_output=True, text=True, timeout=120)
        assert result.returncode in (128 + signal.SIGKILL, -signal.SIGKILL), result.stderr
        acked = [int(line.split()[1]) for line in result.stdout.splitlines()
                 if line.startswith("acked")]
        assert acked == list(range(1, when)), (call, when, acked)
        after = folded_mark(path)
        journal = reopen(path, after=after)
        last = max(after, journal.next_seq - 1)
        assert last == (when - 1 if call.startswith("pwritev") else when), (call, when, last)
        assert all(e.payload == payload(e.seq) for e in journal.entries)
