"""The simulated well's DL/T 645-2007 line on a pty: read and read-address with real frames."""

import time

import pytest
import serial

from drivers import dlt645
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

LINE = "dlt"


@pytest.fixture
def dlt_bus():
    well = SimulatedWell(seed=5, time_scale=0)
    well.add_line(LINE, kind="dlt645", baud=2400)
    well.add_device(LINE, SimDevice("grid-meter", "dlt645-generic", address="000000000001"))
    well.add_device(LINE, SimDevice("pump-meter", "dlt645-generic", address="202401150042"))
    runner = ThreadRunner(well)
    runner.start()
    # parity "E" as the meters use would be right, but this kernel refuses PARENB on a pty (EINVAL);
    # a pty carries bytes, not bits, so the parity setting changes nothing here.
    port = serial.Serial(well.port(LINE), baudrate=2400, timeout=0.3)
    yield well, port
    port.close()
    runner.stop()


def exchange(port, request, timeout=0.3):
    """Send a request and collect bytes until a whole frame arrived or the timeout passed."""
    port.reset_input_buffer()
    port.write(request)
    deadline, data = time.monotonic() + timeout, b""
    while time.monotonic() < deadline:
        port.timeout = max(0.001, deadline - time.monotonic())
        data += port.read(max(1, port.in_waiting))
        found = dlt645.find_frame(data)
        if found:
            return data[found[0] : found[1]]
    return data


def test_read_forward_active_energy(dlt_bus):
    well, port = dlt_bus
    well.advance(1800)
    reply = exchange(port, dlt645.build_read_request("000000000001", "00010000"))
    value = dlt645.decode_bcd(dlt645.parse_read_reply(reply, "000000000001", "00010000"), 2)
    served = well.served_values("grid-meter")
    assert value == pytest.approx(served["import_energy"])
    assert value == pytest.approx(well.values("grid-meter")["import_energy"], abs=0.005)


def test_each_meter_answers_only_its_own_address(dlt_bus):
    well, port = dlt_bus
    well.advance(60)
    reply = exchange(port, dlt645.build_read_request("202401150042", "02030000"))
    power = dlt645.decode_bcd(dlt645.parse_read_reply(reply, "202401150042", "02030000"), 4)
    assert power == pytest.approx(well.snapshot().power_kw, abs=1e-4)
    assert exchange(port, dlt645.build_read_request("999999999999", "00010000"), 0.15) == b""
    assert well.stats(LINE)["unanswered"] == 1


def test_read_address_with_one_meter_on_the_line():
    well = SimulatedWell(seed=5, time_scale=0)
    well.add_line(LINE, kind="dlt645", baud=2400)
    well.add_device(LINE, SimDevice("grid-meter", "dlt645-generic", address="000000000123"))
    with ThreadRunner(well) as runner:
        runner.start()
        with serial.Serial(well.port(LINE), baudrate=2400, timeout=0.3) as port:
            reply = exchange(port, dlt645.build_read_address_request())
            assert dlt645.parse_read_address_reply(reply) == "000000000123"
            # The broadcast address also reads data when only one meter listens.
            reply = exchange(port, dlt645.build_read_request(dlt645.BROADCAST_ADDRESS, "00010000"))
            assert (
                dlt645.decode_bcd(dlt645.parse_read_reply(reply, "000000000123", "00010000"), 2) > 0
            )


def test_broadcast_with_two_meters_collides(dlt_bus):
    well, port = dlt_bus
    reply = exchange(port, dlt645.build_read_address_request(), 0.2)
    with pytest.raises(dlt645.Dlt645Error):
        dlt645.parse_read_address_reply(reply)
    assert well.stats(LINE)["devices"]["grid-meter"]["replies"] == 1
    assert well.stats(LINE)["devices"]["pump-meter"]["replies"] == 1


def test_unknown_data_identifier_gets_an_abnormal_reply(dlt_bus):
    _, port = dlt_bus
    reply = exchange(port, dlt645.build_read_request("000000000001", "04000401"))
    with pytest.raises(dlt645.AbnormalReply) as abnormal:
        dlt645.parse_read_reply(reply, "000000000001", "04000401")
    assert abnormal.value.error_code == 0x02  # no data requested


def test_faults_on_a_dlt645_meter(dlt_bus):
    well, port = dlt_bus
    request = dlt645.build_read_request("000000000001", "00010000")
    well.inject("grid-meter", "crc", count=1)
    with pytest.raises(dlt645.ChecksumError):
        dlt645.parse_read_reply(exchange(port, request), "000000000001", "00010000")
    well.inject("grid-meter", "exception", code=0x04, count=1)
    with pytest.raises(dlt645.AbnormalReply) as abnormal:
        dlt645.parse_read_reply(exchange(port, request), "000000000001", "00010000")
    assert abnormal.value.error_code == 0x04
    well.inject("grid-meter", "no_answer", count=1)
    assert exchange(port, request, 0.15) == b""
    assert dlt645.parse_read_reply(exchange(port, request), "000000000001", "00010000")


def test_dlt645_rollover_is_served_in_bcd(dlt_bus):
    well, port = dlt_bus
    well.inject("grid-meter", "rollover", point="import_energy", margin=0.25)
    reply = exchange(port, dlt645.build_read_request("000000000001", "00010000"))
    data = dlt645.parse_read_reply(reply, "000000000001", "00010000")
    assert dlt645.decode_bcd(data, 2) == pytest.approx(999999.75)
    well.advance(300)  # 7.5 kW × 300 s = 0.625 kWh: past 999999.99, on to 0.37
    reply = exchange(port, dlt645.build_read_request("000000000001", "00010000"))
    data = dlt645.parse_read_reply(reply, "000000000001", "00010000")
    assert 0.3 < dlt645.decode_bcd(data, 2) < 0.45
