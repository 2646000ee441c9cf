"""The gateway's log under journald, a flapping meter, and secrets (issue 13, Logs).

The journal here is a Unix datagram socket the test binds ($WELLGATE_JOURNAL_SOCKET), read with a
parser of systemd's native protocol written from its description
(https://systemd.io/JOURNAL_NATIVE_PROTOCOL/), not the gateway's encoder. `wellgate run` gets
$JOURNAL_STREAM naming its stderr file's device and inode, as systemd sets it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from site_config import flow_meter, rtu_bus, site_errors, site_toml
from uplink_support import free_port, wait_until

from gateway.cli.journal import SOCKET_ENV, JournalHandler
from gateway.errors import format_value

WELLGATE = [sys.executable, "-m", "gateway"]
PASSWORD = "mqtt-pw-5ecret-never-logged"
WRONG_PASSWORD = 8675309112  # a password written without quotes: refused, never echoed


def parse_native(datagram: bytes) -> dict[str, str]:
    """systemd's native journal protocol: KEY=VALUE\\n, or KEY\\n + u64 LE size + data + \\n."""
    fields, at = {}, 0
    while at < len(datagram):
        newline = datagram.index(b"\n", at)
        line = datagram[at:newline]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            at = newline + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", datagram[newline + 1:newline + 9])
            value = datagram[newline + 9:newline + 9 + size]
            assert datagram[newline + 9 + size:newline + 10 + size] == b"\n"
            at = newline + 10 + size
        fields[key.decode()] = value.decode()
    return fields


class FakeJournal:
    """A bound datagram socket; collects what is sent to it."""

    def __init__(self, folder: Path) -> None:
        self.path = str(folder / "journal.socket")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.05)
        self.entries: list[dict[str, str]] = []
        self.raw: list[bytes] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                datagram = self.sock.recv(1 << 20)
            except (TimeoutError, BlockingIOError):
                return self.entries
            self.raw.append(datagram)
            self.entries.append(parse_native(datagram))

    def close(self) -> None:
        self.sock.close()


def test_a_record_reaches_the_journal_with_exactly_its_fields(tmp_path):
    journal = FakeJournal(tmp_path)
    fallback = logging.StreamHandler()
    handler = JournalHandler(journal.path, fallback)
    logger = logging.getLogger("gateway.acquisition.poller.test")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        logger.warning("%s on %s is %s", "flow-meter", "rs485-1", "offline",
                       extra={"device": "flow-meter", "bus": "rs485-1"})
        try:
            raise ValueError("two\nlines")
        except ValueError:
            logger.error("uplink county: failed", exc_info=True, extra={"uplink": "county"})
        entries = journal.drain()
    finally:
        logger.removeHandler(handler)
        handler.close()
        journal.close()
    first, second = entries
    assert {key: first[key] for key in first if not key.startswith("CODE_")} == {
        "MESSAGE": "flow-meter on rs485-1 is offline", "PRIORITY": "4",
        "SYSLOG_IDENTIFIER": "wellgate", "LOGGER": "gateway.acquisition.poller.test",
        "DEVICE": "flow-meter", "BUS": "rs485-1"}
    assert first["CODE_FILE"] == __file__ and first["CODE_FUNC"] == (
        "test_a_record_reaches_the_journal_with_exactly_its_fields")
    assert second["PRIORITY"] == "3" and second["UPLINK"] == "county"
    assert "DEVICE" not in second and "BUS" not in second
    assert second["MESSAGE"].startswith("uplink county: failed\nTraceback")
    assert "ValueError: two\nlines" in second["MESSAGE"]  # the binary form carried the newlines


def test_without_the_journal_socket_a_record_is_a_plain_line(tmp_path, capsys):
    fallback = logging.StreamHandler()
    fallback.setFormatter(logging.Formatter("<%(levelno)d>%(message)s"))
    handler = JournalHandler(str(tmp_path / "no-such.socket"), fallback)
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "still said", None, None)
    handler.handle(record)
    handler.close()
    assert "<30>still said" in capsys.readouterr().err


