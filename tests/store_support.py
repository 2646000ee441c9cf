"""Test stores: deterministic synthetic readings, and reading a store back (records, verify).

Reading number i is a pure function of i (synthetic_reading) and carries i in its raw registers,
so index_of(record) tells which reading a stored record was made from and matches(record) checks
every field of it (the crash tests' writer process, tests/ingest_proc.py, writes these).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.readings import Reading
from gateway.store.keys import load_private_key
from gateway.store.records import KIND_READING, ROW_COLUMNS, Record
from gateway.store.schema import DB_FILE, open_reader
from gateway.store.verify import VerifyResult, verify_store

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
    return index_from_raw(record.raw, record.seq)


def index_from_raw(raw: list[int], seq: int) -> int:
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


def stored(state_dir: Path, kind: str | None = None) -> list[Record]:
    """Every record (or every record of one kind) of the store in state_dir, in seq order."""
    conn = open_reader(Path(state_dir) / DB_FILE)
    try:
        sql = f"SELECT {ROW_COLUMNS} FROM records"
        rows = conn.execute(sql + (" WHERE kind = ?" if kind else "") + " ORDER BY seq",
                            (kind,) if kind else ())
        return [Record.from_row(row) for row in rows]
    finally:
        conn.close()


def verified(state_dir: Path) -> VerifyResult:
    """verify's verdict on the store in state_dir, checked with the key beside it."""
    conn = open_reader(Path(state_dir) / DB_FILE)
    try:
        return verify_store(conn, load_private_key(state_dir).public_key())
    finally:
        conn.close()
