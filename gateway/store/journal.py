"""A sector-granular commit journal: a commit is one fdatasync'ed O_DIRECT write of a few sectors.

Why (issue 16, docs/store.md "Bytes written per reading"): a commit through the page cache costs
at least one 4 KiB page however small it is, and SQLite's commit several pages twice (WAL, then
checkpoint). An entry here costs its own sectors only (512 bytes each on an SD card), so a commit
of one poll's signed block in compact form writes one or two sectors.

File layout (all integers big-endian):
  sector 0   header: b"WGJ1", u32 sector size, u64 capacity in sectors (the header included),
             u32 CRC-32 of those 16 bytes; the rest zero. Written once, when the file is made.
  sectors 1… a ring of entries. An entry starts on a fresh sector and takes as many whole
             sectors as it needs (zero padding after it):
               b"WGJE", u64 entry seq, u32 payload length, payload, u32 CRC-32 of all before it
             An entry that would run past the end of the file starts at sector 1 instead.

The file is made at its full size and zero-filled once (written, not fallocated: an unwritten
extent would need a metadata change at its first write), so appending never changes its size or
extents and fdatasync flushes data only. Entry seqs grow by one per entry, across restarts.

Recovery reads every sector, keeps each entry whose CRC matches, and returns those with a seq
after `after` (what the caller has already folded elsewhere, durably), in seq order. The newest
commit, if torn by a power cut or a SIGKILL during its write, fails its CRC and is not returned;
it was never acknowledged (append() returns only after fdatasync). A commit never shares a sector
with an earlier one, so a torn write cannot damage an acknowledged commit. A gap among the seqs
returned (an older entry damaged on the medium) raises JournalDamaged naming the missing seqs:
never a silent loss. release() frees the space of entries folded elsewhere; append() raises
JournalFull rather than overwrite an entry not yet released.
"""

from __future__ import annotations

import errno
import mmap
import os
import struct
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from gateway.store.errors import StoreError
from gateway.store.modes import open_private
from gateway.store.records import seq_ranges

MAGIC = b"WGJ1"
ENTRY_MAGIC = b"WGJE"
SECTOR = 512  # the logical block of SD cards and of most disks; O_DIRECT's alignment
_HEADER = struct.Struct(">4sIQI")  # magic, sector size, capacity (sectors), crc
_ENTRY_HEAD = struct.Struct(">4sQI")  # magic, seq, payload length
_CRC = struct.Struct(">I")
ENTRY_OVERHEAD = _ENTRY_HEAD.size + _CRC.size  # 20 bytes
_ZERO_CHUNK = 1 << 20


class JournalError(StoreError):
    """A journal file that cannot be used: the message says which file and what is wrong."""


class JournalFull(JournalError):
    """No room for an entry without overwriting one not yet released (folded elsewhere)."""


class JournalDamaged(JournalError):
    """Entries missing between ones that are intact: damage on the medium, not a torn write."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One committed entry: its seq, its payload, and the sectors it takes."""

    seq: int
    payload: bytes
    sector: int
    sectors: int


@dataclass(frozen=True, slots=True)
class Torn:
    """An entry header after the newest intact entry whose CRC does not match: the write that
    was in progress at a crash (or, unknowably, damage to that entry)."""

    seq: int
    sector: int


def sectors_for(payload_size: int, sector: int = SECTOR) -> int:
    """How many sectors an entry with this payload takes."""
    return -(-(payload_size + ENTRY_OVERHEAD) // sector)


def entry_bytes(seq: int, payload: bytes) -> bytes:
    """An entry as it is written (before padding)."""
    body = _ENTRY_HEAD.pack(ENTRY_MAGIC, seq, len(payload)) + payload
    return body + _CRC.pack(zlib.crc32(body))


def device_sector(folder: Path) -> int:
    """The logical block size of the disk holding `folder` (O_DIRECT's unit): from
    /sys/dev/block/<major>:<minor>/queue (a partition's is its disk's); SECTOR when unknown."""
    device = os.stat(folder).st_dev
    base = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}")
    for queue in (base / "queue", base / ".." / "queue"):
        try:
            size = int((queue / "logical_block_size").read_text())
        except (OSError, ValueError):
            continue
        if size in (512, 1024, 2048, 4096):
            return size
    return SECTOR


