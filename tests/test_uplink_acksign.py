"""Signed acks (gateway/uplink/acksign.py): a gateway given the platform's ack key moves its
cursor only on acks signed with it. Over MQTT, against a real mosquitto, an ack forged by another
client on the ack topic leaves the cursor where it was; over HTTPS a receiver with another key is
not believed. Plus `wellgate platform keygen` and the receiver config's ack_key."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import paho.mqtt.client as mqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_support import (
    GATEWAY,
    Broker,
    HttpsReceiver,
    assert_delivered_exactly_once,
    async_wait_until,
    make_store,
    make_tls,
    wait_until,
)

from gateway.platform.mqtt import MqttReceiver
from gateway.platform.receiver import Receiver
from gateway.uplink.acksign import ack_signature_problem, sign_ack
from gateway.uplink.https import HttpsTransport
from gateway.uplink.mqtt import MqttTransport, ack_topic, batch_topic
from gateway.uplink.transport import AckMessage, TransportError, tls_context
from gateway.uplink.wire import open_envelope

ACK = {"status": "stored", "gateway": GATEWAY, "acked_seq": 960, "nonce": 7, "first_seq": 1,
       "last_seq": 960, "stored": 960, "reason": "", "code": 200, "last_nonce": None}


# --- the signature itself ------------------------------------------------------------------------

def test_a_signed_ack_verifies_and_any_change_or_other_key_does_not():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    signed = sign_ack(key, ACK)
    assert ack_signature_problem(key.public_key(), signed) is None
    assert ack_signature_problem(key.public_key(), json.loads(json.dumps(signed))) is None
    assert "does not verify" in ack_signature_problem(key.public_key(),
                                                      {**signed, "acked_seq": 961})
    assert "does not verify" in ack_signature_problem(other.public_key(), signed)
    assert "not signed" in ack_signature_problem(key.public_key(), ACK)
    assert "does not verify" in ack_signature_problem(key.public_key(),
                                                      {**signed, "signature": "zz"})


def test_from_json_takes_a_signed_ack_and_refuses_an_unsigned_one_when_given_the_key():
    key = Ed25519PrivateKey.generate()
    body = json.dumps(sign_ack(key, ACK)).encode()
    assert AckMessage.from_json(body, 200, key.public_key()).acked_seq == 960
    with pytest.raises(TransportError, match="not signed"):
        AckMessage.from_json(json.dumps(ACK), 200, key.public_key())
    assert AckMessage.from_json(json.dumps(ACK), 200).acked_seq == 960  # no key: as before


# --- MQTT: a forged ack on the ack topic ---------------------------------------------------------

class Intruder:
    """Another client of the broker: it reads the batches the gateway publishes (their header is
    signed, not secret) and answers each with a forged ack for exactly that batch."""

    def __init__(self, port: int, forge) -> None:
        self.forge = forge  # header -> the forged ack (a dict)
        self.forged = 0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="intruder")
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(batch_topic("wellgate", GATEWAY), qos=1)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        header = open_envelope(message.payload).header
        client.publish(ack_topic("wellgate", GATEWAY), json.dumps(self.forge(header)).encode(),
                       qos=1)
        self.forged += 1

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _claim(header: dict) -> dict:
    """An ack saying the whole batch is stored: what a forger wants the gateway to believe."""
    return ACK | {"nonce": header["nonce"], "first_seq": header["first_seq"],
                  "last_seq": header["last_seq"], "acked_seq": header["last_seq"]}


@pytest.mark.parametrize("forge", [_claim, lambda h: sign_ack(Ed25519PrivateKey.generate(),
                                                               _claim(h))],
                         ids=["unsigned", "another-key"])
async def test_a_forged_ack_on_the_broker_does_not_move_the_cursor(tmp_path, forge):
    broker = Broker(tmp_path / "broker")
    broker.start()
    store = make_store(tmp_path, minutes=60)
    platform_key = Ed25519PrivateKey.generate()
    transport = MqttTransport("county", "127.0.0.1", broker.port, GATEWAY, "wellgate", 2.0,
                              platform_key=platform_key.public_key())
    engine = store.engine("county", transport)
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                        ack_key=platform_key)
    subscriber = MqttReceiver(receiver, "127.0.0.1", broker.port)
    subscriber.start()  # once, so the broker keeps its session while it is away
    wait_until(subscriber.connected.is_set, 10, "the receiver's subscription")
    subscriber.stop()
    intruder = Intruder(broker.port, forge)
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: intruder.forged >= 1 and engine.status.failures >= 1,
                               20, "a forged ack, then an ack timeout")
        assert engine.status.acked_seq == 0, "a forged ack moved the cursor"
        intruder.stop()
        subscriber.start()  # the real receiver is back: its signed acks are taken
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 60,
                               "delivery once the real receiver answers")
    finally:
        engine.stop()
        await task
        subscriber.stop()
    assert_delivered_exactly_once(receiver, store)
    receiver.close()
    broker.stop()
    store.writer.close()


# --- HTTPS: a receiver with another ack key ---------------------------------------------------

async def test_https_acks_signed_with_another_key_are_not_believed(tmp_path):
    tls = make_tls(tmp_path / "tls")
    store = make_store(tmp_path, minutes=30)
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             tls)
    receiver.receiver.ack_key = Ed25519PrivateKey.generate()
    receiver.start()
    expected = Ed25519PrivateKey.generate().public_key()  # what the gateway was told
    engine = store.engine("city", HttpsTransport("city", receiver.url, tls_context(tls.ca_file),
                                                 2.0, platform_key=expected))
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: "does not verify" in engine.status.last_error, 20,
                               "the ack refused")
        assert engine.status.acked_seq == 0
    finally:
        engine.stop()
        await task
        receiver.close()
        store.writer.close()


# --- keygen and the receiver config -----------------------------------------------------------

def _wellgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *args], capture_output=True,
                          text=True, timeout=60)


def test_keygen_makes_the_ack_key_once_and_serve_wants_it(tmp_path):
    config = tmp_path / "platform.toml"
    config.write_text('[receiver]\nack_key = "keys/ack.key"\n\n[https]\nport = 8443\n'
                      'certificate = "server.pem"\nprivate_key = "server.key"\n')
    (tmp_path / "server.pem").write_text("x")
    (tmp_path / "server.key").write_text("x")
    missing = _wellgate("platform", "serve", "--config", str(config))
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "receiver.ack_key" in missing.stderr and "wellgate platform keygen" in missing.stderr
    made = _wellgate("platform", "keygen", "--config", str(config))
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "keys/ack.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "keys/ack.pub").read_text() in made.stdout + "\n"
    assert "fingerprint SHA256:" in made.stdout and "PRIVATE" not in made.stdout
    again = _wellgate("platform", "keygen", "--config", str(config))
    assert again.returncode == 1 and "already exists" in again.stderr
