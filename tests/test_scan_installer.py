"""`wellgate scan` as a new installer meets it (issue 14): the defaults find every meter of the
simulated well within a minute, say what each is in words, print config that check-config takes,
show what is being tried on a terminal (and nothing when not one), ask a silent id again, and
refuse a port another process holds, naming it.

Each test drives the real processes: `wellgate simulate` on pty lines, `wellgate scan`."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
import tomllib

import pexpect
import pytest
from simulate_support import DEMO, simulated_lines

from gateway.scan import run_scan
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

WELLGATE = [sys.executable, "-m", "gateway"]
INSTALLER_LIMIT_S = 60.0  # issue 14: the default scan of a typical bus within a minute

pytestmark = pytest.mark.xdist_group("scan-installer")


@pytest.fixture(scope="module")
def simulated_well():
    """`wellgate simulate` on the demo config: its ready line's ports, then stopped."""
    with simulated_lines(DEMO) as lines:
        yield lines


def _demo_devices() -> set[tuple[str, str, object]]:
    demo = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    buses = {bus["name"]: bus for bus in demo["buses"]}
    return {(device["model"], buses[device["bus"]]["type"],
             device.get("slave_id", device.get("address"))) for device in demo["devices"]}


def test_default_scan_finds_every_meter_of_the_simulated_well_within_a_minute(
        simulated_well, tmp_path):
    """As found: the default sweep took 409 s and printed nothing to paste."""
    snippets, took = [], {}
    for bus, port in simulated_well.items():
        started = time.monotonic()
        done = subprocess.run([*WELLGATE, "scan", "--port", port, "--bus-name", bus],
                              capture_output=True, text=True, timeout=300)
        took[bus] = time.monotonic() - started
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        snippets.append(done.stdout.split("# paste into the site config", 1)[1].split("\n", 1)[1])
    print(f"default scan of each simulated line: {took}")  # the time measured, for the notes
    assert sum(took.values()) < INSTALLER_LIMIT_S, took
    site = tmp_path / "site.toml"
    site.write_text(f'[well]\nid = "150602-0017"\n\n[gateway]\nstate_dir = "{tmp_path}/state"\n\n'
                    + "\n\n".join(snippets), encoding="utf-8")
    checked = subprocess.run([*WELLGATE, "check-config", str(site)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    written = tomllib.loads(site.read_text(encoding="utf-8"))
    buses = {bus["name"]: bus for bus in written["buses"]}
    assert {(d["model"], buses[d["bus"]]["type"], d.get("slave_id", d.get("address")))
            for d in written["devices"]} == _demo_devices()
    assert {(b["type"], b["baud"], b["parity"]) for b in buses.values()} == {
        ("rtu", 9600, "N"), ("dlt645", 2400, "E")}


def test_scan_says_in_words_what_answered(simulated_well):
    """As found: "exception 2" and "tuf-2000m (4/9)", which an installer cannot read."""
    done = subprocess.run([*WELLGATE, "scan", "--port", simulated_well["rs485-1"], "--bauds",
                           "9600", "--parities", "N", "--ids", "1-4", "--no-dlt645"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.search(r"^id 1 at 9600 8N1: answers; matches tuf-2000m, \d+ of 9 points plausible",
                     done.stdout, re.M), done.stdout
    assert any(line.startswith("id 2 at 9600 8N1: answers with exception 2 (illegal data "
                               "address") and "matches chint-dtsu666" in line for line in lines)
    assert "(4/9)" not in done.stdout


def test_the_progress_bar_names_what_is_tried_on_a_terminal_only(simulated_well):
    """As found: 409 s without a sign of progress."""
    command = ["scan", "--port", simulated_well["rs485-1"], "--bauds", "9600,2400", "--parities",
               "N", "--ids", "5-8", "--no-dlt645"]
    terminal = pexpect.spawn(WELLGATE[0], [*WELLGATE[1:], *command], encoding="utf-8",
                             timeout=120, dimensions=(24, 160))
    try:
        terminal.expect(r"scanning .*9600 8N1 id \d")
        terminal.expect(r"2400 8N1 id \d")
        terminal.expect(pexpect.EOF)
    finally:
        terminal.close(force=True)
    assert terminal.exitstatus == 1  # ids 5-8: nobody there
    piped = subprocess.run([*WELLGATE, *command], capture_output=True, text=True, timeout=120)
    assert "scanning" not in piped.stderr and "id 5" not in piped.stderr, piped.stderr
    as_json = pexpect.spawn(WELLGATE[0], [*WELLGATE[1:], *command, "--json"], encoding="utf-8",
                            timeout=120, dimensions=(24, 160))
    try:
        shown = as_json.read()  # everything, to the end
    finally:
        as_json.close(force=True)
    assert shown.strip() == "[]", shown  # at a terminal too: --json prints only the JSON


def test_an_id_silent_once_is_asked_again():
    """Some slaves miss the frame after one meant for an absent id: asked once, they would be
    missed."""
    well = SimulatedWell(seed=3, time_scale=0)
    well.add_line("bus", kind="rtu", baud=9600)
    well.add_device("bus", SimDevice("level", "qdy30a", slave_id=3))
    with ThreadRunner(well) as runner:
        port = runner.start()["bus"]
        runner.call(well.inject, "level", "no_answer", count=1)
        status = asyncio.run(run_scan(port, [9600], ["N"], [3], 0.1, False, True,
                                      show_progress=False))
    assert status == 0


def test_scan_refuses_a_port_another_process_holds_and_names_it(simulated_well):
    port = simulated_well["rs485-1"]
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({port!r}, 'rb'); import time; "
                               "print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        done = subprocess.run([*WELLGATE, "scan", "--port", port], capture_output=True,
                              text=True, timeout=60)
    finally:
        holder.kill()
        holder.wait(10)
    assert done.returncode == 1, done
    assert f"held by PID {holder.pid}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
