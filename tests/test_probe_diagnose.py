"""`wellgate probe` diagnoses (issue 14): as found, a wrong baud and a wrong slave id both gave
only "timeout: no reply", a port the gateway held was probed over it, and the table rounded
12345.67 kWh to 12345.7. Now a failed probe looks around the bus and says what to try, a held
port is refused naming the PID that holds it, and values show at the meter's precision.
Real `wellgate probe` processes against the simulated well's pty lines."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from gateway.point_values import value_text
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

WELLGATE = [sys.executable, "-m", "gateway"]
ADDRESS = "000000000001"

pytestmark = pytest.mark.xdist_group("probe-diagnose")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 9600-baud Modbus line (flow meter id 1, energy meter id 2 reading 12345.67 kWh) and a
    2400-baud DL/T 645 line; a config whose devices are each wrong in one way, and right ones."""
    well = SimulatedWell(seed=4, time_scale=0)
    well.add_line("rtu", kind="rtu", baud=9600)
    well.add_line("dlt", kind="dlt645", baud=2400)
    well.add_device("rtu", SimDevice("flow", "tuf-2000m", slave_id=1))
    well.add_device("rtu", SimDevice("energy", "chint-dtsu666", slave_id=2,
                                     settings={"import_energy": 12345.67}))
    well.add_device("dlt", SimDevice("grid", "dlt645-generic", address=ADDRESS,
                                     settings={"import_energy": 12345.67}))
    folder = tmp_path_factory.mktemp("probe")
    with ThreadRunner(well) as runner:
        ports = runner.start()
        config = folder / "site.toml"
        config.write_text(textwrap.dedent(f"""
            [well]
            id = "150602-0096"
            [gateway]
            state_dir = "{folder}/state"
            runtime_dir = "{folder}/run"
            [[buses]]
            name = "right"
            type = "rtu"
            port = "{ports['rtu']}"
            baud = 9600
            timeout = 0.2
            retries = 0
            [[buses]]
            name = "too-fast"
            type = "rtu"
            port = "{ports['rtu']}"
            baud = 19200
            timeout = 0.2
            retries = 0
            [[buses]]
            name = "meter-645"
            type = "dlt645"
            port = "{ports['dlt']}"
            baud = 2400
            parity = "E"
            timeout = 0.3
            retries = 0
            [[devices]]
            name = "wrong-id"
            bus = "right"
            model = "tuf-2000m"
            slave_id = 9
            [[devices]]
            name = "wrong-baud"
            bus = "too-fast"
            model = "tuf-2000m"
            slave_id = 1
            [[devices]]
            name = "wrong-address"
            bus = "meter-645"
            model = "dlt645-generic"
            address = "000000000009"
            [[devices]]
            name = "pump-energy"
            bus = "right"
            model = "chint-dtsu666"
            slave_id = 2
            [[devices]]
            name = "grid-meter"
            bus = "meter-645"
            model = "dlt645-generic"
            address = "{ADDRESS}"
            """), encoding="utf-8")
        yield config, ports


def probe(config, device, *args):
    return subprocess.run([*WELLGATE, "probe", "--config", str(config), device, *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("device, advice", [
    ("wrong-id", "try: nothing answers id 9 at 9600 8N1, but id(s) 1, 2 do: is the meter's id "
                 "one of them"),
    ("wrong-baud", "try: id 1 answers at 9600 8N1, not at 19200 8N1: set bus too-fast's baud "
                   "and parity to the meter's"),
    ("wrong-address", f"try: a DL/T 645 meter answers with address {ADDRESS} at 2400 baud: is "
                      "that the meter's address (the config says 000000000009)?"),
])
def test_a_probe_that_times_out_says_what_to_try(site, device, advice):
    config, _ = site
    done = probe(config, device)
    assert done.returncode == 1, done
    assert "timeout: no reply" in done.stdout
    assert advice in done.stdout, done.stdout
    assert "Traceback" not in done.stderr


def test_a_probe_of_a_port_another_process_holds_names_the_pid(site):
    config, ports = site
    holder = subprocess.Popen([sys.executable, "-c", f"f = open({ports['rtu']!r}, 'rb'); "
                               "import time; print('open', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        done = probe(config, "pump-energy")
    finally:
        holder.kill()
        holder.wait(10)
    assert done.returncode == 1
    assert f"is in use: held by PID {holder.pid} (" in done.stderr, done.stderr
    assert done.stdout == ""  # nothing sent on a line another program uses


@pytest.mark.parametrize("device", ["pump-energy", "grid-meter"])
def test_the_probe_table_shows_values_at_the_meters_precision(site, device):
    """12345.67 kWh: a float32 register (7 significant digits) and DL/T 645 BCD (2 decimals)."""
    config, _ = site
    done = probe(config, device)
    assert done.returncode == 0, done
    row = next(line for line in done.stdout.splitlines() if " import_energy " in line)
    assert " 12345.67 kWh " in row, row


@pytest.mark.parametrize("value, decimals, significant, text", [
    (12345.669921875, None, 7, "12345.67"),  # the float32 nearest 12345.67
    (12345.6, 2, None, "12345.60"),  # a register counting 0.01: its last digit is shown
    (0.5, None, 7, "0.5"),
    (218.28125, None, 7, "218.2812"),
    (154922.0, 0, None, "154922"),
])
def test_value_text(value, decimals, significant, text):
    assert value_text(value, decimals, significant) == text
