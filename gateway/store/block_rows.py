"""The writer's hot loop: a block's rows, each with its leaf prefix, and the chain head after it.

Byte for byte what gateway/store/chain.py specifies (canonical JSON, sha256 leaf, sha256 chain),
built with string formatting and small caches instead of the JSON encoder, because the store must
keep up with SQLite's own insert rate on a Raspberry Pi. What the caches exploit:
  - names repeat: (kind, device, point) and (unit, quality) take a handful of values per site;
  - readings decoded from one reply share both clocks, so the clocks' text is kept from the record
    before (float repr is the costliest step);
  - a raw tuple of a given width and length is packed and written by one prepared struct and
    one prepared %-format.
A record outside the common types (bool, a huge int, NaN, a list raw ...) is encoded by the spec's
own encoder; tests/test_store_block_rows.py checks both paths against chain.canonical_bytes.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Sequence
from itertools import chain as chained
from itertools import repeat, starmap
from operator import add, itemgetter, methodcaller, mod
from typing import Any

from gateway.readings import Reading
from gateway.store import chain
from gateway.store.leaves import (
    CANONICAL,
    MAX_RAW_VALUES,
    NAME_TEXTS,
    RAW_LAYOUTS,
    clock_texts,
    columns,
    names_text,
    names_texts,
)
from gateway.store.records import (
    KIND_READING,
    RAW_WIDTH_FORMATS,
    READING_POINT_KINDS,
    NewRecord,
    from_reading,
    pack_raw,
    reading_data,
)

Entry = NewRecord | Reading

LEAF_PREFIX_SIZE = 4

_READING_DATA_TEXT = {kind: reading_data(kind)[1] for kind in READING_POINT_KINDS}
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # SQLite integers; a bigger int is stored as text

# for _reading_columns()
_READING, _FLOAT, _TUPLE, _STR = {Reading}, {float}, {tuple}, {str}
_NUMBER_TYPES = {float, int}
_ODD_NUMBER_TEXTS = {"nan", "inf", "-inf", "-0.0"}
_WIDTH_BY_BITS = [1] * 9 + [2] * 8 + [4] * 16 + [8] * 32  # bit length of the largest -> width
_PACK_FORMATS = {(width, count): (f">B{count}{RAW_WIDTH_FORMATS[width]}", width)
                 for width in RAW_WIDTH_FORMATS for count in range(1, MAX_RAW_VALUES + 1)}
_digest = methodcaller("digest")
_LEAF_PREFIX = itemgetter(slice(0, LEAF_PREFIX_SIZE))
_isfinite = math.isfinite


def _raw_forms(raw: Any) -> tuple[bytes | None, str] | None:
    """raw packed (records.pack_raw) and its JSON text; None if raw is not a tuple of unsigned
    64-bit ints (the spec's encoder then says what is wrong)."""
    if type(raw) is not tuple:
        return None
    try:
        return pack_raw(raw), RAW_LAYOUTS[len(raw)] % raw  # pack refuses negatives, floats
    except (TypeError, ValueError, IndexError, struct.error):
        return None


def _slow(entry: Entry, seq: int, boot: int) -> tuple[tuple[Any, ...], bytes]:
    """The row fields (without seq, boot and leaf prefix) and canonical bytes, by the spec's own
    encoder (raises ValueError/TypeError for a record without a canonical form)."""
    record = from_reading(entry) if type(entry) is Reading else entry
    kind, device, point, value, unit, quality, raw, wall, mono, _, data_text = record
    canonical = chain.canonical_bytes(record.fields(seq, boot))
    return (kind, device, point, value, unit, quality, pack_raw(raw), wall, mono,
            data_text), canonical


def _reading_columns(readings: Sequence[Reading], first_seq: int, boot: int,
                     head: bytes) -> tuple[list[tuple[Any, ...]], bytes] | None:
    """block_rows() for a block of readings only, column by column with C-level map/zip (the
    per-record Python is only the chain step); None when any reading is off the common types
    (finite floats other than -0.0, 64-bit ints, a known point kind, a tuple of unsigned ints
    as raw, non-zero finite float clocks), so that the general loop takes the block."""
    (devices, points, values, units, raws, walls, monos, qualities,
     point_kinds) = columns(readings, 9)
    if (set(map(type, values)) - _NUMBER_TYPES or set(map(type, walls)) != _FLOAT
            or set(map(type, monos)) != _FLOAT or set(map(type, raws)) != _TUPLE
            or set(map(type, chained(devices, points, units, qualities))) != _STR):
        return None
    value_texts = list(map(repr, values))
    if not _ODD_NUMBER_TEXTS.isdisjoint(value_texts):  # NaN, inf, -0.0: normalised one by one
        return None
    if not (all(map(_isfinite, walls)) and all(map(_isfinite, monos))
            and 0.0 not in walls and 0.0 not in monos):  # -0.0 is == 0.0
        return None
    data_texts = list(map(_READING_DATA_TEXT.get, point_kinds))
    if None in data_texts:
        return None
    try:
        if max(values, default=0) > _INT64_MAX or min(values, default=0) < _INT64_MIN:
            return None
        counts = list(map(len, raws))
        widths = map(_WIDTH_BY_BITS.__getitem__, map(int.bit_length, map(max, raws)))
        packed = list(starmap(struct.pack, map(add, map(_PACK_FORMATS.__getitem__,
                                                        zip(widths, counts, strict=True)), raws)))
        raw_texts = list(map(mod, map(RAW_LAYOUTS.__getitem__, counts), raws))
    except (ValueError, TypeError, KeyError, IndexError, struct.error):
        return None  # an empty raw, a negative or float register, beyond 64 bits, > 125 values
    names = names_texts([KIND_READING] * len(readings), devices, points)
    tails = names_texts(units, qualities)
    seqs = range(first_seq, first_seq + len(readings))
    texts = map(CANONICAL.__mod__,
                zip(seqs, names, value_texts, tails, raw_texts, clock_texts(walls, monos),
                    repeat(boot), data_texts, strict=False))
    leaves = list(map(_digest, map(hashlib.sha256, map(str.encode, texts))))
    sha256 = hashlib.sha256
    for leaf in leaves:
        head = sha256(head + leaf).digest()
    rows = list(zip(seqs, repeat(KIND_READING), devices, points, values, units, qualities,
                    packed, walls, monos, repeat(boot), data_texts, map(_LEAF_PREFIX, leaves)))
    return rows, head


def block_rows(entries: Sequence[Entry], first_seq: int, boot: int,
               head: bytes) -> tuple[list[tuple[Any, ...]], bytes]:
    """The rows of `entries` (records, or readings stored as reading records) numbered from
    first_seq, as writer.INSERT_RECORD takes them, and the chain head after the last one,
    continuing from `head`."""
    if entries and set(map(type, entries)) == _READING:
        columns = _reading_columns(entries, first_seq, boot, head)  # type: ignore[arg-type]
        if columns is not None:
            return columns
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    sha256 = hashlib.sha256
    name_texts, reading_data = NAME_TEXTS, _READING_DATA_TEXT
    boot_text = f",{boot},"
    last_wall = last_mono = None
    clocks_text = ""
    seq = first_seq
    for entry in entries:
        if type(entry) is Reading:
            device, point, value, unit, raw, wall, mono, quality, point_kind = entry
            kind = KIND_READING
            data_text = reading_data.get(point_kind)
            fast = data_text is not None
        else:
            kind, device, point, value, unit, quality, raw, wall, mono, data, data_text = entry
            fast = data_text is not None or data is None
        text = None
        value_type = type(value)
        if value_type is float:
            if value - value == 0:
                value += 0.0  # -0.0 reads back from SQLite as 0.0: hash what reads back
                value_text = repr(value)
            else:
                value_text = None
        elif value_type is int:
            value_text = repr(value) if _INT64_MIN <= value <= _INT64_MAX else None
        elif value is None:
            value_text = "null"
        elif value_type is str:
            value_text = chain._ENCODER.encode(value)
        else:
            value_text = None
        packed = _raw_forms(raw)
        if (fast and value_text is not None and packed is not None
                and type(wall) is float and type(mono) is float):
            if wall != last_wall or mono != last_mono:
                if wall - wall == 0 and mono - mono == 0:
                    wall += 0.0
                    mono += 0.0
                    clocks_text = f"{wall!r},{mono!r}"
                    last_wall, last_mono = wall, mono
                else:
                    clocks_text = ""
                    last_wall = last_mono = None
            else:
                wall, mono = last_wall, last_mono  # equal; and never -0.0
            if clocks_text:
                names = name_texts.get((kind, device, point)) or names_text((kind, device, point))
                tail = name_texts.get((unit, quality)) or names_text((unit, quality))
                text = (f"[{seq},{names}{value_text},{tail}{packed[1]},{clocks_text}{boot_text}"
                        f"{'null' if data_text is None else data_text}]")
        if text is None:  # outside the common types: normalised, then the spec's encoder
            (kind, device, point, value, unit, quality, blob, wall, mono,
             data_text), canonical = _slow(entry, seq, boot)
        else:
            canonical = text.encode()
            blob = packed[0]  # type: ignore[index]  # text is built only when packed is set
        leaf = sha256(canonical).digest()
        head = sha256(head + leaf).digest()
        append((seq, kind, device, point, value, unit, quality, blob, wall, mono, boot, data_text,
                leaf[:LEAF_PREFIX_SIZE]))
        seq += 1
    return rows, head
