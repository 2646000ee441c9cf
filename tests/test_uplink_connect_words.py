"""An MQTT uplink that cannot connect says why (issue 14): as found, the default TLS against a
broker's plain-text port gave only "not connected to the broker within 30 s". Now a TLS
handshake to a plain port, a refused connection and a certificate the CA did not sign each say
so, at once. Real mosquitto on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

import pytest
from uplink_support import GATEWAY, Broker, free_port, make_tls

from gateway.uplink.mqtt import MqttTransport
from gateway.uplink.transport import TransportError, tls_context

AS_FOUND_TIMEOUT = 30.0  # the uplink's default timeout: what the installer waited for


async def first_failure(port: int, ca_file) -> tuple[str, float]:
    transport = MqttTransport("county", "127.0.0.1", port, GATEWAY, "wellgate", AS_FOUND_TIMEOUT,
                              tls_context(ca_file))
    started = time.monotonic()
    try:
        with pytest.raises(TransportError) as failed:
            await transport.send(b"{}", 1, (1, 1))
    finally:
        await transport.close()
    return str(failed.value), time.monotonic() - started


def test_tls_to_a_plain_text_broker_says_so(tmp_path):
    broker = Broker(tmp_path / "broker")  # no TLS: the port an installer gave with tls on
    broker.start()
    try:
        message, took = asyncio.run(first_failure(broker.port, None))
    finally:
        broker.stop()
    assert message.startswith(f"TLS handshake with 127.0.0.1:{broker.port} failed"), message
    assert "plain-text port" in message and "tls = false" in message
    assert took < AS_FOUND_TIMEOUT / 3, took


def test_a_refused_connection_says_nothing_listens(tmp_path):
    port = free_port()
    message, took = asyncio.run(first_failure(port, None))
    assert message.startswith(f"connection refused by 127.0.0.1:{port}"), message
    assert took < AS_FOUND_TIMEOUT / 3, took


def test_a_certificate_from_another_ca_says_verify_failed(tmp_path):
    tls = make_tls(tmp_path / "tls")
    broker = Broker(tmp_path / "broker", tls)
    broker.start()
    try:
        message, took = asyncio.run(first_failure(broker.port, tls.other_ca_file))
    finally:
        broker.stop()
    assert message.startswith(f"certificate verify failed at 127.0.0.1:{broker.port}"), message
    assert "ca_file" in message
    assert took < AS_FOUND_TIMEOUT / 3, took
