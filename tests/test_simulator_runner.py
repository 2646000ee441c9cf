"""The simulator built from a gateway config, as a separate process with JSON-line control."""

import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import serial

from drivers import dlt645, modbus_rtu, registers
from gateway.config import load_config
from gateway.simulator import SimulatedWell, ThreadRunner

CONFIG = textwrap.dedent(
    """
    [well]
    id = "150602-0017"
    name = "Simulated well"

    [[buses]]
    name = "rs485-1"
    type = "rtu"
    port = "/dev/ttyUSB0"
    baud = 9600

    [[buses]]
    name = "meter-bus"
    type = "dlt645"
    port = "/dev/ttyUSB1"
    baud = 2400
    parity = "E"

    [[buses]]
    name = "plc"
    type = "tcp"
    host = "192.0.2.10"
    tcp_port = 502

    [[devices]]
    name = "flow-meter"
    bus = "rs485-1"
    model = "tuf-2000m"
    slave_id = 1

    [[devices]]
    name = "level"
    bus = "rs485-1"
    model = "qdy30a"
    slave_id = 2

    [[devices]]
    name = "grid-meter"
    bus = "meter-bus"
    model = "dlt645-generic"
    address = "000000000001"

    [[devices]]
    name = "pump-meter"
    bus = "plc"
    model = "eastron-sdm630"
    slave_id = 1
    """
)


@pytest.fixture
def config_path(tmp_path):
    path = tmp_path / "gateway.toml"
    path.write_text(CONFIG)
    return path


def test_from_config_makes_one_line_per_bus_and_one_meter_per_device(config_path):
    well = SimulatedWell.from_config(load_config(config_path), seed=2, time_scale=0)
    assert well.lines() == {"rs485-1": "rtu", "meter-bus": "dlt645", "plc": "tcp"}
    assert well.meter("grid-meter").profile.model.name == "dlt645-generic"
    assert well.meter("pump-meter").device.slave_id == 1
    assert well.meter("level").line_baud == 9600
    with ThreadRunner(well) as runner:
        ports = runner.start(tcp={"plc": ("127.0.0.1", 0)})
        assert ports["rs485-1"].startswith("/dev/")
        assert ports["plc"].startswith("127.0.0.1:")
        assert runner.call(well.served_values, "flow-meter") == {}


class Simulator:
    """The simulator process and its control channel."""

    def __init__(self, config_path, *options):
        command = [
            sys.executable,
            "-m",
            "gateway.simulator",
            "--config",
            str(config_path),
            *options,
        ]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.ready = json.loads(self.process.stdout.readline())

    def command(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def terminate(self):
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=10)


def test_process_prints_its_ports_takes_commands_and_stops_on_sigterm(config_path):
    simulator = Simulator(config_path, "--time-scale", "0", "--seed", "4")
    try:
        assert simulator.ready["event"] == "ready"
        lines = simulator.ready["lines"]
        assert set(lines) == {"rs485-1", "meter-bus", "plc"}
        assert lines["plc"].startswith("127.0.0.1:")  # 192.0.2.10 is not here: served locally
        assert simulator.command(cmd="advance", seconds=900)["result"]["time_s"] == 900

        with serial.Serial(lines["rs485-1"], baudrate=9600, timeout=0.3) as port:
            port.write(modbus_rtu.build_read_request(1, 3, 0, 2))
            words = modbus_rtu.parse_read_response(port.read(9), 1, 3, 2)
            flow = registers.decode(words, "float32", "CDAB")
            served = simulator.command(cmd="served", device="flow-meter")["result"]
            assert served == {"flow_rate": pytest.approx(flow)}

            reply = simulator.command(cmd="inject", device="flow-meter", fault="no_answer")
            assert reply == {"id": None, "ok": True, "result": {"no_answer": {"remaining": None}}}
            port.reset_input_buffer()
            port.write(modbus_rtu.build_read_request(1, 3, 0, 2))
            assert port.read(9) == b""
            simulator.command(cmd="clear", device="flow-meter")
            port.write(modbus_rtu.build_read_request(1, 3, 0, 2))
            assert len(port.read(9)) == 9

        with serial.Serial(lines["meter-bus"], baudrate=2400, timeout=0.3) as port:
            port.write(dlt645.build_read_request("000000000001", "00010000"))
            time.sleep(0.1)
            frame = port.read(port.in_waiting or 1)
            start, end = dlt645.find_frame(frame)
            data = dlt645.parse_read_reply(frame[start:end], "000000000001", "00010000")
            assert dlt645.decode_bcd(data, 2) > 0

        bad = simulator.command(cmd="inject", device="nobody", fault="dead")
        assert bad["ok"] is False and "no simulated device 'nobody'" in bad["error"]
        stats = simulator.command(cmd="stats", line="rs485-1")["result"]
        assert stats["devices"]["flow-meter"]["dropped"] == 1
    finally:
        assert simulator.terminate() == 0


def test_process_reports_a_bad_config_and_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace('model = "tuf-2000m"', 'model = "tuf-9000"'))
    command = [sys.executable, "-m", "gateway.simulator", "--config", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "tuf-9000" in done.stderr and done.stdout == ""
