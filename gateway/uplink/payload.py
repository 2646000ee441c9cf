"""The uplink wire format's payload codec (v1): a batch's blocks and records as columns.

docs/wire-format.md ("Payload") is the full description: a channel table with each channel's
recipe (gateway/uplink/recipes.py) and raw width, dictionaries of data objects, string values
and qualities, the block sizes and signatures, then one column per field, delta-coded
(gateway/uplink/columns.py); tombstones bring their leaf, odd records travel verbatim as JSON.
The envelope around it (header, signature, compression) is gateway/uplink/wire.py. Decoding
reads the tables and columns first (gateway/uplink/payload_read.py, read_payload), then makes
the records (payload_records); the receiver mostly skips the second step
(gateway/platform/columnar.py).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate, islice
from math import isfinite
from typing import Any

from gateway.store import chain
from gateway.uplink.columns import (
    Reader,
    WireError,
    float_key,
    float_keys,
    key_float,
    key_floats,
    planes,
    put_bytes,
    put_text,
    put_uvarint,
    unzigzag,
    unzigzags,
    uvarints,
    zigzag,
)
from gateway.uplink.payload_read import (
    FIRST_CHANNEL,
    TOMBSTONE,
    VERBATIM,
    BlockSignature,
    PayloadColumns,
    read_columns,
)
from gateway.uplink.recipes import Recipe, same_value

MAX_INT64 = 2**63 - 1  # seqs and block numbers are SQLite INTEGERs

# Value modes
BY_RECIPE, NONE, INT, FLOAT, STR = range(5)
_RAW_WIDTHS = ((1 << 8, 1), (1 << 16, 2), (1 << 32, 4))
_DOUBLE = struct.Struct("<d")
_INT64 = struct.Struct("<q")
_UNKNOWN = object()
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True,
                                allow_nan=False)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A record thinned at the gateway: its content is gone, its leaf hash stays in the chain."""

    seq: int
    leaf: bytes


Record = tuple[Any, ...] | Tombstone  # 12 canonical fields (chain.FIELDS order), or a tombstone


def _is_plain(fields: tuple[Any, ...]) -> bool:
    """Whether the columns carry this record exactly (else it goes verbatim)."""
    _, kind, device, point, value, unit, quality, raw, wall, mono, boot, data = fields
    return (type(kind) is str and type(device) is str and type(point) is str
            and type(unit) is str and type(quality) is str and type(wall) is float
            and type(mono) is float and isfinite(wall) and isfinite(mono)
            and type(boot) is int and boot >= 0
            and (value is None or type(value) in (int, float, str))
            and (data is None or type(data) is dict) and type(raw) is list
            and all(type(x) is int and 0 <= x < 1 << 64 for x in raw))


class _Dictionary:
    def __init__(self) -> None:
        self.index: dict[Any, int] = {}

    def add(self, key: Any) -> int:
        found = self.index.get(key)
        if found is None:
            found = self.index[key] = len(self.index)
        return found


