"""The receiver's column-by-column path (gateway/platform/columnar.py) gives, for every batch it
takes, the leaves of the chain spec (chain.canonical_bytes of each record, not the code under
test) and the very rows the record-by-record path stores; and it takes the batches gateways send."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from uplink_support import make_store

from gateway.platform import columnar
from gateway.platform.audit import audit_gateway
from gateway.platform.columnar import verified_columns
from gateway.platform.receiver import Receiver
from gateway.platform.rows import Rows
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.uplink import wire
from gateway.uplink.columns import Reader, WireError, uvarints
from gateway.uplink.outbox import Outbox
from gateway.uplink.payload import (
    BlockSignature,
    Tombstone,
    encode_payload,
    payload_records,
    read_payload,
)
from gateway.uplink.payload_read import _positions
from gateway.uplink.recipes import Recipe, recipes_from_config
from gateway.uplink.wire import Batch

GATEWAY = "150602-0017"
COUNTER = Recipe("modbus", "u32", "ABCD", 0.01, 0.0, 2)
LEVEL = Recipe("modbus", "float32", "ABCD")
RECIPES = {("m1", "forward_total"): COUNTER, ("m2", "level"): LEVEL}
BACKLOG_RECIPES = recipes_from_config(backlog_config())
COUNTER_RAW_VALUE = 1234  # u32 of registers [0, 1234]
SHARED_DATA = [None, {"kind": "total"}, {"源": "水位", "n": 2}]


def _spec_leaf(record) -> bytes:
    if isinstance(record, Tombstone):
        return record.leaf
    return chain.leaf_hash(chain.canonical_bytes(record))


def _blocks(first_seq: int, count: int, size: int) -> list[BlockSignature]:
    blocks, seq = [], first_seq
    while seq < first_seq + count:
        last = min(seq + size, first_seq + count) - 1
        blocks.append(BlockSignature(len(blocks) + 7, seq, last, bytes(64)))
        seq = last + 1
    return blocks


def _slow_rows(records, first_seq: int) -> list[tuple]:
    batch = Batch(GATEWAY, 1, 0.0, bytes(32), bytes(32), _blocks(first_seq, len(records), 16),
                  list(records))
    return Rows(batch, first_seq).build(0, len(records))


def _check(records, first_seq: int, must_be_fast: bool) -> None:
    payload = encode_payload(_blocks(first_seq, len(records), 16), records, RECIPES)
    columns = read_payload(payload, first_seq, 7)
    verified = verified_columns(columns, GATEWAY)
    decoded = payload_records(columns)
    if must_be_fast:
        assert verified is not None
    if verified is not None:
        assert verified.leaves == [_spec_leaf(record) for record in decoded]
        assert verified.leaves == [_spec_leaf(record) for record in records]
        assert [(*row, None) for row in verified.rows] == _slow_rows(decoded, first_seq)


def _reading(seq: int, minute: int, channel: int, quality: str = "good", data=None) -> tuple:
    """A minute's reading of one of three channels, as a gateway stores it."""
    wall, mono = 1.7e9 + minute * 60.000125, 5000.0 + minute * 60.0
    if channel == 0:
        raw = [(minute * 37) >> 16, (minute * 37) & 0xFFFF]
        return (seq, "reading", "m1", "forward_total", COUNTER.value(raw), "m3", quality, raw,
                wall, mono, 3, data)
    if channel == 1:
        raw = [0x4120, (minute % 4) * 0x100]
        return (seq, "reading", "m2", "level", LEVEL.value(raw), "m", quality, raw, wall,
                mono + 0.001, 3, data)
    return (seq, "accounting", "well", "volume_today", minute * 1.25 if minute % 5 else None,
            "m3", quality, [], wall, mono, 3, data)


def test_a_gateways_batch_takes_the_column_path():
    records, seq = [], 1001
    for minute in range(200):
        for channel in range(3):
            records.append(_reading(seq, minute, channel, data=SHARED_DATA[channel]))
            seq += 1
    _check(records, 1001, must_be_fast=True)


def test_channels_at_irregular_seqs_and_mixed_qualities():
    records, seq = [], 1
    for minute in range(60):
        for channel in ((0, 1) if minute % 3 else (0, 2, 1)):
            records.append(_reading(seq, minute, channel, "good" if minute % 7 else "stale"))
            seq += 1
    _check(records, 1, must_be_fast=True)


