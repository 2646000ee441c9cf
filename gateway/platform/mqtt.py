"""The receiver's MQTT side: take batches from <prefix>/+/batch, answer on <prefix>/<gateway>/ack.

A persistent session (clean_session false, a fixed client id) with QoS 1, so batches published
while the receiver is away wait at the broker. A batch is acknowledged to the broker (PUBACK)
only after the receiver has stored it and published its ack (paho's manual acknowledgement),
so a crash in between gets the batch delivered again, and it is de-duplicated by seq.

Every message is acknowledged to the broker once handled, refusals included, and whatever goes
wrong while handling it is logged, never raised into paho's thread (that would end the intake
while `serve` stays up, and the broker would hand the same message over after every restart):
a message that cannot be handled is dropped with its event, and the gateway, which sees no ack
(or a refusal), sends its records again in a new batch of its own.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading

import paho.mqtt.client as mqtt

from gateway.platform.receiver import Receiver
from gateway.uplink.mqtt import ack_topic

log = logging.getLogger(__name__)


class MqttReceiver:
    def __init__(self, receiver: Receiver, host: str, port: int, prefix: str = "wellgate",
                 client_id: str = "wellgate-platform", context: ssl.SSLContext | None = None,
                 username: str | None = None, password: str | None = None) -> None:
        self.receiver = receiver
        self.prefix = prefix
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False, protocol=mqtt.MQTTv311,
                                  manual_ack=True)
        if context is not None:
            self.client.tls_set_context(context)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self._address = (host, port)

    def start(self) -> None:
        self.client.connect_async(*self._address, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.error("broker %s:%d refused the receiver: %s", *self._address, reason_code)
            return
        client.subscribe(f"{self.prefix}/+/batch", qos=1)
        self.connected.set()
        log.info("receiving from broker %s:%d", *self._address)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connected.clear()
        log.warning("lost broker %s:%d: %s", *self._address, reason_code)

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._handle(client, message)
        except Exception:  # never into paho's thread: that would stop the intake
            log.exception("message on %s could not be handled: dropped", message.topic)
        finally:
            try:
                client.ack(message.mid, message.qos)
            except Exception:
                log.exception("cannot acknowledge message %s to the broker", message.mid)

    def _handle(self, client, message) -> None:
        ack = self.receiver.accept(message.payload, "mqtt")
        topic_gateway = message.topic[len(self.prefix) + 1:].rsplit("/", 1)[0]
        if ack.gateway and ack.gateway != topic_gateway:
            log.warning("batch on %s names gateway %r: acked on its own topic", message.topic,
                        ack.gateway[:64])
        # Acks go to the topic of the gateway the batch names, if it is registered (its
        # signature proved it), or else to the topic it came on.
        gateway = ack.gateway if ack.gateway in self.receiver.keys else topic_gateway
        client.publish(ack_topic(self.prefix, gateway),
                       json.dumps(self.receiver.ack_body(ack)).encode("utf-8"), qos=1)
