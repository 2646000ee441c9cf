"""`wellgate` commands as real processes: run + health against the simulator process, probe,
demo, help texts, and the errors an installer sees."""

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gateway.cli import LAZY_COMMANDS
from gateway.profiles import load_profile

WELLGATE = [sys.executable, "-m", "gateway"]

CONFIG = textwrap.dedent(
    """
    [well]
    id = "150602-0099"
    name = "CLI test well"

    [gateway]
    runtime_dir = "{runtime_dir}"
    state_dir = "{runtime_dir}/state"

    [acquisition]
    offline_after = 2
    backoff_initial = 1.0
    backoff_max = 2.0

    [[buses]]
    name = "rs485-1"
    type = "rtu"
    port = "{rs485-1}"
    baud = 9600
    timeout = 0.2
    retries = 0

    [[buses]]
    name = "meter-645"
    type = "dlt645"
    port = "{meter-645}"
    baud = 2400
    parity = "E"
    timeout = 0.3
    retries = 0

    [[devices]]
    name = "flow-meter"
    bus = "rs485-1"
    model = "tuf-2000m"
    slave_id = 1
    poll_interval = 0.5

    [[devices]]
    name = "pump-energy"
    bus = "rs485-1"
    model = "chint-dtsu666"
    slave_id = 2
    poll_interval = 0.5

    [[devices]]
    name = "well-level"
    bus = "rs485-1"
    model = "qdy30a"
    slave_id = 3
    poll_interval = 0.5

    [[devices]]
    name = "grid-meter"
    bus = "meter-645"
    model = "dlt645-generic"
    address = "000000000001"
    poll_interval = 1.0
    points = ["import_energy", "active_power"]
    """
)
DEVICES = ["flow-meter", "pump-energy", "well-level", "grid-meter"]


def wellgate(*args, timeout=30):
    return subprocess.run([*WELLGATE, *args], capture_output=True, text=True, timeout=timeout)


def write_config(path, runtime_dir, ports):
    path.write_text(CONFIG.format(runtime_dir=runtime_dir, **ports))
    return path


class Simulator:
    """`python -m gateway.simulator` on a config, with its JSON-line control channel."""

    def __init__(self, config_path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway.simulator", "--config", str(config_path),
             "--byte-time"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )
        self.ready = json.loads(self.process.stdout.readline())
        assert self.ready["event"] == "ready", self.ready

    def command(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline())
        assert reply["ok"], reply
        return reply["result"]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=10)


def start_simulated_site(tmp_path):
    """A simulator on placeholder ports, then the gateway config on the simulator's ptys."""
    placeholder = write_config(tmp_path / "simulated.toml", tmp_path,
                               {"rs485-1": "/dev/ttyUSB0", "meter-645": "/dev/ttyUSB1"})
    simulator = Simulator(placeholder)
    return simulator, write_config(tmp_path / "gateway.toml", tmp_path, simulator.ready["lines"])


@pytest.fixture
def site(tmp_path):
    simulator, config = start_simulated_site(tmp_path)
    yield simulator, config
    simulator.stop()


def wait_for_health(path, condition, timeout):
    """The health snapshot once `condition(devices by name)` holds (the gateway writes it every
    5 s); fails with the last snapshot seen."""
    deadline, devices = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            devices = {d["device"]: d for d in json.loads(path.read_text())["devices"]}
        except (FileNotFoundError, json.JSONDecodeError):
            devices = {}
        if devices and condition(devices):
            return devices
        time.sleep(0.2)
    raise AssertionError(f"health never met the condition within {timeout} s: {devices}")