def test_a_tombstone_or_a_changing_raw_length_takes_the_record_path():
    records = [_reading(seq, seq, 0) for seq in range(1, 40)]
    thinned = [*records[:5], Tombstone(6, bytes(range(32))), *records[6:]]
    _check(thinned, 1, must_be_fast=False)
    assert verified_columns(read_payload(encode_payload(_blocks(1, 39, 16), thinned, RECIPES),
                                         1, 7), GATEWAY) is None
    longer = [*records[:10], (*records[10][:7], [1, 2, 3], *records[10][8:]), *records[11:]]
    _check(longer, 1, must_be_fast=False)


_names = st.sampled_from(["reading", "m1", "m2", "水位", "a\"b", "%s", ""])
_values = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), st.just(-0.0),
                    st.text(max_size=5), st.just("%d"))
_raws = st.one_of(st.lists(st.integers(0, 0xFF), max_size=3),
                  st.lists(st.integers(0, 0xFFFF), min_size=2, max_size=2),
                  st.lists(st.integers(0, 2**64 - 1), max_size=2))
_clocks = st.one_of(st.floats(0, 1e10), st.floats(-1e3, 1e3))


@st.composite
def _batches(draw):
    count = draw(st.integers(1, 24))
    first_seq = draw(st.integers(1, 2**40))
    channel_raws = {}
    records = []
    for offset in range(count):
        kind, device, point = draw(_names), draw(_names), draw(_names)
        unit = draw(st.sampled_from(["m3", "m"]))
        raw = draw(_raws)
        key = (kind, device, point, unit)
        raw = channel_raws.setdefault(key, raw) if draw(st.booleans()) else raw
        records.append((first_seq + offset, kind, device, point, draw(_values), unit,
                        draw(st.sampled_from(["good", "bad", "%s"])), list(raw),
                        draw(_clocks), draw(_clocks), draw(st.integers(0, 2**40)),
                        draw(st.sampled_from(SHARED_DATA))))
    return records, first_seq


@settings(max_examples=80, deadline=None)
@given(batch=_batches())
def test_any_batch_gives_the_specs_leaves_and_the_record_paths_rows(batch):
    records, first_seq = batch
    _check(records, first_seq, must_be_fast=False)


_recipes = st.builds(
    Recipe, st.just("modbus"),
    st.sampled_from(["u16", "i16", "u32", "i32", "u64", "i64", "float32", "float64", "bits16"]),
    st.sampled_from(["ABCD", "CDAB", "BADC"]),
    st.sampled_from([1.0, 0.01, 0.1, -2.5, 1e-300, 3.0]), st.sampled_from([0.0, -40.0, 0.1]),
    st.sampled_from([None, 0, 1, 3, -2, 12]))


@settings(max_examples=300, deadline=None)
@given(recipe=_recipes, raws=st.lists(st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4),
                                      min_size=1, max_size=6))
def test_recipe_values_at_once_are_value_raw_by_raw(recipe, raws):
    """Recipe.values() (the receiver's) against Recipe.value() (the sender's), bit for bit,
    and the same refusal."""
    try:
        expected = [recipe.value(list(raw)) for raw in raws]
    except Exception as exc:
        try:
            recipe.values([tuple(raw) for raw in raws])
        except Exception as again:
            assert type(again) is type(exc)
            return
        raise AssertionError(f"values() gave a value where value() raised {exc!r}") from None
    got = recipe.values([tuple(raw) for raw in raws])
    assert [(type(v), repr(v)) for v in got] == [(type(v), repr(v)) for v in expected]


def test_a_counters_values_are_computed_at_once():
    raws = [(0, 1234), (1, 65535), (0, 0)]
    # scale 0.01, then 2 decimals: 1234 × 0.01 / 100; (65536 + 65535) × 0.01 / 100
    assert COUNTER._values_at_once(raws) == [0.1234, 13.1071, 0.0]
    assert LEVEL._values_at_once([(0x4120, 0)]) == [10.0]  # float32 0x41200000


def _leb128(data: bytes) -> list[int] | None:
    """Every varint of `data` by the definition (7 bits a byte, low group first); None if the
    last one is cut or one runs past 10 bytes (the reader's limit: no continuation past bit
    63)."""
    values, value, shift, size = [], 0, 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift, size = shift + 7, size + 1
        if size > 10:
            return None
        if byte < 0x80:
            values.append(value)
            value, shift, size = 0, 0, 0
    return None if size else values


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.integers(0, 127), st.integers(0, 2**21),
                                 st.integers(0, 2**64 - 1)), max_size=40),
       junk=st.binary(max_size=12), count=st.integers(0, 45))
