"""The chain spec (gateway/store/chain.py) against vectors made outside Python, and round trips of
records through SQLite that must hash the same as when they were written."""

from __future__ import annotations

import math
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.store import chain
from gateway.store.block_rows import block_rows
from gateway.store.migrations import MIGRATIONS
from gateway.store.records import (
    _DATA_ENCODER,
    ROW_COLUMNS,
    NewRecord,
    Record,
    normal_value,
    pack_raw,
    unpack_raw,
)
from gateway.store.writer import INSERT_RECORD

# Two records written out by hand from the spec in chain.py's docstring; their sha256 and the
# chain heads computed with coreutils `sha256sum` and `xxd` (printf '%s' TEXT | sha256sum;
# (head -c 32 /dev/zero; LEAF) | sha256sum), not with Python.
RECORD_VECTORS = [
    # (fields, canonical text, leaf hex)
    ((1, "reading", "flow-meter", "forward_total", 1234.5, "m³", "good", [0, 1234],
      1750000000.25, 12.5, 1, {"kind": "total"}),
     '[1,"reading","flow-meter","forward_total",1234.5,"m³","good",[0,1234],1750000000.25,12.5,'
     '1,{"kind":"total"}]',
     "adf4debb111b6911ee8f1ffb57c85e2fe46fa35a37d0dadbb141ac6c5a11cda3"),
    # None value, empty raw, a non-ASCII string, and data keys that must come out sorted
    ((2, "alarm", "store", "store_write_failing", None, "", "good", [], 1750000001.0, 13.0, 1,
      {"error": "database or disk is full", "b": [1.5, "水位"], "alarm": "store_write_failing"}),
     '[2,"alarm","store","store_write_failing",null,"","good",[],1750000001.0,13.0,1,'
     '{"alarm":"store_write_failing","b":[1.5,"水位"],"error":"database or disk is full"}]',
     "32b91052ccc31a4b09af5c96b985da7066949b376d9aa35f06a1854be2710b76"),
]
HEAD_AFTER_1 = "c0ee0a90a55a4be69e1091132287f28115f3ef33f0faabe2b2728793af1f5fd3"
HEAD_AFTER_2 = "c297e56235238776fc5239cb63a1dbb8abbd5df664d5acc409129a13fa29fed8"

# RFC 8032 section 7.1, TEST 1: secret key, public key, and the signature of the empty message.
RFC8032_SECRET = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_EMPTY_SIGNATURE = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
    "f9b46bd25bf5f0595bbe24655141438e7a100b")
# Block 0 over the two records above (seq 1..2, prev_head zero, head HEAD_AFTER_2), its message
# built with printf/xxd and signed with the RFC 8032 key by OpenSSL 3.0:
#   openssl pkeyutl -sign -inkey key.pem -rawin -in msg.bin
BLOCK_MESSAGE_PREFIX = b"wellgate-block-v1" + bytes(8) + bytes(7) + b"\x01" + bytes(7) + b"\x02"
BLOCK_SIGNATURE = (
    "3e2beda2cf49d6ab397c647697de1f98d1190ffb2730c1ccd61be0b454207e40a426fef1749eafd9547f1cddf2"
    "24b7c34c2767186fc5fd984591b5a11f9ac809")


@pytest.mark.parametrize(("fields", "text", "leaf"), RECORD_VECTORS, ids=["reading", "alarm"])
def test_canonical_bytes_and_leaf_match_the_hand_written_vectors(fields, text, leaf):
    assert chain.canonical_bytes(fields) == text.encode("utf-8")
    assert chain.leaf_hash(chain.canonical_bytes(fields)).hex() == leaf
    # the writer's own fast path (gateway/store/block_rows.py) hashes it the same
    seq, kind, device, point, value, unit, quality, raw, wall, mono, boot, data = fields
    entry = NewRecord.make(kind, device, point, value, unit, quality, raw, wall, mono, data)
    rows, head = block_rows([entry], seq, boot, chain.ZERO_HEAD)
    assert rows[0][-1] == bytes.fromhex(leaf)[:4]
    assert head == chain.chain_step(chain.ZERO_HEAD, bytes.fromhex(leaf))


def test_chain_heads_match_the_vectors():
    head = chain.chain_step(chain.ZERO_HEAD, bytes.fromhex(RECORD_VECTORS[0][2]))
    assert head.hex() == HEAD_AFTER_1
    head = chain.chain_step(head, bytes.fromhex(RECORD_VECTORS[1][2]))
    assert head.hex() == HEAD_AFTER_2


def _rfc_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(RFC8032_SECRET))


def test_the_signing_key_reproduces_rfc8032_test_1():
    key = _rfc_key()
    from gateway.store.keys import raw_public_key

    assert raw_public_key(key.public_key()).hex() == RFC8032_PUBLIC
    assert key.sign(b"").hex() == RFC8032_EMPTY_SIGNATURE