def create(path: Path, capacity_bytes: int, sector: int = SECTOR) -> None:
    """Make a zero-filled journal of `capacity_bytes` (rounded up to sectors) at `path`, synced;
    written to a temporary name and renamed, so a crash leaves either no journal or a whole one."""
    path = Path(path)
    sectors = max(2, -(-capacity_bytes // sector))
    header = _HEADER.pack(MAGIC, sector, sectors, 0)[:-_CRC.size]
    header += _CRC.pack(zlib.crc32(header))
    temporary = path.with_name(path.name + ".new")
    fd = open_private(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        os.write(fd, header.ljust(sector, b"\0"))
        left = (sectors - 1) * sector
        zeros = bytes(min(left, _ZERO_CHUNK))
        while left > 0:
            left -= os.write(fd, zeros[:left])
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _read_header(path: Path, data: bytes) -> tuple[int, int]:
    if len(data) < _HEADER.size or data[:4] != MAGIC:
        raise JournalError(f"{path} is not a wellgate journal: it starts {data[:4]!r}, "
                           f"expected {MAGIC!r}")
    _, sector, sectors, crc = _HEADER.unpack_from(data)
    if zlib.crc32(data[:_HEADER.size - _CRC.size]) != crc:
        raise JournalError(f"{path}: the journal header fails its CRC (damaged); refusing to "
                           "guess its layout")
    if sector not in (512, 1024, 2048, 4096) or sectors < 2 or sectors * sector != len(data):
        raise JournalError(f"{path}: header says {sectors} sectors of {sector} bytes, but the "
                           f"file has {len(data)} bytes")
    return sector, sectors


def scan(data: bytes, sector: int, sectors: int) -> tuple[list[Entry], Torn | None]:
    """Every intact entry in the file's bytes (any order), and the torn one after the newest."""
    found: list[Entry] = []
    broken: list[Torn] = []
    position = data.find(ENTRY_MAGIC, sector)
    while position >= 0:
        if position % sector == 0:
            start = position // sector
            _, seq, size = _ENTRY_HEAD.unpack_from(data, position)
            end = position + _ENTRY_HEAD.size + size
            following = start + 1
            if size <= (sectors - 1) * sector - ENTRY_OVERHEAD and end + _CRC.size <= len(data):
                (crc,) = _CRC.unpack_from(data, end)
                if zlib.crc32(data[position:end]) == crc:
                    found.append(Entry(seq, data[position + _ENTRY_HEAD.size:end], start,
                                       sectors_for(size, sector)))
                    # an intact entry's sectors are its own (a later write over any of them
                    # would have broken its CRC): whatever its payload holds is not an entry
                    following = start + found[-1].sectors
                else:
                    broken.append(Torn(seq, start))
            else:
                broken.append(Torn(seq, start))
            position = data.find(ENTRY_MAGIC, following * sector)
        else:
            position = data.find(ENTRY_MAGIC, (position // sector + 1) * sector)
    newest = max((entry.seq for entry in found), default=-1)
    torn = max((t for t in broken if t.seq == newest + 1), key=lambda t: t.sector, default=None)
    return found, torn


class Journal:
    """An open journal: recovered entries (`entries`), append(), release(), close()."""

    def __init__(self, path: Path, *, after: int = 0, capacity_bytes: int = 4 << 20,
                 direct: bool | None = None) -> None:
        """Open (making it if missing) the journal at `path` and recover the entries with a seq
        after `after`. direct: O_DIRECT writes (True), page-cache writes (False; a file system
        without O_DIRECT, e.g. tmpfs), or try O_DIRECT and fall back (None)."""
        self.path = Path(path)
        if not self.path.exists():
            create(self.path, capacity_bytes, device_sector(self.path.parent))
        with open(self.path, "rb") as file:
            data = file.read()
        self.sector, self.sectors = _read_header(self.path, data)
        found, self.torn = scan(data, self.sector, self.sectors)
        del data
        live = sorted((e for e in found if e.seq > after), key=lambda e: e.seq)
        expected = list(range(after + 1, after + 1 + len(live)))
        if [e.seq for e in live] != expected:
            have = {e.seq for e in live}
            missing = sorted(set(range(after + 1, live[-1].seq + 1)) - have)
            raise JournalDamaged(
                f"{self.path}: entries {_ranges(missing)} are missing or damaged between intact "
                f"entries after seq {after} (found {len(live)} up to seq {live[-1].seq})")
        self.entries: list[Entry] = live
        self._live: deque[Entry] = deque(live)
        newest = max((e.seq for e in found), default=0)
        self.next_seq = max(newest, after) + 1
        last = live[-1] if live else max(found, key=lambda e: e.seq, default=None)
        self._position = 1 if last is None else last.sector + last.sectors
        if self._position >= self.sectors:
            self._position = 1
        self.direct = False
        self._fd = self._open(direct)
        self._buffer = mmap.mmap(-1, mmap.PAGESIZE)  # page-aligned, as O_DIRECT needs

    def _open(self, direct: bool | None) -> int:
        if direct is not False and hasattr(os, "O_DIRECT"):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_DIRECT)
            except OSError as exc:
                if direct or exc.errno != errno.EINVAL:
                    raise
            else:
                self.direct = True
                return fd
        return os.open(self.path, os.O_WRONLY)

    @property
    def capacity(self) -> int:
        """Bytes the ring can hold (the header sector excluded)."""
        return (self.sectors - 1) * self.sector

    def append(self, payload: bytes) -> int:
        """Write `payload` as the next entry and fdatasync it; returns its seq once it is
        durable. JournalFull if it would overwrite an entry not yet released."""
        seq = self.next_seq
        body = entry_bytes(seq, payload)
        count = -(-len(body) // self.sector)
        if count > self.sectors - 1:
            raise JournalError(f"an entry of {len(payload)} bytes does not fit in {self.path} "
                               f"({self.capacity} bytes)")
        start = self._position if self._position + count <= self.sectors else 1
        if self._overlaps_live(start, count):
            raise JournalFull(f"{self.path}: {len(self._live)} entries (seq "
                              f"{self._live[0].seq}..{self._live[-1].seq}) not yet released fill "
                              f"the {self.capacity} bytes; fold them, then release()")
        size = count * self.sector
        if size > len(self._buffer):
            self._buffer.close()
            self._buffer = mmap.mmap(-1, -(-size // mmap.PAGESIZE) * mmap.PAGESIZE)
        self._buffer[:len(body)] = body
        self._buffer[len(body):size] = bytes(size - len(body))
        try:
            written = os.pwritev(self._fd, [memoryview(self._buffer)[:size]],
                                 start * self.sector)
        except OSError as exc:
            if exc.errno != errno.EINVAL or not self.direct:
                raise
            raise JournalError(f"{self.path}: the disk refuses O_DIRECT writes of "
                               f"{self.sector}-byte sectors ({exc.strerror}); the journal was "
                               "made on another disk, or the disk's sector size is not known "
                               "here") from None
        if written != size:
            raise JournalError(f"{self.path}: wrote {written} of {size} bytes at sector {start}")
        os.fdatasync(self._fd)
        self._live.append(Entry(seq, payload, start, count))
        self._position = start + count
        self.next_seq = seq + 1
        return seq

    def _overlaps_live(self, start: int, count: int) -> bool:
        end = start + count
        return any(entry.sector < end and start < entry.sector + entry.sectors
                   for entry in self._live)

    def release(self, through: int) -> None:
        """Entries up to seq `through` are kept elsewhere (durably): their space may be reused."""
        while self._live and self._live[0].seq <= through:
            self._live.popleft()

    @property
    def pending(self) -> list[Entry]:
        """The entries written or recovered and not yet released, oldest first."""
        return list(self._live)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._buffer.close()


def _ranges(seqs: list[int]) -> str:
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in seq_ranges(seqs))
