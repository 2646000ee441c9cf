"""Wire format v1: every record comes back exactly (canonical bytes equal), whatever it holds."""

from __future__ import annotations

import contextlib
import math
import random
import struct
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from uplink_support import make_store

from drivers import registers
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.store.records import NewRecord
from gateway.store.retention import thin_oldest
from gateway.uplink import wire
from gateway.uplink.columns import WireError, float_key, key_float, planes, uvarints
from gateway.uplink.outbox import Outbox
from gateway.uplink.payload import Tombstone, decode_payload, encode_payload
from gateway.uplink.recipes import Recipe, recipes_from_config

RECIPES = recipes_from_config(backlog_config())


def canonical(record) -> bytes:
    if isinstance(record, Tombstone):
        return b"tombstone" + record.leaf
    return chain.canonical_bytes(record)


def roundtrip(chunk, recipes=RECIPES):
    payload = encode_payload(chunk.blocks, chunk.records, recipes)
    return decode_payload(payload, chunk.first_seq, chunk.blocks[0].block_no)


def test_a_day_of_meter_readings_comes_back_exactly_and_small(tmp_path):
    store = make_store(tmp_path, minutes=240)
    chunk = Outbox(store.db).read(0, 10**6)
    blocks, records = roundtrip(chunk)
    assert blocks == chunk.blocks
    assert [canonical(r) for r in records] == [canonical(r) for r in chunk.records]
    data = wire.encode_batch(store.writer.key, "gw", 1, 0.0, chunk.blocks, chunk.records,
                             chunk.prev_head, chunk.head, RECIPES)
    # 64 bytes of block signature per 16 readings is 4 of these bytes per reading.
    assert len(data) / len(chunk.records) < 10
    # Without recipes every value travels itself: correct still, only bigger.
    blocks, records = roundtrip(chunk, recipes={})
    assert [canonical(r) for r in records] == [canonical(r) for r in chunk.records]
    assert len(wire.compress(encode_payload(chunk.blocks, chunk.records, {}))) > len(data)


def test_odd_records_tombstones_and_store_events(tmp_path):
    store = make_store(tmp_path, minutes=30)
    odd = [
        NewRecord.make("reading", "meter", "p", value=None, unit="", quality="invalid",
                       raw=[0xFFFF, 0xFFFF], wall_time=time.time(), mono_time=5.0,
                       data={"kind": "instant"}),
        NewRecord.make("reading", "meter", "p", value=2**70, raw=[1] * 6, wall_time=-1.5,
                       mono_time=0.0),  # a value SQLite keeps as text
        NewRecord.make("reading", "meter", "p", value="电磁流量计", raw=[2**64 - 1],
                       wall_time=1e300, mono_time=0.5, data={"kind": "status", "n": [1, 2.5]}),
        NewRecord.make("alarm", "store", "store_write_failing", value=3, unit="records",
                       wall_time=1.0, mono_time=2.0, data={"state": "cleared", "since": 1.25}),
        NewRecord.make("reading", "meter", "q", value=-0.0, raw=[], wall_time=2.0,
                       mono_time=3.0),
    ]
    store.writer.append(odd)
    thin_oldest(store.writer, keep_interval=900.0, reason="test", free_bytes=1, floor_bytes=2,
                max_records=200)
    chunk = Outbox(store.db).read(0, 10**6)
    assert any(isinstance(r, Tombstone) for r in chunk.records)
    _blocks, records = roundtrip(chunk)
    assert [canonical(r) for r in records] == [canonical(r) for r in chunk.records]
    # The whole chain still verifies from what came back.
    head = chain.ZERO_HEAD
    for record in records:
        leaf = record.leaf if isinstance(record, Tombstone) else chain.leaf_hash(
            canonical(record))
        head = chain.chain_step(head, leaf)
    assert head == chunk.head


def test_decimals_from_recipe_found_per_batch():
    recipe = Recipe("modbus", "i16", "ABCD", decimals_from="decimal_point")
    concrete = recipe.with_decimals_for([4955], 49.55)
    assert concrete is not None and concrete.decimals == 2
    assert concrete.value([1234]) == 12.34


# Register images for the recipes' fast decoding: (type, order, registers) from the profiles'
# register tables (drivers/registers.py is the reference the fast path must equal).
@given(st.sampled_from(["u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64",
                        "bits16", "bits32"]),
       st.sampled_from(["ABCD", "CDAB"]),
       st.lists(st.integers(0, 0xFFFF), min_size=4, max_size=4))
def test_fast_register_decoding_equals_drivers_registers(type_, order, words):
    count = registers.register_count(type_)
    raw = words[:count]
    recipe = Recipe("modbus", type_, order)
    expected = registers.decode(raw, type_, order)
    got = recipe._decode(raw)
    if isinstance(expected, float) and math.isnan(expected):
        assert math.isnan(got)
    else:
        assert struct.pack(">d", float(got)) == struct.pack(">d", float(expected))
        assert type(got) is type(expected)


@given(st.floats(allow_nan=False))
def test_float_keys_round_trip_and_order(value):
    assert struct.pack(">d", key_float(float_key(value))) == struct.pack(">d", value)
    assert float_key(value) <= float_key(math.nextafter(value, math.inf))


def test_primitives_known_values():
    # uvarint vectors from the protobuf encoding guide (150 -> 96 01, 300 -> ac 02).
    assert uvarints([0, 1, 127, 128, 150, 300]) == bytes.fromhex("00017f80019601ac02")
    assert planes([0x0102, 0x0304], 2) == bytes.fromhex("01030204")


def test_truncated_or_corrupt_payloads_raise_wire_error(tmp_path):
    store = make_store(tmp_path, minutes=5)
    chunk = Outbox(store.db).read(0, 10**6)
    payload = encode_payload(chunk.blocks, chunk.records, RECIPES)
    rng = random.Random(5)
    for cut in [0, 1, 10, len(payload) // 2, len(payload) - 1]:
        with pytest.raises(WireError):
            decode_payload(payload[:cut], 1, 0)
    for _ in range(200):  # a flipped byte is caught or gives other records, never a crash
        damaged = bytearray(payload)
        damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        with contextlib.suppress(WireError):
            decode_payload(bytes(damaged), 1, 0)


@given(st.lists(st.integers(min_value=-(2**70), max_value=2**70)))
def test_unzigzags_undoes_zigzag_like_unzigzag(values):
    """The decoder's list form (one expression, no call per value) against the definition."""
    from gateway.uplink.columns import unzigzag, unzigzags, zigzag

    coded = [zigzag(value) for value in values]
    assert unzigzags(coded) == [unzigzag(code) for code in coded] == values
