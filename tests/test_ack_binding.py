"""An ack moves a gateway's cursor only if it names that gateway and the batch it answers, and
never past what was sent.

Over a real mosquitto, an intruder copies the receiver's genuine, signed acks for gateway B onto
gateway A's ack topic (both stores hold the same seq layout, so every copy names a seq range A
is waiting for): A's cursor stays where it was, and A is delivered once the real receiver
answers. A 409 ack claiming more than the batch held is an error, not a new cursor.
"""

from __future__ import annotations

import asyncio
import json

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_support import (
    FAST,
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
from gateway.uplink.acksign import sign_ack
from gateway.uplink.engine import UplinkEngine
from gateway.uplink.mqtt import MqttTransport, ack_topic, batch_topic
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import AckMessage, TransportError, ack_problem

OTHER = "150602-0018"


class AckCopier:
    """Another client of the broker: it keeps every ack the receiver sends gateway B and, for
    every batch gateway A publishes, copies B's acks onto A's ack topic."""

    def __init__(self, port: int) -> None:
        self.b_acks: list[bytes] = []
        self.copied = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="copier")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(ack_topic("wellgate", OTHER), qos=1)
        self.client.subscribe(batch_topic("wellgate", GATEWAY), qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        if message.topic == ack_topic("wellgate", OTHER):
            self.b_acks.append(message.payload)
            return
        for payload in list(self.b_acks):
            client.publish(ack_topic("wellgate", GATEWAY), payload, qos=1)
            self.copied += 1

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def engine_for(store, gateway: str, port: int, platform_key) -> UplinkEngine:
    transport = MqttTransport("county", "127.0.0.1", port, gateway, "wellgate", 2.0,
                              platform_key=platform_key)
    return UplinkEngine("county", transport, Outbox(store.db), store.db, store.writer.key,
                        gateway, NonceSource(store.state_dir),
                        recipes_from_config(backlog_config()), FAST)


async def test_b_s_signed_ack_copied_onto_a_s_topic_does_not_move_a_s_cursor(tmp_path):
    broker = Broker(tmp_path / "broker")
    broker.start()
    store_a, store_b = make_store(tmp_path / "a", 40), make_store(tmp_path / "b", 40)
    platform_key = Ed25519PrivateKey.generate()
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store_a.writer.key.public_key(),
                                                   OTHER: store_b.writer.key.public_key()},
                        ack_key=platform_key)
    subscriber = MqttReceiver(receiver, "127.0.0.1", broker.port)
    subscriber.start()
    wait_until(subscriber.connected.is_set, 10, "the receiver's subscription")
    copier = AckCopier(broker.port)
    engine_b = engine_for(store_b, OTHER, broker.port, platform_key.public_key())
    engine_a = engine_for(store_a, GATEWAY, broker.port, platform_key.public_key())
    task_b = asyncio.create_task(engine_b.run())
    try:
        await async_wait_until(lambda: engine_b.status.acked_seq == store_b.last_seq, 40,
                               "gateway B delivered (its genuine acks seen by the copier)")
        assert len(copier.b_acks) >= 2
        subscriber.stop()  # A's batches now wait at the broker; only the copies answer them
        task_a = asyncio.create_task(engine_a.run())
        await async_wait_until(lambda: copier.copied >= 2 and (
            engine_a.status.failures >= 1 or engine_a.status.acked_seq != 0), 20,
            "B's acks copied onto A's topic, then an ack timeout")
        assert engine_a.status.acked_seq == 0, "gateway B's ack moved gateway A's cursor"
        assert Outbox(store_a.db).acked_seq("county") == 0
        copier.stop()
        subscriber.start()  # the real receiver answers A
        await async_wait_until(lambda: engine_a.status.acked_seq == store_a.last_seq, 60,
                               "A delivered once the receiver answers it")
    finally:
        for engine in (engine_a, engine_b):
            engine.stop()
        await task_b
        if "task_a" in locals():
            await task_a
        subscriber.stop()
    assert_delivered_exactly_once(receiver, store_a)
    receiver.close()
    broker.stop()
    store_a.writer.close()
    store_b.writer.close()


ACK = {"status": "stored", "gateway": GATEWAY, "acked_seq": 160, "nonce": 7, "first_seq": 1,
       "last_seq": 160, "stored": 160, "reason": "", "code": 200, "last_nonce": None}


@pytest.mark.parametrize(("change", "problem"), [
    ({}, None),
    ({"gateway": OTHER}, "for gateway '150602-0018'"),
    ({"nonce": 8, "first_seq": 161, "last_seq": 320, "acked_seq": 320}, "answers batch nonce 8"),
    ({"nonce": 8}, None),  # stored, same seq range: a resend's ack (MQTT) answers it as well
    ({"nonce": 8, "status": "rejected", "code": 409}, "answers batch nonce 8"),
    ({"first_seq": 161, "last_seq": 320}, "seq 161..320"),
])
def test_an_ack_answers_only_its_own_gateway_and_batch(change, problem):
    ack = AckMessage.from_json(json.dumps(ACK | change))
    found = ack_problem(ack, GATEWAY, 7, (1, 160))
    assert found is None if problem is None else problem in found


def test_from_json_keeps_what_the_binding_needs():
    key = Ed25519PrivateKey.generate()
    ack = AckMessage.from_json(json.dumps(sign_ack(key, ACK | {"kind": "fork",
                                                               "fork_seq": 97})),
                               409, key.public_key())
    assert (ack.gateway, ack.first_seq, ack.last_seq, ack.kind, ack.fork_seq) == (
        GATEWAY, 1, 160, "fork", 97)
    with pytest.raises(TransportError):
        AckMessage.from_json(json.dumps(ACK | {"acked_seq": 161}), 200, key.public_key())


# --- a 409 ack claiming more than was sent ----------------------------------------------------

class Answering:
    """A transport whose 'receiver' answers every batch with the ack `answer` makes."""

    name = "city"

    def __init__(self, answer) -> None:
        self.answer = answer
        self.sent: list[tuple[int, tuple[int, int]]] = []

    async def send(self, batch: bytes, nonce: int, seqs: tuple[int, int]) -> AckMessage:
        self.sent.append((nonce, seqs))
        return AckMessage.from_json(json.dumps(self.answer(nonce, seqs)), 409)

    async def close(self) -> None:
        pass


async def test_a_409_ack_beyond_what_was_sent_does_not_move_the_cursor(tmp_path):
    store = make_store(tmp_path, minutes=10)  # 160 records

    def overclaim(nonce: int, seqs: tuple[int, int]) -> dict:
        return ACK | {"status": "rejected", "code": 409, "nonce": nonce, "first_seq": seqs[0],
                      "last_seq": seqs[1], "acked_seq": seqs[1] + 1000, "stored": 0,
                      "reason": "the batch starts at seq 1 but seq 1161 is the next one expected"}

    transport = Answering(overclaim)
    engine = store.engine("city", transport)
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.failures >= 1 or
                               engine.status.acked_seq != 0, 10, "the ack handled")
        await asyncio.sleep(0.2)
    finally:
        engine.stop()
        await task
    assert engine.status.acked_seq == 0
    assert Outbox(store.db).acked_seq("city") == 0
    assert "1160" in engine.status.last_error and "160" in engine.status.last_error
    store.writer.close()
