"""UplinkEngine.drain(), a planned stop's last delivery (issue 16), against the real receiver:
a reachable receiver gets everything the store holds, batch_max_age or not, and the engine ends
by itself; an unreachable one ends the engine at once with its cursor where it was."""

from __future__ import annotations

import asyncio
import socket
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

from gateway.simulator.backlog import START_WALL
from gateway.uplink.engine import Limits
from gateway.uplink.https import HttpsTransport
from gateway.uplink.outbox import Outbox
from gateway.uplink.transport import tls_context

PATIENT = Limits(max_records=50_000, max_bytes=1 << 20, max_age=3600.0, backoff_initial=60.0,
                 backoff_max=60.0)  # nothing goes before an hour: only drain() sends


@pytest.fixture
def setup(tmp_path):
    store = make_store(tmp_path, minutes=10)
    tls = make_tls(tmp_path / "tls")
    receiver = HttpsReceiver(tmp_path / "platform.db", {GATEWAY: store.writer.key.public_key()},
                             tls)
    yield store, receiver
    receiver.close()
    store.writer.close()


async def test_drain_sends_what_waits_for_its_age_and_ends_by_itself(setup):
    store, receiver = setup
    receiver.start()
    engine = store.engine("city", receiver.transport(), PATIENT)
    engine.clock = lambda: START_WALL  # the records are the newest there are: none is old
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.state == "waiting", 10, "a batch waiting")
        store.add_minutes(2)  # committed after the batch was first read: it goes too
        assert receiver.faults.requests == 0
        engine.drain()
        await asyncio.wait_for(asyncio.shield(task), 10)
    finally:
        engine.stop()
        await task
    assert_delivered_exactly_once(receiver.receiver, store)
    assert Outbox(store.db).acked_seq("city") == store.last_seq


async def test_drain_of_an_unreachable_receiver_ends_at_once_and_keeps_the_cursor(setup):
    store, receiver = setup  # never started: nothing listens on its port
    limits = Limits(max_records=50_000, max_bytes=1 << 20, max_age=0.0, backoff_initial=60.0,
                    backoff_max=60.0)
    engine = store.engine("city", receiver.transport(), limits)
    task = asyncio.create_task(engine.run())
    try:
        await async_wait_until(lambda: engine.status.state == "backing off", 10, "a failure")
        started = time.monotonic()
        engine.drain()
        await asyncio.wait_for(asyncio.shield(task), 5)
        took = time.monotonic() - started
    finally:
        engine.stop()
        await task
    assert took < 1.5, took  # not the 60 s back-off, not the caller's drain budget
    assert Outbox(store.db).acked_seq("city") == 0


async def test_drain_does_not_wait_for_a_receiver_that_never_answered(setup):
    """A listener that never accepts (the kernel still completes the TCP handshake): the batch
    in flight has had no answer since the start, so drain() ends the engine at once, not at the
    transport's 30 s timeout nor at the caller's budget; the cursor stays."""
    store, _ = setup
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(8)
    try:
        transport = HttpsTransport("city", f"https://127.0.0.1:{hole.getsockname()[1]}/v1/b",
                                   tls_context(store.state_dir.parent / "tls" / "ca.pem"), 30.0)
        limits = Limits(max_records=50_000, max_bytes=1 << 20, max_age=0.0)
        engine = store.engine("city", transport, limits)
        task = asyncio.create_task(engine.run())
        try:
            await async_wait_until(lambda: engine.status.state == "sending", 10, "a send")
            await asyncio.sleep(0.5)
            started = time.monotonic()
            engine.drain()
            await asyncio.wait_for(asyncio.shield(task), 5)
            took = time.monotonic() - started
        finally:
            engine.stop()
            await task
    finally:
        hole.close()
    assert took < 1.5, took
    assert Outbox(store.db).acked_seq("city") == 0
