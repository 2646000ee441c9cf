"""The writer's hot loop (gateway/store/block_rows.py) gives, record for record, the leaf and chain
head of the specification (gateway/store/chain.py: the JSON encoder over the normalised fields),
for readings and for records, on its fast path and on every way off it."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.readings import Reading
from gateway.store import chain
from gateway.store.block_rows import block_rows
from gateway.store.records import NewRecord, from_reading, pack_raw

_names = st.text(max_size=10)  # any unicode: quotes, backslashes, control characters, CJK
_common_names = st.sampled_from(["flow-meter", "pump-energy", "m3/h", "kWh", "good", "uncertain"])
_name = st.one_of(_common_names, _names)
_values = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), st.just(-0.0), _names)
_raws = st.one_of(
    st.lists(st.integers(min_value=0, max_value=0xFFFF), max_size=4).map(tuple),
    st.lists(st.integers(min_value=0, max_value=2**64 - 1), max_size=3).map(tuple),
    st.sampled_from([(0,), (85,), (17398, 16907)]),  # repeats: the raw cache's hits
)
_clocks = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.just(-0.0),
                    st.integers(min_value=0, max_value=2**40))
_point_kinds = st.sampled_from(["instant", "total", "status", "something-else"])


def _reading(device, point, value, unit, raw, wall, mono, quality, kind):
    return Reading(device, point, value, unit, raw, wall, mono, quality, kind)


_readings = st.builds(_reading, _name, _name, _values, _name, _raws, _clocks, _clocks, _name,
                      _point_kinds)
_data = st.one_of(st.none(), st.dictionaries(_names, st.one_of(st.none(), st.integers(), _names),
                                             max_size=3))
_records = st.builds(lambda kind, device, point, value, unit, quality, raw, wall, mono, data:
                     NewRecord.make(kind, device, point, value, unit, quality, raw, wall, mono,
                                    data),
                     _name, _name, _name, _values, _name, _name, _raws, _clocks, _clocks, _data)


def _encodable(entry) -> bool:
    record = from_reading(entry) if isinstance(entry, Reading) else entry
    try:
        chain.canonical_bytes(record.fields(1, 1))
    except (ValueError, TypeError):
        return False
    return True


def _spec_rows(entries, first_seq, boot, head):
    """What the specification says: normalise (from_reading), encode, hash, chain."""
    rows, leaves = [], []
    for seq, entry in enumerate(entries, start=first_seq):
        record = from_reading(entry) if isinstance(entry, Reading) else entry
        leaf = chain.leaf_hash(chain.canonical_bytes(record.fields(seq, boot)))
        head = chain.chain_step(head, leaf)
        leaves.append(leaf)
        rows.append((seq, record.kind, record.device, record.point, record.value, record.unit,
                     record.quality, pack_raw(record.raw), record.wall_time, record.mono_time,
                     boot, record.data_text, leaf[:4]))
    return rows, head


def _same(a, b) -> bool:
    """Row values equal, and floats the same float (0.0 is not -0.0 here)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or (a != a and b != b))
    return type(a) is type(b) and a == b


@settings(max_examples=500, deadline=None)
@given(entries=st.lists(st.one_of(_readings, _records), min_size=1, max_size=12)
       .filter(lambda entries: all(_encodable(e) for e in entries)),
       first_seq=st.integers(min_value=1, max_value=2**62), boot=st.integers(0, 2**31),
       head=st.binary(min_size=32, max_size=32))
def test_rows_and_head_equal_the_specifications(entries, first_seq, boot, head):
    got_rows, got_head = block_rows(entries, first_seq, boot, head)
    want_rows, want_head = _spec_rows(entries, first_seq, boot, head)
    assert got_head == want_head
    assert len(got_rows) == len(want_rows)
    for got, want in zip(got_rows, want_rows, strict=True):
        assert all(_same(a, b) for a, b in zip(got, want, strict=True)), (got, want)


def test_readings_decoded_from_one_reply_share_their_clocks_text():
    # two points of one reply, then a reading with -0.0 clocks: the cache must not leak "-0.0"
    first = Reading("m", "a", 1.5, "", (1,), 1750000000.25, 12.5)
    second = first._replace(point="b", value=-0.0)
    third = first._replace(point="c", wall_time=-0.0, mono_time=-0.0)
    rows, head = block_rows([first, second, third], 1, 1, chain.ZERO_HEAD)
    assert rows[1][4] == 0.0 and math.copysign(1, rows[1][4]) == 1
    assert (rows[2][8], rows[2][9]) == (0.0, 0.0)
    assert head == _spec_rows([first, second, third], 1, 1, chain.ZERO_HEAD)[1]


def test_an_entry_without_a_canonical_form_raises():
    bad = Reading("m", "a", "\ud800", "", (), 1.0, 1.0)  # a lone surrogate has no UTF-8 form
    try:
        block_rows([bad], 1, 1, chain.ZERO_HEAD)
    except (ValueError, UnicodeEncodeError):
        return
    raise AssertionError("a lone surrogate was encoded")
