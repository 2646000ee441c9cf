"""Uplink over MQTT through a real mosquitto (started by the test on a free port) to the receiver.

Skipped where mosquitto is not installed, except in CI (CI=true), where that fails.
"""

from __future__ import annotations

import asyncio

import pytest
from uplink_support import (
    GATEWAY,
    Broker,
    assert_delivered_exactly_once,
    async_wait_until,
    make_store,
    make_tls,
    wait_until,
)

from gateway.platform.mqtt import MqttReceiver
from gateway.platform.receiver import Receiver
from gateway.uplink.transport import tls_context


@pytest.fixture
def setup(tmp_path):
    broker = Broker(tmp_path / "broker")
    broker.start()
    store = make_store(tmp_path, minutes=120)
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    subscriber = MqttReceiver(receiver, "127.0.0.1", broker.port)
    subscriber.start()
    wait_until(subscriber.connected.is_set, 10, "the receiver's subscription")
    yield store, broker, receiver, subscriber
    subscriber.stop()
    receiver.close()
    broker.stop()
    store.writer.close()


async def run_until_delivered(store, engine, timeout: float = 40.0) -> None:
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, timeout,
                               "every record acknowledged")
    finally:
        engine.stop()
        await task


async def test_delivery_through_the_broker(setup):
    store, broker, receiver, _ = setup
    engine = store.engine("county", broker.transport())
    await run_until_delivered(store, engine)
    assert_delivered_exactly_once(receiver, store)


async def test_broker_restarted_mid_run(setup):
    store, broker, receiver, _ = setup
    engine = store.engine("county", broker.transport())
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.acked_seq > 0, 20, "a first ack")
        broker.stop()
        store.add_minutes(20)
        await asyncio.sleep(1.5)
        assert engine.status.acked_seq < store.last_seq
        broker.start()
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 60,
                               "delivery after the broker came back")
    finally:
        engine.stop()
        await task
    assert "broker" in engine.status.last_error or "ack" in engine.status.last_error
    assert_delivered_exactly_once(receiver, store)


async def test_receiver_away_batches_wait_at_the_broker(setup):
    """The receiver's persistent session: what is published while it is away reaches it after."""
    store, broker, receiver, subscriber = setup
    subscriber.stop()
    engine = store.engine("county", broker.transport(timeout=1.0))
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.failures >= 2, 20, "ack timeouts")
        assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
        subscriber.start()
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 60,
                               "delivery once the receiver is back")
    finally:
        engine.stop()
        await task
    assert_delivered_exactly_once(receiver, store)


async def test_broker_over_tls_and_a_wrong_ca_refused(tmp_path):
    """The broker's TLS listener: the right CA delivers; another CA never gets a batch out."""
    tls = make_tls(tmp_path / "tls")
    broker = Broker(tmp_path / "broker", tls)
    broker.start()
    store = make_store(tmp_path, minutes=30)
    receiver = Receiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()})
    subscriber = MqttReceiver(receiver, "127.0.0.1", broker.port,
                              context=tls_context(tls.ca_file))
    subscriber.start()
    try:
        wait_until(subscriber.connected.is_set, 10, "the receiver over TLS")
        wrong = store.engine("county", broker.transport(timeout=1.0, ca_file=tls.other_ca_file))
        task = asyncio.create_task(wrong.run())
        await async_wait_until(lambda: wrong.status.failures >= 2, 20, "refused connections")
        wrong.stop()
        await task
        assert wrong.status.last_error.startswith("certificate verify failed at 127.0.0.1:")
        assert receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0

        engine = store.engine("county", broker.transport(ca_file=tls.ca_file))
        await run_until_delivered(store, engine)
        assert_delivered_exactly_once(receiver, store)
    finally:
        subscriber.stop()
        receiver.close()
        broker.stop()
        store.writer.close()
