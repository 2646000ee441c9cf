"""sd_notify and the watchdog in-process: the protocol against a fake NOTIFY_SOCKET, the progress
check, and run_gateway over the simulated well with a bus loop made to hang and a writer thread
made to stick.

No hang of the bus loop can be caused from outside the process: every transport read and write
has its deadline (a silent, slow or stopped meter times out, is counted, and the poller goes on:
tests/test_notify_run.py shows that keeps the watchdog fed). So the hang here is a transport
whose read awaits until the test lets it go, swapped in while the gateway runs; the stuck writer
is the store's own on_commit hook blocking its thread."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid

import pytest
from notify_support import FakeSystemd, gaps

from gateway.config import StoreSection, load_config
from gateway.daemon import Progress, run_gateway, stalls
from gateway.notify import Notifier, watchdog_interval
from gateway.simulator import SimulatedWell
from gateway.store import StoreSink, create_key

SITE = """
[well]
id = "150602-0099"

[gateway]
runtime_dir = "{folder}/run"
state_dir = "{folder}/state"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "/dev/ttyUSB0"
timeout = 0.2
retries = 0

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 0.3
points = ["flow_rate", "forward_total"]
"""
WATCHDOG = 1.0  # s: WATCHDOG=1 every 0.5 s


def _abstract() -> str:
    return f"@wellgate-test-{uuid.uuid4().hex[:12]}"


# --- the protocol ---------------------------------------------------------------------------

def test_a_message_reaches_an_abstract_socket_and_a_path(tmp_path):
    for address in (_abstract(), str(tmp_path / "notify.sock")):
        systemd = FakeSystemd(address)
        try:
            assert Notifier(address).ready("polling 1 bus")
            systemd.wait_for("READY=1", 5)
            assert systemd.messages[0][1] == "READY=1\nSTATUS=polling 1 bus"
        finally:
            systemd.close()


def test_a_reload_says_reloading_with_the_monotonic_clock_in_microseconds(tmp_path):
    """sd_notify(3): RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>, read here from
    the clock itself on both sides of the call."""
    systemd = FakeSystemd(tmp_path / "notify.sock")
    try:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert Notifier(systemd.address).reloading("reloading gateway.toml")
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        systemd.wait_for("RELOADING=1", 5)
        lines = systemd.messages[0][1].split("\n")
        assert lines[0] == "RELOADING=1" and lines[2] == "STATUS=reloading gateway.toml", lines
        key, _, usec = lines[1].partition("=")
        assert key == "MONOTONIC_USEC" and usec.isdigit(), lines
        assert before <= int(usec) <= after
    finally:
        systemd.close()


def test_without_notify_socket_nothing_is_sent():
    notifier = Notifier.from_environment({})
    assert not notifier.enabled and notifier.watchdog is None
    assert not notifier.ready("x") and not notifier.alive() and not notifier.stopping()


def test_a_missing_socket_is_logged_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "nobody-listens.sock"))
    with caplog.at_level(logging.DEBUG, logger="gateway.notify"):
        assert not notifier.ready("x")
        assert not notifier.alive()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "nobody-listens.sock" in warnings[0].getMessage()


@pytest.mark.parametrize("environ, expected", [
    ({}, None),
    ({"WATCHDOG_USEC": "30000000"}, 30.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}, 2.0),
    ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),  # another process's watchdog
    ({"WATCHDOG_USEC": "soon"}, None),
    ({"WATCHDOG_USEC": "0"}, None),
])
def test_the_watchdog_interval_from_the_environment(environ, expected):
    assert watchdog_interval(environ) == expected


# --- the progress check ---------------------------------------------------------------------

def _look(at, transactions=5, due=0.0, commits=3, waiting=10, failing=False):
    return Progress(at, {"rs485-1": transactions}, {"rs485-1": due}, commits, waiting, failing)


def test_counts_that_move_are_progress():
    assert stalls(_look(10), _look(20, transactions=6, commits=4)) == []


def test_a_bus_with_a_poll_due_and_no_new_transaction_stalls():
    assert stalls(_look(10, due=9), _look(20, due=9, commits=4)) == [
        "bus rs485-1 started no transaction in 10 s with a poll due"]


def test_an_idle_bus_waiting_for_its_next_poll_does_not_stall():
    # an offline device in back-off: nothing due until later
    assert stalls(_look(10, due=60), _look(20, due=60, commits=4)) == []


def test_a_store_with_readings_waiting_and_no_commit_stalls():
    assert stalls(_look(10), _look(20, transactions=6)) == [
        "the store committed nothing in 10 s with 10 readings waiting"]


def test_a_store_with_nothing_to_commit_or_a_failing_disk_does_not_stall():
    assert stalls(_look(10, waiting=0), _look(20, transactions=6, waiting=0)) == []
    assert stalls(_look(10, failing=True), _look(20, transactions=6, failing=True)) == []


# --- run_gateway under a fake systemd -------------------------------------------------------

async def _run(tmp_path, monkeypatch, scenario, on_commit=None):
    """run_gateway over the simulated well with NOTIFY_SOCKET and WATCHDOG_USEC set; `scenario`
    gets the running Acquisition and the fake systemd and returns when the run should stop."""
    address = _abstract()
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", str(int(WATCHDOG * 1_000_000)))
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    (tmp_path / "site.toml").write_text(SITE.format(folder=tmp_path))
    config = load_config(tmp_path / "site.toml")
    create_key(tmp_path / "state")
    store = StoreSink(tmp_path / "state", StoreSection(commit_interval=0.3), on_commit=on_commit)
    well = SimulatedWell.from_config(config, seed=3, time_scale=1)
    await well.start()
    systemd = FakeSystemd(address)
    running = {}
    try:
        gateway = asyncio.create_task(run_gateway(
            config, store, well.ports(), tick=lambda acq: running.setdefault("acq", acq),
            tick_every=0.1, write_health=False))
        while "acq" not in running:
            await asyncio.sleep(0.05)
        await scenario(running["acq"], systemd)
        running["acq"].stop()
        await gateway
    finally:
        systemd.close()
        await well.stop()
        await asyncio.to_thread(store.close)
    return systemd


async def _wait(systemd: FakeSystemd, field: str, timeout: float, after: float = 0.0) -> float:
    deadline = time.monotonic() + timeout
    while not systemd.times(field, after):
        assert time.monotonic() < deadline, f"no {field} in {timeout} s: {systemd.messages}"
        await asyncio.sleep(0.05)
    return systemd.times(field, after)[0]


def _check_stop_and_resume(systemd, stuck_at, released_at, what):
    """WATCHDOG=1 came every half interval, stopped soon after `stuck_at`, stayed away for
    longer than systemd waits, and came back after `released_at`."""
    before = systemd.times("WATCHDOG=1")
    before = [t for t in before if t < stuck_at]
    assert len(before) >= 4 and max(gaps(before)) < WATCHDOG * 0.9, before
    last = max(t for t in systemd.times("WATCHDOG=1") if t < released_at)
    silence = released_at - last
    print(f"{what}: WATCHDOG=1 every {sum(gaps(before)) / len(gaps(before)):.2f} s; the last "
          f"{last - stuck_at:.2f} s after the hang, then none for {silence:.2f} s "
          f"(systemd waits {WATCHDOG} s)")
    assert last - stuck_at < 3.0
    assert silence > 2 * WATCHDOG
    stalled = [text for _, text in systemd.messages if text.startswith("STATUS=stalled")]
    assert stalled, systemd.messages
    assert systemd.times("WATCHDOG=1", after=released_at), "the watchdog came back"
    assert systemd.times("STOPPING=1")


async def test_a_hung_bus_loop_stops_the_watchdog(tmp_path, monkeypatch, caplog):
    marks = {}

    async def scenario(acquisition, systemd):
        await _wait(systemd, "READY=1", 10)
        await asyncio.sleep(2.5)
        transport = acquisition.pollers[0].transport
        released = asyncio.Event()
        real_read = transport.read

        async def read_that_hangs(*args):
            await released.wait()
            return await real_read(*args)

        transport.read = read_that_hangs
        marks["stuck"] = time.monotonic()
        await asyncio.sleep(5.0)
        del transport.read
        released.set()
        marks["released"] = time.monotonic()
        await _wait(systemd, "WATCHDOG=1", 5, after=marks["released"])

    systemd = await _run(tmp_path, monkeypatch, scenario)
    assert "bus rs485-1 started no transaction" in next(
        text for _, text in systemd.messages if text.startswith("STATUS=stalled"))
    _check_stop_and_resume(systemd, marks["stuck"], marks["released"], "hung bus loop")
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "gateway.daemon"]
    assert [level for level, _ in said] == [logging.ERROR, logging.WARNING], said  # once each
    assert "bus rs485-1 started no transaction" in said[0][1]
    assert "progress again" in said[1][1]


async def test_a_stuck_writer_thread_stops_the_watchdog(tmp_path, monkeypatch):
    stick, unstick = threading.Event(), threading.Event()
    marks = {}

    def on_commit(block) -> None:  # runs on the writer thread, after each commit
        if stick.is_set():
            unstick.wait(30)

    async def scenario(acquisition, systemd):
        await _wait(systemd, "READY=1", 10)
        await asyncio.sleep(2.5)
        stick.set()
        marks["stuck"] = time.monotonic()
        await asyncio.sleep(5.0)
        stick.clear()
        unstick.set()
        marks["released"] = time.monotonic()
        await _wait(systemd, "WATCHDOG=1", 5, after=marks["released"])

    systemd = await _run(tmp_path, monkeypatch, scenario, on_commit=on_commit)
    assert "the store committed nothing" in next(
        text for _, text in systemd.messages if text.startswith("STATUS=stalled"))
    _check_stop_and_resume(systemd, marks["stuck"], marks["released"], "stuck writer thread")


async def test_without_notify_socket_the_gateway_runs_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    sent = []
    real_send = Notifier.send

    def send(self, *fields):
        result = real_send(self, *fields)
        sent.append((fields, result))
        return result

    monkeypatch.setattr(Notifier, "send", send)
    (tmp_path / "site.toml").write_text(SITE.format(folder=tmp_path))
    config = load_config(tmp_path / "site.toml")
    create_key(tmp_path / "state")
    store = StoreSink(tmp_path / "state", StoreSection(commit_interval=0.3))
    well = SimulatedWell.from_config(config, seed=3, time_scale=1)
    await well.start()
    try:
        await run_gateway(config, store, well.ports(), seconds=2.0, tick_every=0.1,
                          write_health=False)
    finally:
        await well.stop()
        await asyncio.to_thread(store.close)
    assert store.stats.committed_records > 0
    assert [fields[0] for fields, _ in sent] == ["READY=1", "STOPPING=1"]
    assert not any(result for _, result in sent)
