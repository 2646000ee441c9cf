"""A batch's leaves and records-table rows straight from its payload's columns, with no record
object made per record: the receiver's common path (docs/platform.md, "Column by column").

The leaf of a record is sha256 of its canonical text (gateway/store/chain.py); that text is
"[seq," + a middle + "," + "wall,mono" + "," + boot + "," + data + "]", where the middle (names,
value, unit and quality, raw) depends only on the channel, the raw and the quality, which repeat:
it is formatted once per distinct (raw, quality) of a channel, a recipe's value computed once per
distinct raw, and everything else is C-level map/zip/accumulate over whole columns. The raws of
a channel whose raw length does not change are cumulative sums of the deltas, position by
position.

verified_columns() gives None for anything off that path (a tombstone, a verbatim record, a
channel whose raw length changes, and anything the record decoder would refuse or that has no
canonical text): the receiver then makes the records (gateway/uplink/payload.py) and checks them
as before, which also names what is wrong. tests/test_receiver_columnar.py checks both paths give
the same leaves and rows.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterator, Sequence
from itertools import accumulate, compress, repeat, starmap
from operator import add, and_, getitem, lt, methodcaller, not_
from typing import Any

from gateway.store.leaves import (
    RAW_LAYOUTS,
    _scalar_text,
    clock_texts,
    names_text,
    value_texts,
)
from gateway.store.records import pack_raw
from gateway.uplink.columns import (
    Reader,
    float_key,
    key_float,
    key_floats,
    unzigzag,
    unzigzags,
)
from gateway.uplink.payload import (
    COMPACT_JSON,
    Record,
    payload_records,
)
from gateway.uplink.payload_read import PayloadColumns
from gateway.uplink.wire import Batch, Envelope, envelope_batch, read_envelope

BY_RECIPE, NONE, INT, FLOAT, STR = range(5)  # value modes (payload.py)
# A records row without its leaf (NULL: only a thinned record has one): one value less to bind.
INSERT_PLAIN = ("INSERT INTO records (gateway, seq, kind, device, point, value, unit, quality, "
                "raw, wall_time, mono_time, boot, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?)")
TEXT = "[%d,%s,%s,%d,%s]"  # seq, middle, "wall,mono", boot, data
MIDDLE = "%s%s%s%s"  # names (each with its comma), value, "," unit and quality, raw
_digest = methodcaller("digest")
_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")


class Verified:
    """Leaves and rows (INSERT_PLAIN's columns) of every record of a batch, in seq order."""

    def __init__(self, leaves: list[bytes], rows: list[tuple[Any, ...]]) -> None:
        self.leaves, self.rows = leaves, rows


class LazyRecords(Sequence[Record]):
    """A batch's records, made from its columns only when something asks (a resend over
    stored seqs compared record by record): verified_columns() needs none."""

    def __init__(self, columns: PayloadColumns) -> None:
        self._columns = columns
        self._records: list[Record] | None = None

    def _all(self) -> list[Record]:
        if self._records is None:
            self._records = payload_records(self._columns)
        return self._records

    def __len__(self) -> int:
        return len(self._columns.channel_col)

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[Record]:
        return iter(self._all())


def decode_batch(envelope: Envelope) -> tuple[Batch, Verified | None]:
    """The batch, with every leaf and row computed from the columns where they allow (then its
    records are made only if asked for); WireError if it is malformed."""
    columns = read_envelope(envelope)
    verified = verified_columns(columns, envelope.gateway)
    records = LazyRecords(columns) if verified else payload_records(columns)
    return envelope_batch(envelope, columns, records), verified


def verified_columns(columns: PayloadColumns, gateway: str) -> Verified | None:
    """Every record's leaf and records-table row, or None (see the module docstring)."""
    try:
        return _verified(columns, gateway)
    except Exception:  # whatever fails here, the record path refuses and names (payload.py)
        return None


def _verified(columns: PayloadColumns, gateway: str) -> Verified | None:
    total = len(columns.channel_col)
    if columns.plain != total or not total:
        return None  # tombstones or verbatim records
    seq_order = _SeqOrder(total)
    data_texts = ["null"] + [COMPACT_JSON.encode(data) for data in columns.data_table]
    data_rows: list[str | None] = [None, *data_texts[1:]]
    quality_table = columns.quality_table
    cursor = {width: 0 for width in columns.raw_columns}
    ints, floats, strs = (_Numbers(columns.ints), _Numbers(columns.floats),
                          _Numbers(columns.strs))
    row = 0
    for (names, recipe, width), offsets in zip(columns.channels, columns.positions,
                                               strict=True):
        count = len(offsets)
        if not count:
            continue
        end = row + count
        raws = _raws(columns, width, row, end, cursor)
        qualities = columns.quality_col[row:end]
        data_col = columns.data_col[row:end]
        if raws is None or max(qualities) >= len(quality_table) or max(data_col) >= len(
                data_texts):
            return None
        modes = columns.modes[row:end]
        if recipe is not None and modes.count(BY_RECIPE) == count:
            channel = _by_recipe(names, recipe, raws, qualities, quality_table)
        else:
            channel = _one_by_one(names, recipe, raws, qualities, quality_table, modes,
                                  (ints, floats, strs), columns.string_table)
        if channel is None:
            return None
        middles, values, packs = channel
        kind, device, point, unit = names
        seq_order.put(offsets, middles, values, packs, map(quality_table.__getitem__, qualities),
                      map(data_texts.__getitem__, data_col), map(data_rows.__getitem__, data_col),
                      (kind, device, point, unit))
        row = end
    if (any(cursor[width] != len(values) for width, values in columns.raw_columns.items())
            or not (ints.at_end() and floats.at_end() and strs.at_end())):
        return None
    clocks = _clocks(columns.clock_columns, total)
    if clocks is None:
        return None
    walls, monos, boots = clocks
    seqs = range(columns.first_seq, columns.first_seq + total)
    texts = map(TEXT.__mod__, zip(seqs, seq_order.middles, clock_texts(walls, monos), boots,
                                  seq_order.data_texts, strict=True))
    leaves = list(map(_digest, map(hashlib.sha256, map(str.encode, texts))))
    order = seq_order
    rows = list(zip(repeat(gateway), seqs, order.kinds, order.devices, order.points,
                    order.values, order.units, order.qualities, order.packs, walls, monos, boots,
                    order.data_rows))
    return Verified(leaves, rows)


class _SeqOrder:
    """Per-record columns in seq order, filled channel by channel."""

    def __init__(self, total: int) -> None:
        self.middles: list[Any] = [None] * total
        self.values: list[Any] = [None] * total
        self.packs: list[Any] = [None] * total
        self.qualities: list[Any] = [None] * total
        self.data_texts: list[Any] = [None] * total
        self.data_rows: list[Any] = [None] * total
        self.kinds: list[Any] = [None] * total
        self.devices: list[Any] = [None] * total
        self.points: list[Any] = [None] * total
        self.units: list[Any] = [None] * total

    def put(self, offsets: list[int], middles: list[str], values: list[Any],
            packs: list[Any], qualities: Iterator[str], data_texts: Iterator[str],
            data_rows: Iterator[str | None], names: tuple[str, str, str, str]) -> None:
        count = len(offsets)
        columns = (self.middles, self.values, self.packs, self.qualities, self.data_texts,
                   self.data_rows)
        given = (middles, values, packs, list(qualities), list(data_texts), list(data_rows))
        named = (self.kinds, self.devices, self.points, self.units)
        start = offsets[0]
        step = offsets[1] - start if count > 1 else 1
        if offsets == list(range(start, start + step * count, step)):  # e.g. every 16th
            where = slice(start, start + step * (count - 1) + 1, step)
            for column, values_ in zip(columns, given, strict=True):
                column[where] = values_
            for column, name in zip(named, names, strict=True):
                column[where] = [name] * count
            return
        for column, values_ in zip(columns, given, strict=True):
            for offset, value in zip(offsets, values_, strict=True):
                column[offset] = value
        for column, name in zip(named, names, strict=True):
            for offset in offsets:
                column[offset] = name


def _raws(columns: PayloadColumns, width: int, row: int, end: int,
          cursor: dict[int, int]) -> list[tuple[int, ...]] | None:
    """Each record's raw of one channel (all of one length), from its deltas; None if the
    lengths change, or the column is short, or a value is no unsigned 64-bit number."""
    lengths = columns.lengths[row:end]
    count, size = end - row, lengths[0]
    if lengths.count(size) != count:
        return None
    start = cursor[width]
    deltas = columns.raw_columns[width][start:start + count * size]
    if len(deltas) != count * size:
        return None
    cursor[width] = start + count * size
    if not size:
        return [()] * count
    if width == 8:
        deltas = unzigzags(deltas)
        positions = [list(accumulate(deltas[index::size])) for index in range(size)]
        if min(map(min, positions)) < 0 or max(map(max, positions)) >= 1 << 64:
            return None
    else:
        mask = repeat((1 << (8 * width)) - 1)
        positions = [list(map(and_, accumulate(deltas[index::size]), mask))
                     for index in range(size)]
    return list(zip(*positions, strict=True))


def _by_recipe(names: tuple[str, str, str, str], recipe: Any, raws: list[tuple[int, ...]],
               qualities: list[int], quality_table: list[str]
               ) -> tuple[list[str], list[Any], list[Any]] | None:
    """Middles, values and packed raws of a channel whose every value is by its recipe: each
    computed once per distinct raw, and column-wise over those."""
    kind, device, point, unit = names
    distinct = list(dict.fromkeys(raws))
    values = recipe.values(distinct)
    value_json = value_texts(values)
    if value_json is None:
        return None
    raw_json = list(map(RAW_LAYOUTS[len(distinct[0])].__mod__, distinct))
    head = names_text((kind, device, point))
    packs = dict(zip(distinct, _packed(distinct), strict=True))
    by_raw = dict(zip(distinct, values, strict=True))
    if qualities.count(qualities[0]) == len(qualities):  # one quality (the usual)
        tail = "," + names_text((unit, quality_table[qualities[0]]))
        middles = dict(zip(distinct, map(MIDDLE.__mod__, zip(
            repeat(head), value_json, repeat(tail), raw_json)), strict=True))
        by_record = list(map(middles.__getitem__, raws))
    else:
        fronts = dict(zip(distinct, zip(value_json, raw_json, strict=True), strict=True))
        keys = list(zip(raws, qualities, strict=True))
        middles = {}
        for key in dict.fromkeys(keys):
            value_text, raw_text = fronts[key[0]]
            middles[key] = (head + value_text + "," + names_text((unit, quality_table[key[1]]))
                            + raw_text)
        by_record = list(map(middles.__getitem__, keys))
    return (by_record, list(map(by_raw.__getitem__, raws)), list(map(packs.__getitem__, raws)))


def _packed(raws: list[tuple[int, ...]]) -> list[bytes | None]:
    """pack_raw() of each raw (all of one length), column-wise for bytes and registers."""
    size = len(raws[0])
    if not size:
        return [None] * len(raws)
    tops = list(map(max, raws))
    if max(tops) >= 0x10000:
        return list(map(pack_raw, raws))
    if max(tops) < 0x100:
        return list(map(bytes, map(add, repeat((1,)), raws)))  # width tag 1, then the bytes
    small = list(map(lt, tops, repeat(0x100)))
    as_bytes = map(bytes, map(add, repeat((1,)), compress(raws, small)))
    as_registers = starmap(struct.Struct(f">B{size}H").pack,
                           map(add, repeat((2,)), compress(raws, map(not_, small))))
    # each in turn from the one its raw's width says (False 0: registers, True 1: bytes)
    return list(map(next, map(getitem, repeat((as_registers, as_bytes)), small)))


def _one_by_one(names: tuple[str, str, str, str], recipe: Any, raws: list[tuple[int, ...]],
                qualities: list[int], quality_table: list[str], modes: bytes,
                numbers: tuple[_Numbers, _Numbers, _Numbers], string_table: list[str]
                ) -> tuple[list[str], list[Any], list[Any]] | None:
    """The same for a channel with values of other modes (as payload.py reads them)."""
    kind, device, point, unit = names
    head = names_text((kind, device, point))
    layout = RAW_LAYOUTS[len(raws[0])]
    ints, floats, strs = numbers
    last_int = last_float = 0
    by_raw: dict[tuple[int, ...], Any] = {}
    middles, values, packs = [], [], []
    for raw, quality, mode in zip(raws, qualities, modes, strict=True):
        if mode == BY_RECIPE:
            if recipe is None:
                return None
            value = by_raw.get(raw, by_raw)
            if value is by_raw:
                value = by_raw[raw] = recipe.value(list(raw))
        elif mode == NONE:
            value = None
        elif mode == INT:
            value = last_int = last_int + unzigzag(ints.next())
        elif mode == FLOAT:
            last_float += unzigzag(floats.next())
            value = key_float(last_float)
        elif mode == STR:
            value = string_table[strs.next()]
        else:
            return None
        value_text = _scalar_text(value)
        if value_text is None:
            return None
        middles.append(head + value_text + "," + names_text((unit, quality_table[quality]))
                       + layout % raw)
        values.append(value)
        packs.append(pack_raw(raw))
    return middles, values, packs


class _Numbers(Reader):
    """A varint column read value by value (payload.py's ints, floats, strs)."""

    def next(self) -> int:
        return self.uvarint()

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def _clocks(clock_columns: list[list[int]], total: int
            ) -> tuple[list[float], list[float], list[int]] | None:
    """Wall times, monotonic times and boots in seq order (as payload.py reads them); None if
    a column has another length or a time is not finite."""
    walls_z, monos_z, boots_z = clock_columns
    if not len(walls_z) == len(monos_z) == len(boots_z) == total:
        return None
    walls = key_floats(list(accumulate(unzigzags(walls_z))))
    residuals = unzigzags(monos_z)
    monos = []
    append = monos.append
    wall = mono = 0.0
    pack_double, unpack_key = _DOUBLE.pack, _INT64.unpack
    pack_key, unpack_double = _INT64.pack, _DOUBLE.unpack
    for new_wall, residual in zip(walls, residuals, strict=True):
        guess = mono + (new_wall - wall)
        if residual == 0:
            mono = guess
        else:
            key = unpack_key(pack_double(guess))[0]
            if key < 0 or key + residual < 0:  # (negative floats: the general way)
                mono = key_float(float_key(guess) + residual)
            else:
                mono = unpack_double(pack_key(key + residual))[0]
        wall = new_wall
        append(mono)
    if not (all(map(math.isfinite, walls)) and all(map(math.isfinite, monos))):
        return None
    return walls, monos, list(accumulate(unzigzags(boots_z)))