def encode_payload(blocks: Sequence[BlockSignature], records: Sequence[Record],
                   recipes: dict[tuple[str, str], Recipe]) -> bytes:
    """The uncompressed columns of a batch (docs/wire-format.md, "Payload")."""
    first_seq = blocks[0].first_seq
    if len(records) != blocks[-1].last_seq - first_seq + 1:
        raise ValueError(f"blocks cover seq {first_seq}..{blocks[-1].last_seq}; got "
                         f"{len(records)} records")
    channels = _Dictionary()
    channel_rows: list[list[tuple[Any, ...]]] = []
    data_dict, strings, qualities = _Dictionary(), _Dictionary(), _Dictionary()
    channel_col: list[int] = []
    leaves: list[bytes] = []
    verbatim: list[str] = []
    timed: list[tuple[Any, ...]] = []  # plain records in seq order, for the clock columns
    for offset, record in enumerate(records):
        if isinstance(record, Tombstone):
            if record.seq != first_seq + offset:
                raise ValueError(f"record {offset} of the batch is seq {record.seq}; expected "
                                 f"{first_seq + offset}")
            channel_col.append(TOMBSTONE)
            leaves.append(record.leaf)
            continue
        if record[0] != first_seq + offset:
            raise ValueError(f"record {offset} of the batch is seq {record[0]}; expected "
                             f"{first_seq + offset}")
        if not _is_plain(record):
            channel_col.append(VERBATIM)
            verbatim.append(COMPACT_JSON.encode(list(record)))
            continue
        key = (record[1], record[2], record[3], record[5])
        channel = channels.add(key)
        if channel == len(channel_rows):
            channel_rows.append([])
        channel_rows[channel].append(record)
        channel_col.append(channel + FIRST_CHANNEL)
        timed.append(record)

    out = bytearray()
    # Channel table, with each channel's recipe (made concrete for this batch) and raw width.
    put_uvarint(out, len(channel_rows))
    channel_recipes: list[Recipe | None] = []
    for (kind, device, point, unit), rows in zip(channels.index, channel_rows, strict=True):
        recipe = recipes.get((device, point))
        if recipe is not None and recipe.decimals_from is not None:
            recipe = next((found for row in rows[:8]
                           if (found := recipe.with_decimals_for(row[7], row[4])) is not None),
                          None)
        channel_recipes.append(recipe)
        for text in (kind, device, point, unit):
            put_text(out, text)
        put_text(out, "" if recipe is None else COMPACT_JSON.encode(recipe.to_wire()))
        top = max((max(row[7]) for row in rows if row[7]), default=0)
        out.append(next((width for limit, width in _RAW_WIDTHS if top < limit), 8))

    # Per-channel columns, channel after channel.
    quality_col: list[int] = []
    data_col: list[int] = []
    modes = bytearray()
    data_texts: dict[int, str] = {}  # by id(): records often share one data object
    ints: list[int] = []
    floats: list[int] = []
    strs: list[int] = []
    raw_lengths: list[int] = []
    raw_by_width: dict[int, list[int]] = {1: [], 2: [], 4: [], 8: []}
    for channel, rows in enumerate(channel_rows):
        recipe = channel_recipes[channel]
        width = out_width = _width_of(rows)
        mask = (1 << (8 * width)) - 1
        target = raw_by_width[out_width]
        previous: list[int] = []
        last_int, last_float = 0, 0
        for row in rows:
            quality_col.append(qualities.add(row[6]))
            data = row[11]
            if data is None:
                data_col.append(0)
            else:
                text = data_texts.get(id(data))
                if text is None:
                    text = data_texts[id(data)] = COMPACT_JSON.encode(data)
                data_col.append(data_dict.add(text) + 1)
            value, raw = row[4], row[7]
            if recipe is not None and recipe.gives(raw, value):
                modes.append(BY_RECIPE)
            elif value is None:
                modes.append(NONE)
            elif type(value) is int:
                modes.append(INT)
                ints.append(zigzag(value - last_int))
                last_int = value
            elif type(value) is float:
                modes.append(FLOAT)
                value_key = float_key(value)
                floats.append(zigzag(value_key - last_float))
                last_float = value_key
            else:
                modes.append(STR)
                strs.append(strings.add(value))
            raw_lengths.append(len(raw))
            for position, word in enumerate(raw):
                before = previous[position] if position < len(previous) else 0
                target.append((word - before) & mask if width < 8 else zigzag(word - before))
            previous = raw

    for table in (data_dict, strings, qualities):
        put_uvarint(out, len(table.index))
        for text in table.index:
            put_text(out, text)

    # Blocks: their sizes and signatures.
    put_uvarint(out, len(blocks))
    out += uvarints(block.last_seq - block.first_seq + 1 for block in blocks)
    for block in blocks:
        if len(block.signature) != chain.SIGNATURE_SIZE:
            raise ValueError(f"block {block.block_no} signature is {len(block.signature)} bytes")
        out += block.signature

    # Record columns.
    out += uvarints(channel_col)
    for leaf in leaves:
        out += leaf
    for text in verbatim:
        put_text(out, text)
    out += uvarints(quality_col)
    out += uvarints(data_col)
    out += modes
    for column in (ints, floats, strs, raw_lengths):
        put_bytes(out, uvarints(column))
    for width in (1, 2, 4):
        put_bytes(out, planes(raw_by_width[width], width))
    put_bytes(out, uvarints(raw_by_width[8]))

    # Clocks and boot, in seq order: each record's wall time against the previous one's, its
    # monotonic time against the previous one's plus the same wall-time step.
    walls = [row[8] for row in timed]
    monos = [row[9] for row in timed]
    wall_keys = float_keys(walls)
    mono_keys = float_keys(monos)
    predicted = float_keys([mono + (wall - last_wall) for mono, wall, last_wall
                            in zip([0.0, *monos[:-1]], walls, [0.0, *walls[:-1]], strict=True)])
    put_bytes(out, uvarints(zigzag(key - last) for last, key
                            in zip([0, *wall_keys[:-1]], wall_keys, strict=True)))
    put_bytes(out, uvarints(zigzag(key - guess) for key, guess
                            in zip(mono_keys, predicted, strict=True)))
    boots = [row[10] for row in timed]
    put_bytes(out, uvarints(zigzag(boot - last) for last, boot
                            in zip([0, *boots[:-1]], boots, strict=True)))
    return bytes(out)


