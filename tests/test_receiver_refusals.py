"""Nothing escapes Receiver.accept: every input is stored or refused with a reason and an event.

The inputs the attack found: a header of 2,000 "[" (RecursionError in the JSON parser), a payload
mutation that makes decode_payload raise OverflowError, and a batch correctly signed by the
gateway whose seqs start at 2**63 (beyond SQLite's INTEGER). Over MQTT, against a real mosquitto,
such a message used to end paho's callback thread: the intake stopped for good, and the broker
redelivered the unacknowledged message after every restart. Now it is refused and acknowledged,
and the next real batch is stored.
"""

from __future__ import annotations

import asyncio
import json
import struct

import paho.mqtt.client as mqtt
import pytest
from uplink_support import (
    GATEWAY,
    Broker,
    assert_delivered_exactly_once,
    async_wait_until,
    make_store,
    wait_until,
)

from gateway.platform.mqtt import MqttReceiver
from gateway.platform.receiver import Receiver
from gateway.simulator.backlog import backlog_config
from gateway.store import chain
from gateway.uplink import payload, wire
from gateway.uplink.mqtt import ack_topic, batch_topic
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config

RECIPES = recipes_from_config(backlog_config())


@pytest.fixture
def world(tmp_path):
    store = make_store(tmp_path, minutes=10)  # 160 records, 10 blocks
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    yield store, receiver
    receiver.close()
    store.writer.close()


def deep_header() -> bytes:
    """What the attack sent: a batch header of 2,000 '[' (and a signature's worth of zeros)."""
    header = b"[" * 2000
    return wire.MAGIC + struct.pack(">H", len(header)) + header + bytes(chain.SIGNATURE_SIZE)


def overflowing_batch(store, nonce: int = 1) -> bytes:
    """A batch sealed by the gateway whose payload has one varint made huge (9 bytes of 0xff..7f
    over the clock columns). decode_payload raised OverflowError for it; now a WireError naming
    the OverflowError (tests/test_fuzz_wire.py): the receiver must refuse it either way."""
    chunk = Outbox(store.db).read(0, 16)
    raw = payload.encode_payload(chunk.blocks, chunk.records, RECIPES)
    for position in range(len(raw) - 9, 0, -1):
        mutated = raw[:position] + b"\xff" * 8 + b"\x7f" + raw[position + 9:]
        try:
            payload.decode_payload(mutated, 1, 0)
        except (OverflowError, wire.WireError) as exc:
            if "OverflowError" not in f"{type(exc).__name__}: {exc}":
                continue
            return wire.seal(store.writer.key, GATEWAY, nonce, 0.0, chunk.blocks,
                             chunk.prev_head, chunk.head, wire.compress(mutated), len(mutated))
    raise AssertionError("no mutation of this payload overflows (the decoder changed?)")


def batch_beyond_sqlite(store, nonce: int = 1) -> bytes:
    """Records and a block correctly chained and signed with the gateway's key, at seq 2**63."""
    chunk = Outbox(store.db).read(0, 16)
    base = 2**63
    records = [(record[0] - 1 + base, *record[1:]) for record in chunk.records]
    head = chain.ZERO_HEAD
    for record in records:
        head = chain.chain_step(head, chain.leaf_hash(chain.canonical_bytes(record)))
    first, last = records[0][0], records[-1][0]
    signature = chain.sign_block(store.writer.key, 0, first, last, chain.ZERO_HEAD, head)
    return wire.encode_batch(store.writer.key, GATEWAY, nonce, 0.0,
                             [payload.BlockSignature(0, first, last, signature)], records,
                             chain.ZERO_HEAD, head, RECIPES)


def events(receiver: Receiver) -> list[tuple]:
    return receiver.conn.execute("SELECT gateway, kind, detail FROM events ORDER BY id").fetchall()


def test_a_header_of_2000_brackets_is_refused_as_malformed(world):
    _, receiver = world
    ack = receiver.accept(deep_header())
    assert (ack.status, ack.code) == ("rejected", 400)
    assert ack.reason.startswith("malformed batch: batch header")
    assert [kind for _, kind, _ in events(receiver)] == ["rejected"]


def test_an_overflowing_payload_is_refused_as_malformed(world):
    store, receiver = world
    ack = receiver.accept(overflowing_batch(store))
    assert (ack.status, ack.code) == ("rejected", 400)
    assert ack.reason.startswith("malformed batch: the payload")
    assert "OverflowError" in ack.reason
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0


