"""The receiver refuses forged, tampered, replayed and unknown-gateway batches, storing nothing.

Batches are made the way the gateway makes them (the store's writer, the outbox, the wire
encoder); each attack then changes one thing. After every refusal the receiver's tables are
byte for byte what they were.
"""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_support import GATEWAY, make_store

from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config
from gateway.uplink import wire
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config

RECIPES = recipes_from_config(backlog_config())


@pytest.fixture
def world(tmp_path):
    store = make_store(tmp_path, minutes=20)  # 320 records, 20 blocks
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    yield store, receiver
    receiver.close()
    store.writer.close()


def batch(store, after: int, records: int, nonce: int, key=None, gateway: str = GATEWAY,
          change=None) -> bytes:
    chunk = Outbox(store.db).read(after, records)
    rows = chunk.records if change is None else change(list(chunk.records))
    return wire.encode_batch(key or store.writer.key, gateway, nonce, 0.0, chunk.blocks, rows,
                             chunk.prev_head, chunk.head, RECIPES)


def fingerprint(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for table in ("records", "blocks", "gateways"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_a_good_batch_is_stored_and_acked(world):
    store, receiver = world
    ack = receiver.accept(batch(store, 0, 160, nonce=1))
    assert (ack.status, ack.acked_seq, ack.stored, ack.code) == ("stored", 160, 160, 200)


def test_batch_signed_with_another_key(world):
    store, receiver = world
    receiver.accept(batch(store, 0, 160, nonce=1))
    before = fingerprint(receiver.conn)
    ack = receiver.accept(batch(store, 160, 160, nonce=2, key=Ed25519PrivateKey.generate()))
    assert (ack.status, ack.code) == ("rejected", 403)
    assert "does not verify with gateway '150602-0017'" in ack.reason
    assert ack.acked_seq == 160
    assert fingerprint(receiver.conn) == before


def test_blocks_signed_with_another_key_inside_a_good_envelope(tmp_path, world):
    """A gateway whose store was re-signed by someone else (the envelope key is the real one)."""
    store, receiver = world
    other = make_store(tmp_path / "other", minutes=20)  # same readings, another key
    chunk = Outbox(other.db).read(0, 160)
    data = wire.encode_batch(store.writer.key, GATEWAY, 1, 0.0, chunk.blocks, chunk.records,
                             chunk.prev_head, chunk.head, RECIPES)
    before = fingerprint(receiver.conn)
    ack = receiver.accept(data)
    assert (ack.status, ack.code) == ("rejected", 422)
    assert ack.reason == ("block 0 (seq 1..16): the signature does not verify with the "
                          "registered key (signed with another key)")
    assert fingerprint(receiver.conn) == before
    other.writer.close()


def test_record_modified_in_the_gateway_store(world):
    store, receiver = world
    receiver.accept(batch(store, 0, 160, nonce=1))
    before = fingerprint(receiver.conn)
    # Someone edits a stored reading on the gateway's SD card; the uplink sends what it finds.
    store.writer.conn.execute("UPDATE records SET value = value * 0.5 WHERE seq = 200")
    ack = receiver.accept(batch(store, 160, 160, nonce=2))
    assert (ack.status, ack.code) == ("rejected", 422)
    assert ack.reason == ("block 12 (seq 193..208): its records do not hash to the signed head: "
                          "a record was modified")
    assert fingerprint(receiver.conn) == before
    events = receiver.conn.execute("SELECT kind, first_seq, last_seq FROM events").fetchall()
    assert events == [("verification_failed", 193, 208)]


def test_record_modified_on_the_way(world):
    store, receiver = world
    data = bytearray(batch(store, 0, 160, nonce=1))
    data[-20] ^= 0x01  # one bit of the compressed payload
    ack = receiver.accept(bytes(data))
    assert ack.status == "rejected"
    assert "altered in transit" in ack.reason
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0


def test_replayed_old_batch(world):
    store, receiver = world
    first = batch(store, 0, 160, nonce=1)
    receiver.accept(first)
    receiver.accept(batch(store, 160, 160, nonce=2))
    before = fingerprint(receiver.conn)
    ack = receiver.accept(first)
    assert (ack.status, ack.code, ack.last_nonce) == ("rejected", 409, 2)
    assert ack.reason == ("replayed batch: nonce 1 is not above the last accepted nonce 2")
    assert fingerprint(receiver.conn) == before


def test_resend_with_a_fresh_nonce_is_harmless(world):
    """What the gateway does after a lost ack: same records, new nonce -> duplicate, acked."""
    store, receiver = world
    receiver.accept(batch(store, 0, 160, nonce=1))
    before = fingerprint(receiver.conn)
    ack = receiver.accept(batch(store, 0, 160, nonce=2))
    assert (ack.status, ack.acked_seq, ack.stored) == ("duplicate", 160, 0)
    overlapping = receiver.accept(batch(store, 80, 160, nonce=3))  # blocks 5..14
    assert (overlapping.status, overlapping.acked_seq, overlapping.stored) == ("stored", 240, 80)
    assert fingerprint(receiver.conn) != before
    count = receiver.conn.execute("SELECT count(*), count(DISTINCT seq) FROM records").fetchone()
    assert count == (240, 240)


def test_unregistered_gateway(world):
    store, receiver = world
    ack = receiver.accept(batch(store, 0, 160, nonce=1, gateway="150602-9999"))
    assert (ack.status, ack.code, ack.acked_seq) == ("rejected", 403, None)
    assert ack.reason == "unknown gateway '150602-9999': it is not in this receiver's registry"
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    assert receiver.conn.execute("SELECT gateway, kind FROM events").fetchall() == [
        ("150602-9999", "rejected")]


def test_batch_that_skips_ahead(world):
    store, receiver = world
    receiver.accept(batch(store, 0, 80, nonce=1))
    ack = receiver.accept(batch(store, 160, 80, nonce=2))
    assert (ack.status, ack.code, ack.acked_seq) == ("rejected", 409, 80)
    assert "seq 81 is the next one expected" in ack.reason


@pytest.mark.parametrize("garbage", [b"", b"GET / HTTP/1.1\r\n", b"WGB1\x00\x05{...}",
                                     b"WGB1" + bytes(200)])
def test_garbage_is_refused_as_malformed(world, garbage):
    _, receiver = world
    ack = receiver.accept(garbage)
    assert (ack.status, ack.code) == ("rejected", 400)
    assert ack.reason.startswith("malformed batch")