def _width_of(rows: list[tuple[Any, ...]]) -> int:
    top = max((max(row[7]) for row in rows if row[7]), default=0)
    return next((width for limit, width in _RAW_WIDTHS if top < limit), 8)


def decode_payload(raw: bytes, first_seq: int,
                   first_block: int) -> tuple[list[BlockSignature], list[Record]]:
    """Blocks and records (12-field tuples, in seq order) from the uncompressed columns;
    WireError for anything malformed (numbers past 64 bits included). Records of a channel
    whose raw did not change share one raw list: the records are read-only."""
    columns = read_payload(raw, first_seq, first_block)
    return columns.blocks, payload_records(columns)


def read_payload(raw: bytes, first_seq: int, first_block: int) -> PayloadColumns:
    """The tables and columns of an uncompressed payload, framed and checked as far as they
    can be without the records (payload_read.py); WireError for anything malformed."""
    if not (0 <= first_seq <= MAX_INT64 and 0 <= first_block <= MAX_INT64):
        raise WireError(f"first seq {first_seq} and first block {first_block}: expected "
                        f"0..{MAX_INT64}")
    columns = _in_range(read_columns, raw, first_seq, first_block)
    blocks = columns.blocks
    if blocks[-1].last_seq > MAX_INT64 or blocks[-1].block_no > MAX_INT64:
        raise WireError(f"payload runs to seq {blocks[-1].last_seq}, block "
                        f"{blocks[-1].block_no}: expected at most {MAX_INT64}")
    return columns


def payload_records(columns: PayloadColumns) -> list[Record]:
    """The records (12-field tuples and tombstones, in seq order) of read_payload()'s columns;
    WireError for anything malformed. Records of a channel whose raw did not change share one
    raw list: the records are read-only."""
    return _in_range(_records_of, columns)


def _in_range(work: Callable[..., Any], *args: Any) -> Any:
    """work(*args), with a number no column can hold (OverflowError, struct.error, ValueError)
    reported as a WireError."""
    try:
        return work(*args)
    except (OverflowError, struct.error, ValueError) as exc:
        if isinstance(exc, WireError):
            raise
        raise WireError(f"the payload holds a value out of range: {type(exc).__name__}: "
                        f"{exc}") from None


