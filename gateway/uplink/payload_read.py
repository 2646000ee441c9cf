"""The first half of decoding a payload: its tables and columns read and framed, not yet records.

docs/wire-format.md ("Payload") describes the layout. read_columns() checks everything that does
not need the records themselves (table entries, block sizes, channel numbers, the lengths of the
columns); payload.py turns the result into records, and the receiver's column-wise verifier
(gateway/platform/columnar.py) reads it without making records at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.store import chain
from gateway.uplink.columns import Reader, WireError
from gateway.uplink.recipes import Recipe

# Channel index column: 0 a tombstone (thinned record: seq and leaf only), 1 a verbatim record
# (canonical JSON, for records the columns cannot carry exactly), c + 2 channel c.
TOMBSTONE = 0
VERBATIM = 1
FIRST_CHANNEL = 2


@dataclass(frozen=True, slots=True)
class BlockSignature:
    """A store block as the wire carries it (heads are recomputed by the receiver)."""

    block_no: int
    first_seq: int
    last_seq: int
    signature: bytes


Channel = tuple[tuple[str, str, str, str], Recipe | None, int]  # names, recipe, raw width


@dataclass
class PayloadColumns:
    """A payload's tables and columns as read (per-record columns in seq order of the plain
    records, channel after channel where the wire keeps them so)."""

    first_seq: int
    channels: list[Channel]
    data_table: list[Any]  # parsed JSON
    string_table: list[str]
    quality_table: list[str]
    blocks: list[BlockSignature]
    channel_col: list[int]
    leaves: list[bytes]  # of the tombstones, in seq order
    verbatim: list[str]
    positions: list[list[int]]  # seq offsets, per channel
    plain: int  # records of a channel
    quality_col: list[int]
    data_col: list[int]
    modes: bytes
    ints: bytes
    floats: bytes
    strs: bytes
    lengths: list[int]
    raw_columns: dict[int, list[int]]  # by width: the deltas, channel after channel
    clock_columns: list[list[int]]  # wall, mono, boot: zigzag varints, seq order


def read_columns(raw: bytes, first_seq: int, first_block: int) -> PayloadColumns:
    """Tables and columns of an uncompressed payload; WireError for what is malformed."""
    reader = Reader(raw)
    channel_count = reader.uvarint()
    channels: list[Channel] = []
    for _ in range(channel_count):
        names = (reader.text(), reader.text(), reader.text(), reader.text())
        recipe_text = reader.text()
        recipe = None
        if recipe_text:
            try:
                recipe = Recipe.from_wire(json.loads(recipe_text))
            except json.JSONDecodeError:
                raise WireError(f"channel {names}: recipe is not JSON") from None
        width = reader.take(1)[0]
        if width not in (1, 2, 4, 8):
            raise WireError(f"channel {names}: raw width {width}; expected 1, 2, 4 or 8")
        channels.append((names, recipe, width))
    tables = []
    for what in ("data", "string values", "qualities"):
        entries: list[Any] = [reader.text() for _ in range(reader.uvarint())]
        if what == "data":
            try:
                entries = [json.loads(text) for text in entries]
            except json.JSONDecodeError:
                raise WireError("a data entry is not JSON") from None
        tables.append(entries)
    data_table, string_table, quality_table = tables

    block_count = reader.uvarint()
    if block_count == 0:
        raise WireError("a batch holds at least one block; the payload has none")
    sizes = reader.uvarints(block_count)
    blocks = []
    seq = first_seq
    for index, size in enumerate(sizes):
        if size < 1:
            raise WireError(f"block {first_block + index} holds {size} records")
        blocks.append(BlockSignature(first_block + index, seq, seq + size - 1,
                                     reader.take(chain.SIGNATURE_SIZE)))
        seq += size
    total = seq - first_seq

    channel_col = reader.uvarints(total)
    leaves = [reader.take(chain.HASH_SIZE) for _ in range(channel_col.count(TOMBSTONE))]
    verbatim = [reader.text() for _ in range(channel_col.count(VERBATIM))]
    if channel_col and max(channel_col) - FIRST_CHANNEL >= len(channels):
        offset = next(offset for offset, index in enumerate(channel_col)
                      if index - FIRST_CHANNEL >= len(channels))
        raise WireError(f"record seq {first_seq + offset} names channel "
                        f"{channel_col[offset] - FIRST_CHANNEL}; the batch has {len(channels)}")
    positions = _positions(channel_col, len(channels))
    plain = sum(map(len, positions))
    quality_col = reader.uvarints(plain)
    data_col = reader.uvarints(plain)
    modes = reader.take(plain)
    ints, floats, strs = reader.bytes_(), reader.bytes_(), reader.bytes_()
    lengths = Reader(reader.bytes_(), "raw lengths").uvarints(plain)
    raw_columns = {}
    for width in (1, 2, 4):
        chunk = reader.bytes_()
        if len(chunk) % width:
            raise WireError(f"raw column of width {width} has {len(chunk)} bytes")
        raw_columns[width] = Reader(chunk, f"raw width {width}").planes(len(chunk) // width,
                                                                        width)
    raw_columns[8] = Reader(reader.bytes_(), "raw width 8").uvarints()
    clock_columns = [Reader(reader.bytes_(), what).uvarints() for what in ("wall", "mono", "boot")]
    reader.done()
    return PayloadColumns(first_seq, channels, data_table, string_table, quality_table, blocks,
                          channel_col, leaves, verbatim, positions, plain, quality_col, data_col,
                          modes, ints, floats, strs, lengths, raw_columns, clock_columns)


def _positions(channel_col: list[int], channels: int) -> list[list[int]]:
    """The seq offsets of each channel's records, in seq order, without a step per record: a
    batch whose channels take turns in a fixed order (every minute's readings alike) is
    periodic; any other is sorted by channel (a stable sort keeps each channel in seq order)."""
    total = len(channel_col)
    first = channel_col[:channels]
    if (channels and total >= channels and channel_col[channels:] == channel_col[:-channels]
            and sorted(first) == list(range(FIRST_CHANNEL, FIRST_CHANNEL + channels))):
        periodic: list[list[int]] = [[] for _ in range(channels)]
        for start, index in enumerate(first):
            periodic[index - FIRST_CHANNEL] = list(range(start, total, channels))
        return periodic
    order = sorted(range(total), key=channel_col.__getitem__)
    start = channel_col.count(TOMBSTONE) + channel_col.count(VERBATIM)
    positions = []
    for index in range(FIRST_CHANNEL, FIRST_CHANNEL + channels):
        count = channel_col.count(index)
        positions.append(order[start:start + count])
        start += count
    return positions
