"""MQTT transport (paho-mqtt): batches on <prefix>/<gateway>/batch, acks on <prefix>/<gateway>/ack.

QoS 1 both ways and a persistent session (clean_session false, a fixed client id), so the broker
keeps batches for a receiver that is away and acks for a gateway that is away. A batch the
broker has taken (PUBACK) is not published again while the connection lasts (up to
REPUBLISH_AFTER_TIMEOUTS ack timeouts): the engine's resend after an ack timeout then only waits
longer, because the broker will hand the batch to the receiver when it comes back (the link is
paid per megabyte). After a reconnection it is published again (the receiver de-duplicates by
seq). An ack answers the batch with its nonce or, stored or duplicate, any copy of the same seq
range, also one that arrives while no send is waiting (it is kept for the next). An ack naming
another gateway is ignored, and one that does not answer the batch sent is a TransportError
(transport.py ack_problem).

Nothing here blocks the event loop or a worker thread on the network: send() waits by polling
(so cancelling it ends the wait at once), and close() gives paho's network thread CLOSE_WAIT
seconds to end (one stuck connecting to a black hole is a daemon thread: it ends with the
process), so `wellgate run` stops in time whatever the broker does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.uplink.connect_failure import connect_failure
from gateway.uplink.transport import AckMessage, TransportError, ack_problem

log = logging.getLogger(__name__)

KEEPALIVE = 30
REPUBLISH_AFTER_TIMEOUTS = 10
POLL = 0.05  # s between looks at paho's state while send() waits
CLOSE_WAIT = 1.0  # s close() waits for paho's network thread to end


def batch_topic(prefix: str, gateway: str) -> str:
    return f"{prefix}/{gateway}/batch"


def ack_topic(prefix: str, gateway: str) -> str:
    return f"{prefix}/{gateway}/ack"


class MqttTransport:
    def __init__(self, name: str, host: str, port: int, gateway: str, prefix: str,
                 timeout: float, context: ssl.SSLContext | None = None,
                 username: str | None = None, password: str | None = None,
                 client_id: str | None = None,
                 platform_key: Ed25519PublicKey | None = None) -> None:
        self.name = name
        self.platform_key = platform_key  # acks must be signed with it (acksign.py)
        self.timeout = timeout
        self.gateway = gateway
        self.batch_topic = batch_topic(prefix, gateway)
        self.ack_topic = ack_topic(prefix, gateway)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[tuple[int, int], asyncio.Future[AckMessage]]] = {}
        # seqs -> (connection it was taken in, when): the batch the broker holds for us
        self._published: dict[tuple[int, int], tuple[int, float]] = {}
        self._answered: dict[tuple[int, int], AckMessage] = {}  # acks no send was waiting for
        self._generation = 0
        self._connected = threading.Event()
        self._failed = threading.Event()  # the last attempt to connect failed (last_disconnect)
        self.last_disconnect = ""
        self.where = (host, port, context is not None)
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"wellgate-{gateway}-{name}",
                                  clean_session=False, protocol=mqtt.MQTTv311)
        if context is not None:
            self.client.tls_set_context(context)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.connect_async(host, port, keepalive=KEEPALIVE)
        self.client.loop_start()

    # --- paho's thread ---------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.last_disconnect = f"broker refused the connection: {reason_code}"
            self._failed.set()
            return
        self._failed.clear()
        with self._lock:
            self._generation += 1
        client.subscribe(self.ack_topic, qos=1)
        self._connected.set()

    def _on_connect_fail(self, client, userdata) -> None:
        # paho calls this inside its `except OSError:` around the connect: the error is current
        self.last_disconnect = connect_failure(sys.exc_info()[1], *self.where)
        self._failed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        self.last_disconnect = f"disconnected from the broker: {reason_code}"

    def _on_message(self, client, userdata, message) -> None:
        try:
            ack = AckMessage.from_json(message.payload, platform_key=self.platform_key)
        except TransportError as exc:  # not an ack, or not the platform's: the cursor stays
            log.warning("uplink %s: message on %s: %s", self.name, self.ack_topic, exc)
            return
        if ack.gateway != self.gateway:
            log.warning("uplink %s: an ack for gateway %r on %s: ignored", self.name,
                        ack.gateway[:64], self.ack_topic)
            return
        seqs = _seqs_of(message.payload)
        with self._lock:
            matched = [future for nonce, (sent, future) in self._waiting.items()
                       if nonce == ack.nonce or (ack.status != "rejected" and sent == seqs)]
            if not matched and ack.status != "rejected" and seqs is not None:
                self._answered = {seqs: ack}
        loop = self._loop
        if loop is not None:
            for future in matched:
                loop.call_soon_threadsafe(_resolve, future, ack)

    # --- the engine's side -----------------------------------------------------------------------

    async def send(self, batch: bytes, nonce: int, seqs: tuple[int, int]) -> AckMessage:
        self._loop = asyncio.get_running_loop()
        future: asyncio.Future[AckMessage] = self._loop.create_future()
        with self._lock:
            self._waiting[nonce] = (seqs, future)
        try:
            if not await _until(lambda: self._connected.is_set() or self._failed.is_set(),
                                self.timeout):
                raise TransportError(f"not connected to the broker within {self.timeout:g} s"
                                     + (f" ({self.last_disconnect})" if self.last_disconnect
                                        else ""))
            if not self._connected.is_set():  # the attempt failed: say why now, not at timeout
                raise TransportError(self.last_disconnect)
            with self._lock:
                early = self._answered.pop(seqs, None)
                taken = self._published.get(seqs)
                fresh = (taken is not None and taken[0] == self._generation and time.monotonic()
                         - taken[1] < REPUBLISH_AFTER_TIMEOUTS * self.timeout)
            if early is not None:
                return _answering(early, self.gateway, nonce, seqs)
            if not fresh:
                info = self.client.publish(self.batch_topic, batch, qos=1)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    raise TransportError(f"publish failed: {mqtt.error_string(info.rc)}")
                generation = self._generation
                if not await _until(info.is_published, self.timeout):
                    raise TransportError(f"the broker did not take the batch within "
                                         f"{self.timeout:g} s")
                with self._lock:
                    self._published = {seqs: (generation, time.monotonic())}
            try:
                return _answering(await asyncio.wait_for(future, self.timeout), self.gateway,
                                  nonce, seqs)
            except TimeoutError:
                raise TransportError(f"no ack within {self.timeout:g} s (the broker holds the "
                                     "batch for the receiver)") from None
        except (RuntimeError, ValueError) as exc:  # paho: not connected, queue full
            raise TransportError(f"publish failed: {exc}") from None
        finally:
            with self._lock:
                self._waiting.pop(nonce, None)

    async def close(self) -> None:
        """Disconnect and stop paho's thread, waiting for it at most CLOSE_WAIT seconds."""
        with contextlib.suppress(Exception):
            self.client.disconnect()
        stopper = threading.Thread(target=self.client.loop_stop, daemon=True,
                                   name=f"mqtt-stop-{self.name}")
        stopper.start()
        if not await _until(lambda: not stopper.is_alive(), CLOSE_WAIT):
            log.info("uplink %s: paho's network thread still busy (connecting?); left to end "
                     "with the process", self.name)


async def _until(condition: Callable[[], bool], timeout: float) -> bool:
    """Wait until condition() holds (True) or `timeout` seconds pass (False), by polling."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


def _resolve(future: asyncio.Future[AckMessage], ack: AckMessage) -> None:
    if not future.done():
        future.set_result(ack)


def _answering(ack: AckMessage, gateway: str, nonce: int, seqs: tuple[int, int]) -> AckMessage:
    problem = ack_problem(ack, gateway, nonce, seqs)
    if problem is not None:
        raise TransportError(f"{problem}: ignored")
    return ack


def _seqs_of(payload: bytes) -> tuple[int, int] | None:
    try:
        data = json.loads(payload)
        return int(data["first_seq"]), int(data["last_seq"])
    except (ValueError, KeyError, TypeError):
        return None
