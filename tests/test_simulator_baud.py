"""Baud-rate emulation on the simulated serial lines: a meter answers only at its line's speed."""

import time

import pytest
import serial

from drivers import dlt645, modbus_rtu
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

READ = modbus_rtu.build_read_request(1, 3, 0, 2)  # TUF-2000M flow rate: a 9-byte reply


def exchange(port, request, expected, timeout=0.3):
    port.reset_input_buffer()
    port.write(request)
    deadline, reply = time.monotonic() + timeout, b""
    while len(reply) < expected and time.monotonic() < deadline:
        port.timeout = max(0.001, deadline - time.monotonic())
        reply += port.read(expected - len(reply))
    return reply


@pytest.fixture
def rtu_well():
    well = SimulatedWell(seed=2, time_scale=0)
    well.add_line("fast", kind="rtu", baud=9600)
    well.add_line("any-speed", kind="rtu", baud=9600, emulate_baud=False)
    well.add_device("fast", SimDevice("flow-meter", "tuf-2000m", slave_id=1))
    well.add_device("any-speed", SimDevice("other-flow-meter", "tuf-2000m", slave_id=1))
    with ThreadRunner(well) as runner:
        runner.start()
        yield well


def test_a_meter_answers_only_at_its_lines_baud(rtu_well):
    well = rtu_well
    with serial.Serial(well.port("fast"), baudrate=2400, timeout=0.3) as port:
        assert exchange(port, READ, 9) == b""
        assert well.stats("fast")["wrong_speed_bytes"] == len(READ)
        assert well.stats("fast")["requests"] == 0  # the meter never saw a request
        port.baudrate = 9600
        assert modbus_rtu.parse_read_response(exchange(port, READ, 9), 1, 3, 2)
        port.baudrate = 19200
        assert exchange(port, READ, 9) == b""
    assert well.stats("fast")["replies"] == 1


def test_without_baud_emulation_a_line_answers_at_any_speed(rtu_well):
    with serial.Serial(rtu_well.port("any-speed"), baudrate=2400, timeout=0.3) as port:
        assert len(exchange(port, READ, 9)) == 9
    assert rtu_well.stats("any-speed")["wrong_speed_bytes"] == 0


def test_a_reply_is_lost_when_the_master_changes_speed_before_it_arrives(rtu_well):
    well = rtu_well
    well.inject("flow-meter", "late", count=1, delay=0.3)
    with serial.Serial(well.port("fast"), baudrate=9600, timeout=0.1) as port:
        port.write(READ)
        time.sleep(0.1)  # the request is in; its reply is 0.3 s late
        port.baudrate = 4800
        time.sleep(0.4)
        assert port.read(9) == b""
    assert well.stats("fast")["wrong_speed_replies"] == 1


def test_a_dlt645_meter_gives_its_address_only_at_its_baud():
    well = SimulatedWell(seed=2, time_scale=0)
    well.add_line("meter-645", kind="dlt645", baud=2400)
    well.add_device("meter-645", SimDevice("grid-meter", "dlt645-generic", address="210045678912"))
    request = dlt645.build_read_address_request()
    with ThreadRunner(well) as runner, serial.Serial(
        runner.start()["meter-645"], baudrate=9600, timeout=0.5
    ) as port:
        assert exchange(port, request, 1, timeout=0.5) == b""
        port.baudrate = 2400
        reply = exchange(port, request, 22, timeout=0.5)
        start, end = dlt645.find_frame(reply)
        assert dlt645.parse_read_address_reply(reply[start:end]) == "210045678912"