def test_block_message_and_signature_match_openssl():
    head = bytes.fromhex(HEAD_AFTER_2)
    message = chain.block_message(0, 1, 2, chain.ZERO_HEAD, head)
    assert message == BLOCK_MESSAGE_PREFIX + chain.ZERO_HEAD + head
    assert len(message) == 105
    signature = chain.sign_block(_rfc_key(), 0, 1, 2, chain.ZERO_HEAD, head)
    assert signature.hex() == BLOCK_SIGNATURE
    public = _rfc_key().public_key()
    assert chain.block_signature_valid(public, 0, 1, 2, chain.ZERO_HEAD, head, signature)


@pytest.mark.parametrize("change", ["block_no", "first_seq", "last_seq", "prev_head", "head",
                                    "signature"])
def test_a_signature_fails_when_any_signed_part_changes(change):
    public = _rfc_key().public_key()
    head = bytes.fromhex(HEAD_AFTER_2)
    args = {"block_no": 0, "first_seq": 1, "last_seq": 2, "prev_head": chain.ZERO_HEAD,
            "head": head, "signature": bytes.fromhex(BLOCK_SIGNATURE)}
    value = args[change]
    args[change] = value + 1 if isinstance(value, int) else bytes([value[0] ^ 1]) + value[1:]
    assert not chain.block_signature_valid(public, **args)


def test_canonical_bytes_refuse_nan_and_a_wrong_field_count():
    fields = list(RECORD_VECTORS[0][0])
    fields[4] = math.nan
    with pytest.raises(ValueError):
        chain.canonical_bytes(fields)
    with pytest.raises(ValueError, match="12 fields"):
        chain.canonical_bytes(fields[:11])


# --- raw packing --------------------------------------------------------------------------------

RAW_VECTORS = [
    # (raw, packed hex): tag = bytes per value, then big-endian values (schema docstring)
    ([], None),
    ([0x12, 0x34], "011234"),  # DL/T 645 data bytes: 1 byte each
    ([0x1234, 0x5678], "0212345678"),  # Modbus registers: 2 bytes each
    ([0, 0xFFFF], "020000ffff"),
    ([0x10000], "0400010000"),
    ([2**40], "080000010000000000"),
]


@pytest.mark.parametrize(("raw", "packed"), RAW_VECTORS)
def test_raw_packs_to_width_tag_and_big_endian_values(raw, packed):
    blob = pack_raw(raw)
    assert (blob.hex() if blob is not None else None) == packed
    assert unpack_raw(blob) == raw


def test_raw_outside_64_bit_unsigned_is_refused():
    with pytest.raises(ValueError, match="unsigned"):
        pack_raw([-1])
    with pytest.raises(ValueError, match="64 bits"):
        pack_raw([2**64])
    with pytest.raises(ValueError, match="width tag 3"):
        unpack_raw(b"\x03\x00\x00\x00")


@given(st.lists(st.integers(0, 2**64 - 1), max_size=40))
def test_raw_round_trips(raw):
    assert unpack_raw(pack_raw(raw)) == raw


# --- what SQLite gives back hashes as what was written -------------------------------------------

values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
)
json_leaves = st.one_of(st.none(), st.booleans(), st.integers(-(2**62), 2**62),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10))
data = st.one_of(st.none(), st.dictionaries(
    st.text(max_size=8), st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                                      | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                                      max_leaves=8), max_size=4))


@pytest.fixture(scope="module")
def records_table():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    from sqlite_utils import Database

    MIGRATIONS.apply(Database(conn, execute_plugins=False))
    return conn


@settings(max_examples=300, deadline=None)
@given(value=values, text=st.text(max_size=30), raw=st.lists(st.integers(0, 2**64 - 1),
                                                              max_size=8),
       wall=st.floats(0, 4e9), mono=st.floats(0, 1e9), data=data)
def test_a_record_read_back_from_sqlite_has_the_leaf_it_was_written_with(
        records_table, value, text, raw, wall, mono, data):
    entry = NewRecord.make("reading", text, text[::-1], value, text[:3], "good", raw, wall, mono,
                           data)
    leaf = chain.leaf_hash(chain.canonical_bytes(entry.fields(7, 3)))
    records_table.execute("DELETE FROM records")
    records_table.execute(INSERT_RECORD, entry.row(7, 3, leaf[:4]))
    row = records_table.execute(f"SELECT {ROW_COLUMNS} FROM records").fetchone()
    assert Record.from_row(row).computed_leaf() == leaf


@pytest.mark.parametrize(("given_value", "stored"), [
    (True, 1),  # SQLite has no bool: what is hashed is what reads back
    (math.inf, None),
    (math.nan, None),
    (2**63, str(2**63)),  # beyond SQLite's 64-bit integers
    (-(2**63), -(2**63)),
    (1.0, 1.0),
    ("full", "full"),
])
def test_values_are_normalised_to_what_sqlite_returns(given_value, stored):
    result = normal_value(given_value)
    assert result == stored and type(result) is type(stored)


def test_the_stores_data_encoder_has_the_canonical_options():
    spec = chain._ENCODER
    assert (_DATA_ENCODER.item_separator, _DATA_ENCODER.key_separator, _DATA_ENCODER.sort_keys,
            _DATA_ENCODER.ensure_ascii, _DATA_ENCODER.allow_nan) == (
        spec.item_separator, spec.key_separator, spec.sort_keys, spec.ensure_ascii,
        spec.allow_nan)
