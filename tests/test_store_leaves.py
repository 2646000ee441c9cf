"""canonical_leaves() (gateway/store/leaves.py) gives the leaves of chain.canonical_bytes, record
for record, or None; and it takes the fast way for the records a gateway really sends."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.store import chain
from gateway.store.leaves import canonical_leaves

_names = st.one_of(st.sampled_from(["reading", "flow-meter", "m3/h", "good", "水位"]),
                   st.text(max_size=8))
_values = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
                    st.just(-0.0), st.text(max_size=6))
_raws = st.one_of(st.lists(st.integers(0, 0xFFFF), max_size=4),
                  st.lists(st.integers(0, 2**64 - 1), max_size=3).map(tuple),
                  st.lists(st.one_of(st.integers(0, 9), st.booleans()), max_size=2))
_clocks = st.one_of(st.floats(), st.just(-0.0), st.none())
_shared_data = [None, {"kind": "total"}, {"kind": "instant"}]  # shared objects, as decoded
_data = st.one_of(st.sampled_from(_shared_data),
                  st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.floats(),
                                                                 st.text(max_size=4)),
                                  max_size=2))


def _record(seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data):
    return (seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data)


_records = st.builds(_record, st.integers(1, 2**62), _names, _names, _names, _values, _names,
                     _names, _raws, _clocks, _clocks, st.integers(0, 2**31), _data)


def _spec_leaf(record) -> bytes | None:
    fields = list(record)
    fields[7] = list(fields[7])
    try:
        return chain.leaf_hash(chain.canonical_bytes(fields))
    except (TypeError, ValueError):
        return None


@settings(max_examples=600, deadline=None)
@given(records=st.lists(_records, max_size=10))
def test_leaves_equal_the_specifications_or_none(records):
    got = canonical_leaves(records)
    if got is not None:
        assert got == [_spec_leaf(record) for record in records]


_common = st.builds(_record, st.integers(1, 2**62), _names, _names, _names,
                    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                              st.floats(allow_nan=False, allow_infinity=False),
                              st.text(max_size=6).filter(lambda t: t.isprintable())),
                    _names, _names, st.lists(st.integers(0, 0xFFFF), max_size=4),
                    st.floats(0, 4e9), st.floats(0, 1e9), st.integers(0, 2**31),
                    st.sampled_from(_shared_data))


@settings(max_examples=300, deadline=None)
@given(records=st.lists(_common, min_size=1, max_size=10))
def test_common_records_take_the_fast_way(records):
    assert canonical_leaves(records) == [_spec_leaf(record) for record in records]
