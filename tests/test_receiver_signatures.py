"""What one verified signature per batch proves, and what the receiver does with the rest.

The receiver chains every record of a batch and verifies the LAST block's signature over the
head reached (docs/platform.md, "One signature per batch"): through the chain that proves every
record and every earlier head. The designed behaviour, case by case (batches made the way the
gateway makes them, then one thing changed):
  - an earlier block's signature forged, the last one good, the records intact: stored and
    acked (the records are proven); the forged signature is kept as delivered and the audit
    (gateway/platform/audit.py) names that block as one whose own signature does not verify;
  - the last block's signature forged, the earlier ones good: refused (422) naming the last
    block, nothing stored;
  - an earlier block's signature forged and one of its records modified: refused naming that
    block (every signature is checked once the last one fails, to say which block is at fault);
  - a batch over stored seqs whose blocks carry the signatures stored, but other records under
    them, and a good last signature: refused as a fork (the head at acked_seq must be the one
    stored), not stored with a broken chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3

import pytest
from uplink_support import GATEWAY, make_store

from gateway.platform.audit import audit_gateway
from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.uplink import wire
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config

RECIPES = recipes_from_config(backlog_config())


@pytest.fixture
def world(tmp_path):
    store = make_store(tmp_path, minutes=20)  # 320 records, blocks of 16
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    yield store, receiver
    receiver.close()
    store.writer.close()


def forged(block: wire.BlockSignature) -> wire.BlockSignature:
    signature = bytearray(block.signature)
    signature[10] ^= 0x40
    return dataclasses.replace(block, signature=bytes(signature))


def fingerprint(conn: sqlite3.Connection) -> str:
    digest = hashlib.sha256()
    for table in ("records", "blocks", "gateways"):
        for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
            digest.update(repr(row).encode())
    return digest.hexdigest()


def seal(store, chunk, blocks, records, nonce: int, head: bytes | None = None) -> bytes:
    return wire.encode_batch(store.writer.key, GATEWAY, nonce, 0.0, blocks, records,
                             chunk.prev_head, head or chunk.head, RECIPES)


def test_an_earlier_forged_signature_is_stored_as_delivered_and_the_audit_names_it(world):
    store, receiver = world
    chunk = Outbox(store.db).read(0, 160)  # blocks 0..9
    blocks = list(chunk.blocks)
    blocks[4] = forged(blocks[4])
    ack = receiver.accept(seal(store, chunk, blocks, chunk.records, nonce=1))
    assert (ack.status, ack.acked_seq, ack.stored) == ("stored", 160, 160)
    kept = receiver.conn.execute("SELECT signature FROM blocks WHERE block_no = 4").fetchone()
    assert kept == (blocks[4].signature,)
    audit = audit_gateway(receiver.conn, GATEWAY, store.writer.key.public_key())
    assert not audit.ok
    assert audit.problem == "block 4 (seq 65..80) does not verify"


def test_the_last_forged_signature_refuses_the_batch_naming_the_last_block(world):
    store, receiver = world
    chunk = Outbox(store.db).read(0, 160)
    blocks = list(chunk.blocks)
    blocks[-1] = forged(blocks[-1])
    before = fingerprint(receiver.conn)
    ack = receiver.accept(seal(store, chunk, blocks, chunk.records, nonce=1))
    assert (ack.status, ack.code, ack.kind) == ("rejected", 422, "verification_failed")
    assert ack.reason == ("block 9 (seq 145..160): the signature does not verify with the "
                          "registered key (signed with another key)")
    assert fingerprint(receiver.conn) == before


def test_an_earlier_forged_signature_over_a_modified_record_names_that_block(world):
    store, receiver = world
    chunk = Outbox(store.db).read(0, 160)
    blocks, records = list(chunk.blocks), list(chunk.records)
    blocks[4] = forged(blocks[4])
    records[69] = (*records[69][:4], 1234.5, *records[69][5:])  # seq 70
    before = fingerprint(receiver.conn)
    ack = receiver.accept(seal(store, chunk, blocks, records, nonce=1))
    assert (ack.status, ack.code) == ("rejected", 422)
    assert ack.reason == ("block 4 (seq 65..80): its records do not hash to the signed head: "
                          "a record was modified")
    assert fingerprint(receiver.conn) == before


def test_other_records_under_the_stored_signatures_are_a_fork_not_a_broken_chain(world):
    """The gateway (it has the key) sends blocks 5..14 again: blocks 5..9 with the signatures
    stored but seq 85 changed, chained on to a correctly signed block 14."""
    store, receiver = world
    first = Outbox(store.db).read(0, 160)
    assert receiver.accept(seal(store, first, first.blocks, first.records, nonce=1)).acked_seq \
        == 160
    chunk = Outbox(store.db).read(80, 160)  # blocks 5..14, seq 81..240
    records = list(chunk.records)
    records[4] = (*records[4][:4], 1234.5, *records[4][5:])  # seq 85
    blocks = list(chunk.blocks)
    last = blocks[-1]
    heads = [chunk.prev_head]  # the forked chain: the head before each record, and the last
    for record in records:
        heads.append(chain.chain_step(heads[-1], chain.leaf_hash(chain.canonical_bytes(record))))
    previous, running = heads[last.first_seq - chunk.first_seq], heads[-1]
    blocks[-1] = dataclasses.replace(last, signature=chain.sign_block(
        store.writer.key, last.block_no, last.first_seq, last.last_seq, previous, running))
    before = fingerprint(receiver.conn)
    ack = receiver.accept(seal(store, chunk, blocks, records, nonce=2, head=running))
    assert (ack.status, ack.code, ack.kind, ack.fork_seq) == ("rejected", 409, "fork", 85)
    assert ack.acked_seq == 160
    assert fingerprint(receiver.conn) == before
    audit = audit_gateway(receiver.conn, GATEWAY, store.writer.key.public_key())
    assert audit.ok and audit.last_seq == 160
