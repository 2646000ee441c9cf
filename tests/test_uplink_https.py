"""Uplink over HTTPS against the real receiver: faults on the way, and every record arrives once.

Each test ends with assert_delivered_exactly_once: every record of the gateway's store at the
receiver, once, in seq order, equal to the store's row, and the chain and block signatures
verified again from the receiver's own tables.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time

import pytest
from uplink_support import (
    GATEWAY,
    HttpsReceiver,
    assert_delivered_exactly_once,
    async_wait_until,
    make_store,
    make_tls,
)

from gateway.uplink.engine import Limits
from gateway.uplink.outbox import Outbox


@pytest.fixture
def setup(tmp_path):
    store = make_store(tmp_path, minutes=120)  # 1920 records in 120 blocks
    tls = make_tls(tmp_path / "tls")
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             tls)
    yield store, receiver
    receiver.close()
    store.writer.close()


async def deliver(store, receiver, engine, timeout: float = 40.0) -> None:
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, timeout,
                               "every record acknowledged")
    finally:
        engine.stop()
        await task


async def test_plain_delivery_moves_the_cursor_in_the_store(setup):
    store, receiver = setup
    receiver.start()
    engine = store.engine("city", receiver.transport())
    await deliver(store, receiver, engine)
    assert_delivered_exactly_once(receiver.receiver, store)
    assert Outbox(store.db).acked_seq("city") == store.last_seq
    assert engine.status.last_error == ""


async def test_receiver_down_for_a_long_outage(setup):
    store, receiver = setup
    engine = store.engine("city", receiver.transport())
    task = asyncio.create_task(engine.run())
    # Down: every attempt fails, the back-off grows to its maximum, the store keeps growing.
    await async_wait_until(lambda: engine.status.state == "backing off", 10, "a failure")
    await asyncio.sleep(1.5)
    store.add_minutes(30)
    assert engine.status.acked_seq == 0 and "127.0.0.1" in engine.status.last_error
    receiver.start()
    try:
        await async_wait_until(lambda: engine.status.acked_seq == store.last_seq, 40,
                               "delivery after the outage")
    finally:
        engine.stop()
        await task
    assert_delivered_exactly_once(receiver.receiver, store)


async def test_receiver_flapping_every_second(setup):
    store, receiver = setup
    engine = store.engine("city", receiver.transport(),
                          Limits(max_records=8, max_age=0, backoff_initial=0.05, backoff_max=0.3))
    stop = threading.Event()
    ups = []

    def flap() -> None:  # down first, then up 0.4 s / down 0.6 s
        while not stop.wait(0.6):
            receiver.start()
            ups.append(engine.status.acked_seq)
            # An up phase ends early once it has let a third of the store through: how much
            # one phase delivers depends on the machine's speed and load, the phases must not.
            until = time.monotonic() + 0.4
            while (time.monotonic() < until and not stop.wait(0.01)
                   and engine.status.acked_seq < ups[-1] + store.last_seq / 3):
                pass
            receiver.stop()
        receiver.start()

    flapper = threading.Thread(target=flap)
    flapper.start()
    try:
        await deliver(store, receiver, engine, timeout=60)
    finally:
        stop.set()
        await asyncio.to_thread(flapper.join)
    assert_delivered_exactly_once(receiver.receiver, store)
    # It met the receiver down several times, and delivered across several up phases.
    assert engine.status.failures >= 3
    assert len({seq for seq in ups if 0 < seq < store.last_seq}) >= 2


async def test_receiver_answering_5xx(setup):
    store, receiver = setup
    receiver.faults.errors = 6
    receiver.start()
    engine = store.engine("city", receiver.transport())
    await deliver(store, receiver, engine)
    assert receiver.faults.log[:6] == ["errors"] * 6
    assert "HTTP 503" in engine.status.last_error
    assert_delivered_exactly_once(receiver.receiver, store)


async def test_ack_lost_after_commit(setup):
    store, receiver = setup
    receiver.faults.lose_ack, receiver.faults.delay = 2, 1.5
    receiver.start()
    engine = store.engine("city", receiver.transport(timeout=0.8))
    await deliver(store, receiver, engine)
    assert receiver.faults.log[:2] == ["lose_ack", "lose_ack"]
    # The resends found their records stored already: the receiver said so, nothing doubled.
    duplicates = receiver.receiver.conn.execute(
        "SELECT count(*) FROM events WHERE kind = 'replay'").fetchone()[0]
    assert duplicates == 0
    assert_delivered_exactly_once(receiver.receiver, store)


async def test_receiver_slower_than_the_timeout(setup):
    store, receiver = setup
    receiver.faults.slow, receiver.faults.delay = 3, 1.2
    receiver.start()
    engine = store.engine("city", receiver.transport(timeout=0.5))
    await deliver(store, receiver, engine)
    assert "no answer" in engine.status.last_error
    assert_delivered_exactly_once(receiver.receiver, store)


async def test_wrong_ca_is_refused_and_nothing_is_stored(setup):
    store, receiver = setup
    receiver.start()
    engine = store.engine("city", receiver.transport(ca_file=receiver.tls.other_ca_file))
    task = asyncio.create_task(engine.run())
    await async_wait_until(lambda: "CERTIFICATE_VERIFY_FAILED" in engine.status.last_error
                           or "certificate verify failed" in engine.status.last_error, 10,
                           "a certificate failure")
    engine.stop()
    await task
    assert engine.status.acked_seq == 0
    assert receiver.receiver.conn.execute("SELECT count(*) FROM records").fetchone()[0] == 0
    assert receiver.faults.requests == 0  # no request ever reached the application


async def test_nothing_is_sent_in_clear_to_a_plain_tcp_server(setup, tmp_path):
    """A server that does not speak TLS sees only a TLS ClientHello: no batch, no gateway id."""
    store, receiver = setup
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    received = bytearray()
    done = threading.Event()

    def accept_and_record() -> None:
        listener.settimeout(0.2)
        while not done.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(0.5)
                try:
                    while chunk := connection.recv(65536):
                        received.extend(chunk)
                        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                except OSError:
                    pass

    thread = threading.Thread(target=accept_and_record, daemon=True)
    thread.start()
    receiver.port = port  # the transport's URL now points at the plain server
    engine = store.engine("city", receiver.transport())
    task = asyncio.create_task(engine.run())
    await async_wait_until(lambda: engine.status.last_error != "", 10, "a TLS failure")
    engine.stop()
    await task
    done.set()
    await asyncio.to_thread(thread.join, 5)
    listener.close()
    assert received[:1] == b"\x16"  # a TLS handshake record, and nothing else
    assert b"WGB1" not in received and GATEWAY.encode() not in received
    assert engine.status.acked_seq == 0