def _records_of(columns: PayloadColumns) -> list[Record]:
    """The records (in seq order) of a payload's columns; WireError for what is malformed."""
    first_seq, channels, positions = columns.first_seq, columns.channels, columns.positions
    total, plain = len(columns.channel_col), columns.plain
    data_table, string_table = columns.data_table, columns.string_table
    quality_table, quality_col, data_col = (columns.quality_table, columns.quality_col,
                                            columns.data_col)
    modes, lengths = columns.modes, columns.lengths
    ints = Reader(columns.ints, "int values")
    floats = Reader(columns.floats, "float values")
    strs = Reader(columns.strs, "string values")
    raw_columns = {width: iter(values) for width, values in columns.raw_columns.items()}
    clock_columns = columns.clock_columns
    leaves, verbatim, channel_col = columns.leaves, columns.verbatim, columns.channel_col
    records: list[Any] = [None] * total
    row = 0
    try:
        for (names, recipe, width), offsets in zip(channels, positions, strict=True):
            kind, device, point, unit = names
            source = raw_columns[width]
            mask = (1 << (8 * width)) - 1
            previous: list[int] = []
            last_int = last_float = 0
            by_raw: dict[tuple[int, ...], Any] = {}  # a recipe's value is a function of raw
            for offset in offsets:
                size = lengths[row]
                deltas = list(islice(source, size))
                if len(deltas) != size:
                    raise WireError(f"seq {first_seq + offset}: the raw column of width {width} "
                                    "ends early")
                if width == 8:
                    deltas = unzigzags(deltas)
                    mask = -1  # no wrapping: the values are exact
                if len(previous) == size:
                    raw = previous if not any(deltas) else [
                        (before + delta) & mask
                        for before, delta in zip(previous, deltas, strict=True)]
                else:
                    padded = previous[:size] + [0] * (size - len(previous))
                    raw = [(before + delta) & mask
                           for before, delta in zip(padded, deltas, strict=True)]
                previous = raw
                mode = modes[row]
                if mode == BY_RECIPE:
                    raw_key = tuple(raw)
                    value = by_raw.get(raw_key, _UNKNOWN)
                    if value is _UNKNOWN:
                        if recipe is None:
                            raise WireError(f"seq {first_seq + offset}: value by recipe, but "
                                            f"channel {names} has none")
                        try:
                            value = by_raw[raw_key] = recipe.value(raw)
                        except Exception as exc:
                            raise WireError(f"seq {first_seq + offset}: the recipe of {names} "
                                            f"does not apply to raw {raw}: {exc}") from None
                elif mode == NONE:
                    value = None
                elif mode == INT:
                    value = last_int = last_int + unzigzag(ints.uvarint())
                elif mode == FLOAT:
                    last_float += unzigzag(floats.uvarint())
                    value = key_float(last_float)
                elif mode == STR:
                    value = string_table[strs.uvarint()]
                else:
                    raise WireError(f"seq {first_seq + offset}: value mode {mode}; expected 0..4")
                data_index = data_col[row]
                records[offset] = [first_seq + offset, kind, device, point, value, unit,
                                   quality_table[quality_col[row]], raw, None, None, None,
                                   None if data_index == 0 else data_table[data_index - 1]]
                row += 1
    except (IndexError, StopIteration):
        raise WireError("a column is shorter than its records, or names an entry its table "
                        "lacks") from None

    walls, monos, boots = clock_columns
    monos = unzigzags(monos)
    if not len(walls) == len(monos) == len(boots) == plain:
        raise WireError(f"clock columns hold {len(walls)}, {len(monos)}, {len(boots)} values; "
                        f"expected {plain}")
    wall_keys = list(accumulate(unzigzags(walls)))
    wall_list = key_floats(wall_keys)
    boot_list = list(accumulate(unzigzags(boots)))
    leaf_iter, verbatim_iter = iter(leaves), iter(verbatim)
    wall = mono = 0.0
    clock = 0
    pack_double, unpack_key = _DOUBLE.pack, _INT64.unpack
    pack_key, unpack_double = _INT64.pack, _DOUBLE.unpack
    for offset, index in enumerate(channel_col):
        if index == TOMBSTONE:
            records[offset] = Tombstone(first_seq + offset, next(leaf_iter))
        elif index == VERBATIM:
            records[offset] = _verbatim(next(verbatim_iter), first_seq + offset)
        else:
            new_wall = wall_list[clock]
            guess = mono + (new_wall - wall)
            residual = monos[clock]
            if residual == 0:
                mono = guess
            else:
                key = unpack_key(pack_double(guess))[0]
                if key < 0 or key + residual < 0:  # (negative floats: the general way)
                    mono = key_float(float_key(guess) + residual)
                else:
                    mono = unpack_double(pack_key(key + residual))[0]
            wall = new_wall
            fields = records[offset]
            fields[8], fields[9], fields[10] = wall, mono, boot_list[clock]
            records[offset] = tuple(fields)
            clock += 1
    for text in ints, floats, strs:
        text.done()
    for width, rest in raw_columns.items():
        if next(rest, None) is not None:
            raise WireError(f"raw column of width {width} has values left over")
    return records


def _verbatim(text: str, seq: int) -> tuple[Any, ...]:
    try:
        fields = json.loads(text)
    except json.JSONDecodeError:
        raise WireError(f"seq {seq}: verbatim record is not JSON") from None
    if not isinstance(fields, list) or len(fields) != len(chain.FIELDS) or fields[0] != seq:
        raise WireError(f"seq {seq}: verbatim record is not the {len(chain.FIELDS)} fields of "
                        f"seq {seq}")
    return tuple(fields)


def records_equal(a: Record, b: Record) -> bool:
    """Whether two records are the same (fields compared as the canonical bytes would)."""
    if isinstance(a, Tombstone) or isinstance(b, Tombstone):
        return a == b
    return len(a) == len(b) and all(same_value(x, y) if isinstance(x, float) else x == y
                                    for x, y in zip(a, b, strict=True))