def test_run_reports_health_marks_a_dead_device_offline_and_stops_on_sigterm(site, tmp_path):
    simulator, config = site
    health_file = tmp_path / "health.json"
    assert wellgate("init", "--config", str(config)).returncode == 0  # run needs the store's key
    gateway = subprocess.Popen([*WELLGATE, "run", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_health(health_file, lambda d: all(
            d[name]["state"] == "online" and d[name]["good_replies"] > 0 for name in DEVICES
        ), timeout=12)

        shown = wellgate("health", "--config", str(config), "--json")
        assert shown.returncode == 0, shown.stderr
        devices = {d["device"]: d for d in json.loads(shown.stdout)["devices"]}
        assert sorted(devices) == sorted(DEVICES)
        assert all(d["state"] == "online" and d["good_replies"] > 0 for d in devices.values())
        table = wellgate("health", "--config", str(config))
        assert table.returncode == 0
        assert table.stdout.startswith(f"gateway running (PID {gateway.pid})"), table.stdout
        rows = {line.split()[0]: line.split() for line in table.stdout.splitlines()[3:]}
        assert sorted(rows) == sorted(DEVICES)
        assert all(row[3] == "online" for row in rows.values())

        simulator.command(cmd="inject", device="well-level", fault="dead")
        wait_for_health(health_file, lambda d: d["well-level"]["state"] == "offline", timeout=12)
        shown = wellgate("health", "--config", str(config), "--json")
        devices = {d["device"]: d for d in json.loads(shown.stdout)["devices"]}
        assert devices["well-level"]["state"] == "offline"
        assert devices["well-level"]["timeouts"] >= 2  # offline_after = 2 polls in a row
        assert all(devices[name]["state"] == "online" for name in DEVICES if name != "well-level")
        assert " offline " in wellgate("health", "--config", str(config)).stdout

        health_file.unlink()  # the snapshot found after the stop is the one written on the way out
        stopping, stopping_wall = time.monotonic(), time.time()
        gateway.send_signal(signal.SIGTERM)
        assert gateway.wait(timeout=5) == 0
        assert time.monotonic() - stopping < 5
        final = json.loads(health_file.read_text())
        assert final["written_at"] >= stopping_wall - 1.0
        assert {d["device"] for d in final["devices"]} == set(DEVICES)
        assert "Traceback" not in gateway.stderr.read()
        # As found: "online ... 2.1 s ago" after the gateway had stopped, exit 0.
        time.sleep(1.5)
        after = wellgate("health", "--config", str(config))
        assert after.returncode == 3, after
        assert after.stdout.startswith("stale: the gateway stopped "), after.stdout
        ages = [float(age) for age in re.findall(r"(\d+\.\d)s ago", after.stdout)]
        assert ages and min(ages) >= 1.5, after.stdout  # the replies' age now, not at the stop
        as_json = wellgate("health", "--config", str(config), "--json")
        assert as_json.returncode == 3 and json.loads(as_json.stdout)["stale"]
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()


def test_probe_prints_every_point_with_its_unit(site):
    _, config = site
    done = wellgate("probe", "--config", str(config), "pump-energy")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for point in load_profile("chint-dtsu666").points:
        row = next((line for line in lines if f" {point.name} " in line), None)
        assert row is not None, f"{point.name} missing from:\n{done.stdout}"
        assert row.split()[0] == "pump-energy"
        if point.unit:
            assert f" {point.unit} " in row, row


def test_probe_json_gives_every_point_of_the_device(site):
    _, config = site
    done = wellgate("probe", "--config", str(config), "well-level", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    profile = load_profile("qdy30a")
    assert report["device"] == "well-level"
    assert report["health"]["good_replies"] >= 1
    assert {r["point"]: r["unit"] for r in report["readings"]} == {
        p.name: p.unit for p in profile.points
    }
    assert all(r["quality"] == "good" for r in report["readings"])


def test_probe_of_an_unknown_device_exits_2_naming_the_devices(site):
    _, config = site
    done = wellgate("probe", "--config", str(config), "flow-metre")
    assert done.returncode == 2
    assert "flow-metre" in done.stderr
    assert all(name in done.stderr for name in DEVICES)
    assert "Traceback" not in done.stderr


def test_probe_of_a_dead_device_exits_1(site):
    simulator, config = site
    simulator.command(cmd="inject", device="flow-meter", fault="dead")
    try:
        done = wellgate("probe", "--config", str(config), "flow-meter")
    finally:
        simulator.command(cmd="clear", device="flow-meter")
    assert done.returncode == 1, done.stdout
    assert "timeout" in done.stdout and "Traceback" not in done.stderr


# `wellgate demo` with every device online: test_demo.py (5 of 5 on its 30 s run's last screen)
# and test_store_cli.py (its 6 s run), without a demo run of its own here.


def test_health_without_a_running_gateway_exits_1_with_a_clear_message(tmp_path):
    config = write_config(tmp_path / "gateway.toml", tmp_path / "not-running",
                          {"rs485-1": "/dev/ttyUSB0", "meter-645": "/dev/ttyUSB1"})
    done = wellgate("health", "--config", str(config))
    assert done.returncode == 1
    assert "no health snapshot" in done.stderr and "wellgate run" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


HELP_COMMANDS = ["wellgate", *sorted(LAZY_COMMANDS)]


@pytest.fixture(scope="module")
def help_texts(tmp_path_factory) -> dict[str, tuple[int, str, str]]:
    """`wellgate [COMMAND] --help` for each command: (status, stdout, stderr). Each run is a
    process of its own, forked from one that imported the CLI (tests/forked_cli.py): 22 fresh
    interpreters spent ~40 s on imports under load."""
    folder = tmp_path_factory.mktemp("help")
    runs = [{"argv": ([] if name == "wellgate" else [name]) + ["--help"],
             "stdout": str(folder / f"{name}.out"), "stderr": str(folder / f"{name}.err")}
            for name in HELP_COMMANDS]
    (folder / "runs.json").write_text(json.dumps(runs))
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "forked_cli.py"),
                           str(folder / "runs.json")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and len(done.stdout.split()) == len(runs), done.stderr[-3000:]
    return {name: (int(status), Path(run["stdout"]).read_text(), Path(run["stderr"]).read_text())
            for name, run, status in zip(HELP_COMMANDS, runs, done.stdout.split(), strict=True)}


@pytest.mark.parametrize("command", HELP_COMMANDS)
def test_every_help_text_has_an_example(command, help_texts):
    status, stdout, stderr = help_texts[command]
    assert status == 0, stderr
    assert "Example" in stdout


def test_the_installed_console_script_is_the_same_cli():
    script = Path(sys.executable).parent / "wellgate"
    if not script.exists():
        pytest.skip("wellgate console script not installed in this environment")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.startswith("wellgate")
