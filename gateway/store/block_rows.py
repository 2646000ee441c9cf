"""The writer's hot path: a block's rows, each with its leaf prefix, and the chain head after it.

Byte for byte what gateway/store/chain.py specifies (canonical JSON, sha256 leaf, sha256 chain),
built column by column with C-level map/zip instead of the JSON encoder record by record, because
the store must keep up with SQLite's own insert rate on a Raspberry Pi. A block of readings of
the common types takes _reading_columns(); anything else goes as records through
leaves.canonical_leaves(), and what that cannot take through the spec's own encoder.
tests/test_store_block_rows.py checks every path against chain.canonical_bytes.
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
    RAW_LAYOUTS,
    canonical_leaves,
    clock_texts,
    columns,
    names_texts,
)
from gateway.store.records import (
    KIND_READING,
    RAW_WIDTH_FORMATS,
    READING_CLOCK_STATES,
    READING_POINT_KINDS,
    NewRecord,
    from_reading,
    reading_data,
)

Entry = NewRecord | Reading

LEAF_PREFIX_SIZE = 4

_READING_DATA_TEXT = {(kind, clock): reading_data(kind, clock)[1]
                      for kind in READING_POINT_KINDS for clock in READING_CLOCK_STATES}
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


def _reading_columns(readings: Sequence[Reading], first_seq: int, boot: int,
                     head: bytes) -> tuple[list[tuple[Any, ...]], bytes] | None:
    """block_rows() for a block of readings only, column by column with C-level map/zip (the
    per-record Python is only the chain step); None when any reading is off the common types
    (finite floats other than -0.0, 64-bit ints, a known point kind, a tuple of unsigned ints
    as raw, non-zero finite float clocks), so that the general loop takes the block."""
    (devices, points, values, units, raws, walls, monos, qualities,
     point_kinds, clocks) = columns(readings, 10)
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
    data_texts = list(map(_READING_DATA_TEXT.get, zip(point_kinds, clocks, strict=True)))
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
    continuing from `head`. Raises ValueError/TypeError for a record without a canonical form."""
    if entries and set(map(type, entries)) == _READING:
        columns = _reading_columns(entries, first_seq, boot, head)  # type: ignore[arg-type]
        if columns is not None:
            return columns
    # records, or readings mixed with them (accounting groups, the store's own events): as
    # records (from_reading normalises a reading), hashed together, else one by one by the spec
    records = [from_reading(e) if type(e) is Reading else e for e in entries]
    fields = [record.fields(seq, boot) for seq, record in enumerate(records, first_seq)]
    leaves = canonical_leaves(fields)
    if leaves is None:
        leaves = [chain.leaf_hash(chain.canonical_bytes(f)) for f in fields]
    rows = []
    for seq, record, leaf in zip(range(first_seq, first_seq + len(records)), records, leaves,
                                 strict=True):
        head = chain.chain_step(head, leaf)
        rows.append(record.row(seq, boot, leaf[:LEAF_PREFIX_SIZE]))
    return rows, head
