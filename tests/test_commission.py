"""`wellgate commission` as a new installer meets it (issue 14): a scripted installer at a real
terminal (pexpect) who knows nothing but what the prompts say, answering each by its text (not
by its place in the sequence), on the simulated well (`wellgate simulate`, real pty lines). It
must end with the gateway registered (a bundle naming its key) and, started with the config it
wrote, polling: readings committed to the signed store, and reporting to a real centre simulator
(`wellgate platform center`) that names the station exactly as the bundle does. Then `wellgate
health` after SIGTERM of `wellgate run` says stale, exit 3. The wall time is printed and
bounded. The calibration typed at the prompt, or given as --calibrate-manual, is stored as
`wellgate calibrate --manual` stores it, k worked by hand (as in
tests/test_accounting_manual_calibration.py)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pexpect
import pytest
from centre_support import CentreProcess
from simulate_support import DEMO, simulated_lines
from store_support import stored
from uplink_support import wait_until

WELLGATE = [sys.executable, "-m", "gateway"]
INSTALLER_LIMIT_S = 600.0  # issue 14: commissioning within 10 minutes of wall time
MAX_PROMPTS = 80
PASSWORD = "8642"  # typed at a prompt that must not echo it


def shows_password(text: str) -> bool:
    """Whether `text` shows the password as a word of its own: not inside a number the
    simulated meters gave (a voltage of 377.8642 V once failed the check)."""
    return re.search(rf"(?<![\w.]){PASSWORD}(?![\w.])", text) is not None
# two steady runs of a portable meter: 31.40 m³ / 10.00 kWh and 31.00 / 9.90, k = 62.40 / 19.90
RUNS = ("2026-06-01T08:00:00+08:00,1000.00,500.00,2026-06-01T09:00:00+08:00,1031.40,510.00",
        "2026-06-01T09:30:00+08:00,1040.00,512.00,2026-06-01T10:30:00+08:00,1071.00,521.90")
K_BY_HAND = 62.40 / 19.90  # 3.135678 m³/kWh


@pytest.fixture
def simulated_well():
    """`wellgate simulate` on the demo config, time-scaled; its ports by bus."""
    with simulated_lines(DEMO, "--time-scale", "60") as lines:
        yield lines


@pytest.fixture
def centre(tmp_path):
    """A real SL/T 427 centre simulator process, its port picked by the kernel."""
    process = CentreProcess(tmp_path, "sl427")
    try:
        yield process
    finally:
        process.stop()


def installer_answers(tmp_path: Path, ports: list[str], centre_port: int):
    """(prompt pattern, answer) pairs: what a new installer types, knowing only the prompts, the
    simulator's ports, the centre's port and where this test wants the files. "" takes the
    offered default."""
    waiting = list(ports)
    typos = [True] * MAX_PROMPTS + [False]
    runs = [*RUNS, ""]  # an empty line ends the runs
    return [
        (r"Well id at the platform[^:]*: ", lambda _: "150602-0017"),
        (r"Serial port of the RS-485 line to scan[^:]*: ", lambda _: waiting.pop(0)),
        (r"Scan another RS-485 line\? \[y/N\]: ", lambda _: "y" if waiting else "n"),
        (r"Model of the meter at [^\]]*\]: ", lambda _: ""),
        # a name with spaces first (refused, asked again), then the name offered
        (r"Name for the [^\]]*\]: ", lambda _: "" if typos.pop() else "flow meter 1"),
        (r"Account the well's water[^\]]*\]: ", lambda _: "y"),
        (r"Which device is [^\]]*\]: ", lambda _: ""),
        # the first flow meter the prompt offers is the one the installer clamped on to calibrate
        (r"temporary reference for calibrating[^?]*\? \(([\w-]+)[^\]]*\]: ",
         lambda m: m.group(1)),
        (r"pump's most output, m³/h: ", lambda _: "60"),
        (r"rated electrical power, kW: ", lambda _: "7.5"),
        (r"annual allocation, m³ [^\]]*\]: ", lambda _: "50000"),
        (r"The well's time zone \[[^\]]*\]: ", lambda _: ""),
        (r"Write the site config to \[[^\]]*\]: ", lambda _: str(tmp_path / "site.toml")),
        (r"store and signing key in \[[^\]]*\]: ", lambda _: str(tmp_path / "state")),
        (r"health snapshot in \[[^\]]*\]: ", lambda _: str(tmp_path / "run")),
        (r"report to a water-resources centre[^\]]*\]: ", lambda _: "y"),
        (r"Protocol of centre 1 [^\]]*\]: ", lambda _: "sl427"),
        (r"Name for centre 1 \[[^\]]*\]: ", lambda _: "city"),
        (r"Host:port of city's centre station: ", lambda _: f"127.0.0.1:{centre_port}"),
        (r"County code of the station[^:]*: ", lambda _: "530381"),
        (r"Station number at that county[^:]*: ", lambda _: "13"),
        (r"Edition the centre speaks [^\]]*\]: ", lambda _: ""),
        (r"Password file of city \([^)]*\): ", lambda _: ""),
        (r"Password of city \([^)]*\): ", lambda _: PASSWORD),
        (r"Another centre\? \[y/N\]: ", lambda _: "n"),
        (r"Calibrate [^\]]*\]: ", lambda _: "y"),
        (r"run \d as START_TIME[^:]*: ", lambda _: runs.pop(0)),
        (r"store it as coefficient version 1, valid from now\? \[y/N\]: ", lambda _: "y"),
    ]


def commission_at_a_terminal(tmp_path: Path, ports: list[str], centre_port: int
                             ) -> tuple[str, int, str]:
    """Everything the terminal showed, the exit status, and what it showed after the password
    was typed (up to the next prompt)."""
    answers = installer_answers(tmp_path, ports, centre_port)
    after_password, previous = "", None
    terminal = pexpect.spawn(WELLGATE[0], [*WELLGATE[1:], "commission"], cwd=str(tmp_path),
                             encoding="utf-8", timeout=180, dimensions=(40, 160))
    shown = []
    try:
        for _ in range(MAX_PROMPTS):
            index = terminal.expect([pattern for pattern, _ in answers] + [pexpect.EOF])
            shown.append(terminal.before + (terminal.after if index < len(answers) else ""))
            if previous is not None and answers[previous][0].startswith("Password of city"):
                after_password = terminal.before  # what the terminal echoed of the password
            previous = index
            if index == len(answers):
                break
            terminal.sendline(answers[index][1](terminal.match))
        else:
            raise AssertionError(f"still asking after {MAX_PROMPTS} prompts: {''.join(shown)}")
    finally:
        terminal.close(force=True)
    return "".join(shown), terminal.exitstatus, after_password


def test_the_password_check_sees_an_echo_not_a_reading_with_its_digits():
    assert shows_password(f"Password of city (4 digits): {PASSWORD}\r\n")
    assert shows_password(f"password={PASSWORD}")
    assert not shows_password(f"voltage_l1_l2  377.{PASSWORD} V  instant  good")
    assert not shows_password(f"127.0.0.1:3{PASSWORD} and {PASSWORD}7.5 kWh")


def test_a_new_installer_commissions_the_simulated_well_and_it_polls(simulated_well, centre,
                                                                     tmp_path):
    started = time.monotonic()
    shown, status, after_password = commission_at_a_terminal(
        tmp_path, list(simulated_well.values()), centre.port)
    commissioned = time.monotonic() - started
    assert status == 0, shown
    assert "Traceback" not in shown
    assert re.search(r"scanning .* id \d", shown), "no progress shown while scanning"
    assert "Error: 'flow meter 1': a name is letters, digits and . _ -" in shown

    bundle = json.loads((tmp_path / "registration-150602-0017.json").read_text())
    public_key = (tmp_path / "state" / "gateway.pub").read_text()
    assert bundle["well_id"] == "150602-0017" and bundle["public_key_pem"] == public_key
    assert bundle["fingerprint"] in shown
    (city,) = bundle["centres"]
    assert (city["name"], city["protocol"], city["centre"], city["station_address"],
            city["fingerprint"]) == ("city", "sl427", f"127.0.0.1:{centre.port}", "530381/13",
                                     bundle["fingerprint"])
    assert not shows_password(after_password) and not shows_password(shown)  # never echoed
    assert (tmp_path / "registration-150602-0017.txt").read_text().startswith(
        "Registration of well 150602-0017")
    written = tomllib.loads((tmp_path / "site.toml").read_text())
    demo = tomllib.loads(DEMO.read_text())
    assert sorted(d["model"] for d in written["devices"]) == sorted(
        d["model"] for d in demo["devices"])
    accounting = written["well"]["accounting"]
    assert (accounting["flow_meter"], accounting["energy_meter"]) == ("flow-1", "energy-2")
    assert accounting["calibration"]["reference_device"] == "flow-4"
    (uplink,) = written["uplinks"]
    assert (uplink["type"], uplink["county"], uplink["station"], uplink["password"]) == (
        "sl427", "530381", 13, PASSWORD)
    assert (tmp_path / "site.toml").stat().st_mode & 0o777 == 0o600  # it holds a secret
    (record,) = stored(tmp_path / "state", "coefficient")  # typed at step 9, as calibrate stores
    assert record.data["coefficient"]["value_m3_per_kwh"] == pytest.approx(K_BY_HAND, rel=1e-6)
    assert "stored as coefficient version 1" in shown

    config = str(tmp_path / "site.toml")
    gateway = subprocess.Popen([*WELLGATE, "run", "--config", config],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        def committed() -> int:
            try:
                snapshot = json.loads((tmp_path / "run" / "health.json").read_text())
            except (FileNotFoundError, json.JSONDecodeError):
                return 0
            return snapshot.get("store", {}).get("committed_records", 0)

        wait_until(lambda: committed() > 0, 60, "readings committed by wellgate run")
        polling = time.monotonic() - started
        # the centre names the station from the gateway's login frame: as the bundle said
        wait_until(lambda: centre.ok({"cmd": "stations"}), 60, "the gateway logged in")
        assert centre.ok({"cmd": "stations"}) == [city["station_address"]]
        health = subprocess.run([*WELLGATE, "health", "--config", config],
                                capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stdout + health.stderr
        assert " online " in health.stdout
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(30) == 0
        assert not shows_password(gateway.stderr.read())  # never logged
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
    stale = subprocess.run([*WELLGATE, "health", "--config", config], capture_output=True,
                           text=True, timeout=60)
    assert stale.returncode == 3 and stale.stdout.startswith("stale:"), stale.stdout
    verified = subprocess.run([*WELLGATE, "verify", "--db", str(tmp_path / "state" /
                                                                "wellgate.db")],
                              capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"commissioned in {commissioned:.1f} s, polling into the store at {polling:.1f} s")
    assert polling < INSTALLER_LIMIT_S


def test_commission_without_a_terminal_takes_its_answers_from_flags(simulated_well, tmp_path):
    county = CentreProcess(tmp_path, "sl651", "--password", "9A3F")  # checks the password
    try:
        password = tmp_path / "county.password"
        password.write_text("9A3F\n")
        command = [*WELLGATE, "commission", "--yes", "--well-id", "150602-0018",
                   "--port", simulated_well["meter-645"],  # the DL/T 645 line: a quick scan
                   "--pump-capacity", "60", "--rated-power", "7.5",
                   "--centre", f"sl651,127.0.0.1:{county.port},station=0015060200,name=county,"
                   f"password-file={password},report_period=2",
                   "--calibrate-manual", RUNS[0], "--calibrate-manual", RUNS[1],
                   "--config-out", str(tmp_path / "site.toml"), "--state-dir",
                   str(tmp_path / "state"), "--runtime-dir", str(tmp_path / "run")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "scanning" not in done.stderr  # no progress bar without a terminal
        assert "9A3F" not in done.stdout + done.stderr
        bundle = json.loads((tmp_path / "registration-150602-0018.json").read_text())
        (centre,) = bundle["centres"]
        assert (centre["protocol"], centre["station_address"]) == ("sl651", "0015060200")
        (record,) = stored(tmp_path / "state", "coefficient")  # --calibrate-manual
        assert record.data["coefficient"]["value_m3_per_kwh"] == pytest.approx(K_BY_HAND,
                                                                               rel=1e-6)
        checked = subprocess.run([*WELLGATE, "check-config", str(tmp_path / "site.toml")],
                                 capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "holds a secret" not in checked.stderr  # 0600
        written = (tmp_path / "site.toml").read_text()
        assert tomllib.loads(written)["uplinks"][0]["password"] == "9A3F"

        gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(tmp_path / "site.toml")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:  # the centre reads the station from the report frames (password checked)
            wait_until(lambda: county.ok({"cmd": "reports"}), 60, "a report at the centre")
        finally:
            gateway.kill()
            gateway.wait(10)
        assert {r["station"] for r in county.ok({"cmd": "reports"})} == {
            centre["station_address"]}
    finally:
        county.stop()
    again = subprocess.run(command, capture_output=True, text=True, timeout=300,
                           stdin=subprocess.DEVNULL)
    assert again.returncode == 2 and "exists: choose another --config-out, or --force" in (
        again.stderr), again.stderr
    assert (tmp_path / "site.toml").read_text() == written  # a config there is never replaced


def test_a_bad_centre_flag_says_what_is_expected_and_never_shows_the_password(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("98765\n")
    for spec, expected in [
        ("sl427,127.0.0.1:6001,county=530381", "give station"),
        ("sl427,127.0.0.1,county=530381,station=13", "'127.0.0.1': expected HOST:PORT"),
        ("sl652,127.0.0.1:6001,station=0012345678", "expected \"sl427,HOST:PORT"),
        (f"sl427,127.0.0.1:6001,county=530381,station=13,password-file={secret}",
         f"the sl427 password in {secret} is not 4 digits (key 1, then key 2) (5 character(s))"),
    ]:
        done = subprocess.run([*WELLGATE, "commission", "--yes", "--well-id", "1", "--port",
                               "/dev/null", "--centre", spec], capture_output=True, text=True,
                              timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
        assert done.returncode == 2 and expected in done.stderr, (spec, done.stderr)
        assert "98765" not in done.stderr and "Traceback" not in done.stderr


def test_typed_runs_the_calibration_refuses_leave_the_rest_commissioned_and_exit_1(
        simulated_well, tmp_path):
    mistyped = subprocess.run([*WELLGATE, "commission", "--yes", "--calibrate-manual", "1,2"],
                              capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert mistyped.returncode == 2 and "--calibrate-manual '1,2': expected START_TIME" in (
        mistyped.stderr), mistyped.stderr
    short = RUNS[0].replace("1031.40", "1001.40")  # 1.40 m³: too little to judge
    done = subprocess.run([*WELLGATE, "commission", "--yes", "--well-id", "150602-0019",
                           "--port", simulated_well["meter-645"], "--pump-capacity", "60",
                           "--rated-power", "7.5", "--calibrate-manual", short,
                           "--config-out", str(tmp_path / "site.toml"), "--state-dir",
                           str(tmp_path / "state"), "--runtime-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "calibration refused: run 1: volume 1.400 m³, at least 10.0 m³" in done.stdout
    assert "the typed runs were not stored (above); the rest is commissioned" in done.stderr
    assert stored(tmp_path / "state", "coefficient") == []
    assert (tmp_path / "registration-150602-0019.json").exists()


def test_commission_under_yes_names_the_flag_it_needs(tmp_path):
    done = subprocess.run([*WELLGATE, "commission", "--yes"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)
    assert done.returncode == 2
    assert "--yes: give --well-id" in done.stderr and "Traceback" not in done.stderr
