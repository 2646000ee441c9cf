"""Records as the store keeps them: from readings, to and from rows, with raw packed compactly.

raw is stored as one BLOB: a width tag byte (1, 2, 4 or 8: bytes per value, the smallest that
holds every value) followed by the values big-endian. Modbus registers (u16) take 2 bytes each,
DL/T 645 data bytes 1 each; an empty raw is NULL. The canonical form always uses the list of ints,
so the packing is a storage detail only.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from gateway.readings import Reading
from gateway.store import chain

KIND_READING = "reading"
KIND_STORE_EVENT = "store_event"
KIND_ALARM = "alarm"
STORE_DEVICE = "store"  # the device name of the store's own records
# store_event points that explain a gap verify accepts (gateway/store/retention.py writes them)
EVENT_THINNED = "thinned"
EVENT_PRUNED = "pruned"

RAW_WIDTH_FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}  # bytes per value -> struct format
_PACKERS: dict[tuple[int, int], struct.Struct] = {}  # (width, count) -> tag + values
_UNPACKERS: dict[tuple[int, int], struct.Struct] = {}  # (width, count) -> values after the tag
_CACHE_LIMIT = 1024  # compiled structs kept (a Modbus raw has at most 125 values)
_INT64 = (-(2**63), 2**63 - 1)
_DATA_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                                 allow_nan=False)


def pack_raw(raw: Sequence[int]) -> bytes | None:
    """Width tag + big-endian values; None for no values."""
    if not raw:
        return None
    low, high = min(raw), max(raw)
    if low < 0:
        raise ValueError(f"raw values are unsigned register or byte values; got {low}")
    width = 1 if high < 0x100 else 2 if high < 0x10000 else 4 if high < 1 << 32 else 8
    if high >= 1 << 64:
        raise ValueError(f"raw values fit in 64 bits; got {high}")
    packer = _PACKERS.get((width, len(raw)))
    if packer is None:
        packer = struct.Struct(f">B{len(raw)}{RAW_WIDTH_FORMATS[width]}")
        if len(_PACKERS) < _CACHE_LIMIT:
            _PACKERS[(width, len(raw))] = packer
    return packer.pack(width, *raw)


def unpack_raw(blob: bytes | None) -> list[int]:
    """The list of ints pack_raw() packed."""
    if blob is None or len(blob) == 0:
        return []
    width = blob[0]
    fmt = RAW_WIDTH_FORMATS.get(width)
    if fmt is None or (len(blob) - 1) % width:
        raise ValueError(f"raw blob with width tag {width} and {len(blob) - 1} value bytes; "
                         f"expected a tag of 1, 2, 4 or 8 and a whole number of values")
    count = (len(blob) - 1) // width
    unpacker = _UNPACKERS.get((width, count))
    if unpacker is None:
        unpacker = struct.Struct(f">{count}{fmt}")
        if len(_UNPACKERS) < _CACHE_LIMIT:
            _UNPACKERS[(width, count)] = unpacker
    return list(unpacker.unpack_from(blob, 1))


def normal_value(value: Any) -> int | float | str | None:
    """A value as SQLite keeps it and JSON writes it: bool -> int, NaN/inf -> None, -0.0 -> 0.0,
    an int beyond 64 bits -> its decimal text (SQLite integers are 64-bit)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value if _INT64[0] <= value <= _INT64[1] else str(value)
    if isinstance(value, float):
        # SQLite keeps -0.0 as 0.0: store (and hash) what reads back. A float32 register can be -0.
        return value + 0.0 if math.isfinite(value) else None
    raise TypeError(f"a record value is an int, float, str or None; got {type(value).__name__}")