def test_a_signed_batch_at_seq_2_63_is_refused_and_nothing_stored(world):
    store, receiver = world
    ack = receiver.accept(batch_beyond_sqlite(store))
    assert (ack.status, ack.code) == ("rejected", 400)
    assert "2**63" in ack.reason or str(2**63 - 1) in ack.reason
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    assert receiver.conn.execute("SELECT count(*) FROM gateways").fetchone()[0] == 0
    # ... and the gateway's real first batch is still stored after it.
    good = receiver.accept(wire.encode_batch(store.writer.key, GATEWAY, 2, 0.0,
                                             *_chunk_parts(store, 0, 160), RECIPES))
    assert (good.status, good.acked_seq) == ("stored", 160)


def _chunk_parts(store, after: int, count: int):
    chunk = Outbox(store.db).read(after, count)
    return chunk.blocks, chunk.records, chunk.prev_head, chunk.head


def test_any_unexpected_fault_inside_accept_is_a_refusal_with_an_event(world, monkeypatch):
    """Whatever else goes wrong (here: storing a verified batch raises something nobody
    foresaw) is refused with the exception named, recorded, rolled back, and the receiver goes
    on."""
    store, receiver = world

    def broken(*args):
        raise LookupError("a fault nobody foresaw")

    monkeypatch.setattr(Receiver, "_finish", broken)
    data = wire.encode_batch(store.writer.key, GATEWAY, 1, 0.0, *_chunk_parts(store, 0, 160),
                             RECIPES)
    ack = receiver.accept(data)
    assert ack.status == "rejected" and ack.code == 500
    assert "LookupError: a fault nobody foresaw" in ack.reason
    assert events(receiver)[-1][1] == "internal_error"
    assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    monkeypatch.undo()
    again = receiver.accept(wire.encode_batch(store.writer.key, GATEWAY, 2, 0.0,
                                              *_chunk_parts(store, 0, 160), RECIPES))
    assert again.status == "stored"


# --- MQTT: the poison message over a real broker ---------------------------------------------

class Poisoner:
    """Another client of the broker, publishing raw messages on a gateway's batch topic and
    collecting what comes back on its ack topic."""

    def __init__(self, port: int) -> None:
        self.acks: list[dict] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="poisoner")
        self.client.on_message = lambda c, u, m: self.acks.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(ack_topic("wellgate", GATEWAY), qos=1)
        self.client.loop_start()

    def publish(self, payload: bytes) -> None:
        self.client.publish(batch_topic("wellgate", GATEWAY), payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_the_mqtt_intake_survives_poison_and_does_not_get_it_again(tmp_path):
    broker = Broker(tmp_path / "broker")
    broker.start()
    store = make_store(tmp_path, minutes=30)
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    subscriber = MqttReceiver(receiver, "127.0.0.1", broker.port)
    subscriber.start()
    poisoner = Poisoner(broker.port)
    try:
        wait_until(subscriber.connected.is_set, 10, "the receiver's subscription")
        for poison in (deep_header(), overflowing_batch(store, nonce=1),
                       batch_beyond_sqlite(store, nonce=2)):
            poisoner.publish(poison)
        wait_until(lambda: len(poisoner.acks) >= 3, 10, "the three refusals acknowledged")
        assert [(ack["status"], ack["code"]) for ack in poisoner.acks[:3]] == [
            ("rejected", 400)] * 3
        # The intake is alive: the gateway's real batches are stored.
        engine = store.engine("county", broker.transport())
        task = asyncio.create_task(engine.run())
        try:
            await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 40,
                                   "delivery after the poison")
        finally:
            engine.stop()
            await task
        # The poison was acknowledged to the broker: a restart of the receiver (same persistent
        # session) does not get it again.
        refusals = receiver.conn.execute("SELECT sum(count) FROM events").fetchone()[0]
        subscriber.stop()
        subscriber.start()
        wait_until(subscriber.connected.is_set, 10, "the receiver's subscription again")
        await asyncio.sleep(1.0)
        assert receiver.conn.execute("SELECT sum(count) FROM events").fetchone()[0] == refusals
    finally:
        poisoner.stop()
        subscriber.stop()
    assert_delivered_exactly_once(receiver, store)
    receiver.close()
    broker.stop()
    store.writer.close()