@pytest.fixture
def simulator(tmp_path):
    """The flow meter on a pty line, with the simulator's command channel."""
    config = tmp_path / "simulated.toml"
    config.write_text(site_toml(tmp_path, well="150602-0071", store={},
                                buses=[rtu_bus("/dev/ttyUSB0")], devices=[flow_meter()]))
    process = subprocess.Popen([*WELLGATE, "simulate", "--config", str(config)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        process.port = json.loads(process.stdout.readline())["lines"]["rs485-1"]
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def command(simulator, **cmd) -> dict:
    simulator.stdin.write(json.dumps(cmd) + "\n")
    simulator.stdin.flush()
    return json.loads(simulator.stdout.readline())


def start_gateway(tmp_path, text: str, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    config = tmp_path / "gateway.toml"
    config.write_text(text)
    config.chmod(0o600)
    init = subprocess.run([*WELLGATE, "init", "--config", str(config)], capture_output=True,
                          text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    stderr = tmp_path / "stderr.log"
    with open(stderr, "w") as file:
        found = os.fstat(file.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{found.st_dev}:{found.st_ino}", **env}
        gateway = subprocess.Popen([*WELLGATE, "run", "-v", "--config", str(config)],
                                   stderr=file, env=env)
    wait_until(lambda: (tmp_path / "run" / "health.json").exists() or gateway.poll() is not None,
               30, "the gateway running")
    return gateway, config


def stop(gateway: subprocess.Popen) -> int:
    gateway.send_signal(signal.SIGTERM)
    try:
        return gateway.wait(30)
    except subprocess.TimeoutExpired:
        gateway.kill()
        gateway.wait(10)
        raise


def refused_reload(entry: dict) -> bool:
    """The reload's refusal (an uplink's "connection refused" is another record)."""
    return entry["MESSAGE"].startswith("reload of") and "refused" in entry["MESSAGE"]


def test_wellgate_run_under_journald_sends_fields_and_never_a_secret(tmp_path, simulator):
    """Every record of a run (start, a meter online, an uplink failing, a refused reload whose
    broken config holds a password, the stop) reaches the journal with its fields; the MQTT
    password appears nowhere: not in the journal, stderr, or the runtime files."""
    journal = FakeJournal(tmp_path)
    uplink = {"name": "county", "type": "mqtt", "host": "127.0.0.1", "port": free_port(),
              "tls": False, "username": "gw", "password": PASSWORD,
              "insecure_unsigned_acks": True, "batch_max_age": 0.5, "timeout": 2}
    text = site_toml(tmp_path, well="150602-0071", store={"commit_interval": 0.5},
                     buses=[rtu_bus(simulator.port, timeout=0.3)],
                     devices=[flow_meter(poll_interval=0.5)], uplinks=[uplink])
    gateway, config = start_gateway(tmp_path, text, {SOCKET_ENV: journal.path})
    try:
        wait_until(lambda: any("UPLINK" in e for e in journal.drain()), 30, "an uplink record")
        config.write_text(text.replace(f'"{PASSWORD}"', str(WRONG_PASSWORD)))
        gateway.send_signal(signal.SIGHUP)
        wait_until(lambda: any(refused_reload(e) for e in journal.drain()), 30,
                   "the refused reload")
        assert stop(gateway) == 0
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
    entries = journal.drain()
    journal.close()
    messages = [e["MESSAGE"] for e in entries]
    online = [e for e in entries if e["MESSAGE"] == "flow-meter on rs485-1 is online: answered"]
    assert len(online) == 1, messages
    assert (online[0]["DEVICE"], online[0]["BUS"], online[0]["PRIORITY"]) == (
        "flow-meter", "rs485-1", "6")
    assert online[0]["LOGGER"] == "gateway.acquisition.poller"
    failing = [e for e in entries if e.get("UPLINK") == "county"]
    assert failing and failing[0]["PRIORITY"] == "4", messages
    refused = [e for e in entries if refused_reload(e)]
    assert len(refused) == 1 and refused[0]["PRIORITY"] == "3"
    assert "uplinks[0].password = (hidden)" in refused[0]["MESSAGE"], refused
    assert any("starting:" in m for m in messages) and any("stopped:" in m for m in messages)
    everything = b"".join(journal.raw) + (tmp_path / "stderr.log").read_bytes()
    for name in ("health.json", "uplink.json"):
        everything += (tmp_path / "run" / name).read_bytes()
    for secret in (PASSWORD, str(WRONG_PASSWORD)):
        assert secret.encode() not in everything
    assert (tmp_path / "stderr.log").read_text() == ""  # all of it went to the journal


def test_a_flapping_meter_logs_its_change_then_a_summary_a_period(tmp_path, simulator):
    """The meter dies and comes back every 0.4 s for 8 s (about 20 state changes); with
    log_summary_s = 2 the log has its first change and then at most one summary line every 2 s
    (a line per change before)."""
    text = site_toml(tmp_path, well="150602-0071", store={"commit_interval": 0.5},
                     buses=[rtu_bus(simulator.port, timeout=0.1, retries=0)],
                     devices=[flow_meter(poll_interval=0.2)],
                     acquisition={"offline_after": 1, "backoff_initial": 0.1,
                                  "backoff_max": 0.1})
    text = text.replace("[gateway]\n", "[gateway]\nlog_summary_s = 2\n")
    gateway, _ = start_gateway(tmp_path, text, {})
    started = time.monotonic()
    try:
        dead = False
        while time.monotonic() - started < 8:
            dead = not dead
            assert command(simulator, cmd="inject" if dead else "clear", device="flow-meter",
                           **({"fault": "dead"} if dead else {}))["ok"]
            time.sleep(0.4)
        assert command(simulator, cmd="clear", device="flow-meter")["ok"]
        time.sleep(2.5)  # the last period's summary
        health = json.loads((tmp_path / "run" / "health.json").read_text())
        assert stop(gateway) == 0
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
    took = time.monotonic() - started
    changes = [c for c in health["changes"] if c["device"] == "flow-meter"]
    lines = [line for line in (tmp_path / "stderr.log").read_text().splitlines()
             if "flow-meter on rs485-1" in line]
    summaries = [line for line in lines if "more state change(s) in the last 2 s" in line]
    print(f"{len(changes)} state changes, {len(lines)} log lines ({len(summaries)} summaries) "
          f"in {took:.1f} s")
    assert len(changes) >= 10, changes
    assert summaries, lines
    assert len(lines) <= 1 + took / 2 + 1, lines
    assert lines[0].endswith("is online: answered"), lines


def test_a_config_error_never_shows_a_secrets_value(tmp_path):
    """Found: `uplinks[0].password = 8675309112: expected the MQTT password` printed the password
    (check-config, and the log of a refused reload). Now its value is hidden, also inside a
    whole table shown as the value given."""
    errors = site_errors(tmp_path, f"""
        [[uplinks]]
        name = "county"
        type = "mqtt"
        host = "127.0.0.1"
        password = {WRONG_PASSWORD}
        """)
    assert errors == ["uplinks[0].password = (hidden): expected the MQTT password"], errors
    assert format_value({"password": PASSWORD}) == "{'password': '(hidden)'}"
    assert format_value([{"tls": {"token": "t0k"}}]) == "[{'tls': {'token': '(hidden)'}}]"


def test_flaplog_logs_the_first_change_then_one_summary_a_period(caplog):
    """Hand-worked with a fake clock (period 60 s): changes at 0, 10, 20, 30, 35 s log the first
    and hold four; at 61 s one summary says 4 more (offline 2, online 2); quiet from 61 to
    122 s, the subject is forgotten and its change at 130 s is logged at once."""
    from gateway.flaplog import FlapLog

    now = [0.0]
    flaps = FlapLog(logging.getLogger("flaptest"), every=60.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "flaptest")
    for at, state in ((0, "offline"), (10, "online"), (20, "offline"), (30, "online"),
                      (35, "offline")):
        now[0] = at
        flaps.change("meter on bus", state, logging.WARNING, "meter is %s", state)
    for at in (40, 59.9, 61, 100, 122, 130):
        now[0] = at
        flaps.flush()
        if at == 130:
            flaps.change("meter on bus", "online", logging.INFO, "meter is %s", "online")
    assert [r.getMessage() for r in caplog.records] == [
        "meter is offline",
        "meter on bus: 4 more state change(s) in the last 60 s (offline 2 time(s), online 2 "
        "time(s)); the latest: meter is offline",
        "meter is online"]