def normal_data(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """data as it will read back from its JSON text (tuples become lists, and so on)."""
    if data is None:
        return None
    return json.loads(_DATA_ENCODER.encode(dict(data)))


class NewRecord(NamedTuple):
    """A record waiting for its seq and boot (given at commit). A tuple: cheap to build and to
    unpack, as the writer does for every record (gateway/store/block_rows.py)."""

    kind: str
    device: str
    point: str
    value: int | float | str | None
    unit: str
    quality: str
    raw: tuple[int, ...]
    wall_time: float
    mono_time: float
    data: dict[str, Any] | None
    data_text: str | None  # data as stored (compact JSON), computed once

    @classmethod
    def make(cls, kind: str, device: str, point: str, value: Any = None, unit: str = "",
             quality: str = "good", raw: Sequence[int] = (), wall_time: float = 0.0,
             mono_time: float = 0.0, data: Mapping[str, Any] | None = None) -> NewRecord:
        """A record with its value and data normalised (what reads back is what was hashed)."""
        normal = normal_data(data)
        text = None if normal is None else _DATA_ENCODER.encode(normal)
        return cls(kind, device, point, normal_value(value), unit, quality,
                   tuple(int(x) for x in raw), float(wall_time) + 0.0, float(mono_time) + 0.0,
                   normal, text)

    def fields(self, seq: int, boot: int) -> tuple[Any, ...]:
        """The 12 canonical fields, in chain.FIELDS order."""
        return (seq, self.kind, self.device, self.point, self.value, self.unit, self.quality,
                list(self.raw), self.wall_time, self.mono_time, boot, self.data)

    def row(self, seq: int, boot: int, leaf_prefix: bytes) -> tuple[Any, ...]:
        """The records-table row as writer.INSERT_RECORD takes it (tombstone column `leaf` NULL)."""
        return (seq, self.kind, self.device, self.point, self.value, self.unit, self.quality,
                pack_raw(self.raw), self.wall_time, self.mono_time, boot, self.data_text,
                leaf_prefix)


# A reading's data: its point kind, and "clock" when the reading's wall clock was not known to
# be set (gateway/wallclock.py). One shared dict and text per pair, as most records are these.
READING_POINT_KINDS = ("instant", "total", "status", "config")  # gateway/profiles.py PointKind
READING_CLOCK_STATES = (None, "unsynchronised")


def _reading_data(point_kind: str, clock: str | None) -> dict[str, Any]:
    return {"kind": point_kind} if clock is None else {"kind": point_kind, "clock": clock}


_READING_DATA = {(kind, clock): (_reading_data(kind, clock),
                                 _DATA_ENCODER.encode(_reading_data(kind, clock)))
                 for kind in READING_POINT_KINDS for clock in READING_CLOCK_STATES}


def reading_data(point_kind: str, clock: str | None = None) -> tuple[dict[str, Any], str]:
    """A reading's data ({"kind": its point kind}, with "clock" when it has a clock state) and
    that data's stored JSON text."""
    found = _READING_DATA.get((point_kind, clock))
    if found is not None:
        return found
    data = _reading_data(point_kind, clock)
    return data, _DATA_ENCODER.encode(data)


def from_reading(reading: Reading) -> NewRecord:
    """The record of one acquired reading, normalised (its point kind goes into data). The
    writer stores readings without this step (gateway/store/block_rows.py) when they are of the
    common types, with the same result."""
    data, text = reading_data(reading.kind, reading.clock)
    return NewRecord(KIND_READING, reading.device, reading.point, normal_value(reading.value),
                     reading.unit, reading.quality, reading.raw, float(reading.wall_time) + 0.0,
                     float(reading.mono_time) + 0.0, data, text)


def seq_ranges(seqs: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending seqs as runs of consecutive ones: [1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    ranges: list[tuple[int, int]] = []
    for seq in seqs:
        if ranges and ranges[-1][1] == seq - 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return ranges


ROW_COLUMNS = ("seq, kind, device, point, value, unit, quality, raw, wall_time, mono_time, boot, "
               "data, leaf_prefix, leaf")


@dataclass(frozen=True, slots=True)
class Record:
    """A stored record as read back (a tombstone has only seq and leaf)."""

    seq: int
    kind: str | None
    device: str | None
    point: str | None
    value: int | float | str | None
    unit: str | None
    quality: str | None
    raw: list[int]
    wall_time: float | None
    mono_time: float | None
    boot: int | None
    data: Any
    leaf_prefix: bytes | None
    leaf: bytes | None  # set only for a tombstone

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Record:
        """A record from a row selected as ROW_COLUMNS."""
        (seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data, prefix,
         leaf) = row
        return cls(seq, kind, device, point, value, unit, quality, unpack_raw(raw), wall, mono,
                   boot, None if data is None else json.loads(data), prefix, leaf)

    @property
    def is_tombstone(self) -> bool:
        return self.leaf is not None

    def fields(self) -> tuple[Any, ...]:
        return (self.seq, self.kind, self.device, self.point, self.value, self.unit,
                self.quality, self.raw, self.wall_time, self.mono_time, self.boot, self.data)

    def as_dict(self) -> dict[str, Any]:
        """The canonical fields by name (what export writes)."""
        return dict(zip(chain.FIELDS, self.fields(), strict=True))

    def computed_leaf(self) -> bytes:
        """The leaf hash of the content as stored (a tombstone: its kept leaf)."""
        if self.leaf is not None:
            return self.leaf
        return chain.leaf_hash(chain.canonical_bytes(self.fields()))