def test_varints_read_at_once_are_the_definitions(values, junk, count):
    data = uvarints(values)
    assert Reader(data).uvarints() == values
    for buffer in (data + junk, junk):
        expected = _leb128(buffer)
        try:
            got = Reader(buffer).uvarints()
        except WireError:
            assert expected is None
        else:
            assert got == expected
        reader = Reader(buffer)
        try:
            got = reader.uvarints(count)
        except WireError:
            assert expected is None or len(expected) < count
        else:
            assert _leb128(buffer[:reader.pos]) == got and len(got) == count


@settings(max_examples=300, deadline=None)
@given(channels=st.integers(0, 5), data=st.data())
def test_channel_positions_are_each_channels_offsets_in_seq_order(channels, data):
    pattern = data.draw(st.lists(st.integers(0, channels + 1), max_size=8))
    col = pattern * data.draw(st.integers(0, 4)) + data.draw(
        st.lists(st.integers(0, channels + 1), max_size=3))
    expected = [[offset for offset, index in enumerate(col) if index == channel + 2]
                for channel in range(channels)]
    assert _positions(col, channels) == expected


def test_channels_taking_turns_are_found_by_their_period():
    assert _positions([3, 2, 4] * 3, 3) == [[1, 4, 7], [0, 3, 6], [2, 5, 8]]
    assert _positions([3, 2, 4] * 3 + [2], 3) == [[1, 4, 7, 9], [0, 3, 6], [2, 5, 8]]


def _stored(receiver: Receiver) -> list:
    return [receiver.conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("records", "blocks")] + [receiver.conn.execute(
                "SELECT gateway, first_seq, acked_seq, head, next_block, last_nonce, records, "
                "thinned FROM gateways").fetchall()]


def test_the_receiver_stores_by_columns_what_it_stores_record_by_record(tmp_path, monkeypatch):
    """A gateway's batches (store writer, outbox, wire encoder, the backlog's recipes) through
    accept() twice: the column path and, forced, the record path; the same tables."""
    store = make_store(tmp_path, minutes=20)  # 320 records, 20 blocks
    outbox = Outbox(store.db)
    batches = [wire.encode_batch(store.writer.key, GATEWAY, nonce, 0.0, chunk.blocks,
                                 chunk.records, chunk.prev_head, chunk.head, BACKLOG_RECIPES)
               for nonce, chunk in ((1, outbox.read(0, 160)), (2, outbox.read(160, 160)))]
    key = store.writer.key.public_key()
    taken = []
    original = columnar.verified_columns

    def spy(columns, gateway):
        taken.append(original(columns, gateway) is not None)
        return original(columns, gateway)

    monkeypatch.setattr(columnar, "verified_columns", spy)
    by_columns = Receiver(tmp_path / "columns.db", {GATEWAY: key})
    assert [by_columns.accept(data).status for data in batches] == ["stored", "stored"]
    assert taken == [True, True]
    monkeypatch.setattr(columnar, "verified_columns", lambda columns, gateway: None)
    by_records = Receiver(tmp_path / "records.db", {GATEWAY: key})
    assert [by_records.accept(data).status for data in batches] == ["stored", "stored"]
    assert _stored(by_columns) == _stored(by_records)
    assert audit_gateway(by_columns.conn, GATEWAY, key).ok
    by_columns.close()
    by_records.close()
    store.writer.close()


def test_a_recipe_that_does_not_apply_is_refused_with_the_decoders_reason(tmp_path):
    """A signed batch whose u32 recipe is turned into u64 (4 registers, the raws have 2): the
    column path cannot compute the values (a RegisterError/struct.error); the receiver refuses
    it as the record decoder does, naming the recipe, and stores nothing."""
    store = make_store(tmp_path, minutes=2)
    chunk = Outbox(store.db).read(0, 32)
    recipes = {("m1", "forward_total"): Recipe("modbus", "u32", "ABCD")}
    records = [(*record[:2], "m1", record[3], COUNTER_RAW_VALUE, *record[5:7], [0, 1234],
                *record[8:]) if record[2:4] == ("flow-meter", "forward_total") else record
               for record in chunk.records]
    payload = encode_payload(chunk.blocks, records, recipes)
    assert payload.count(b'"u32"') == 1
    payload = payload.replace(b'"u32"', b'"u64"')
    data = wire.seal(store.writer.key, GATEWAY, 1, 0.0, chunk.blocks, chunk.prev_head,
                     chunk.head, wire.compress(payload), len(payload))
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    ack = receiver.accept(data)
    assert (ack.status, ack.code) == ("rejected", 400)
    assert ack.reason.startswith("malformed batch: seq 2: the recipe of ('reading', 'm1', "
                                 "'forward_total', 'm3') does not apply to raw [0, 1234]")
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    receiver.close()
    store.writer.close()
