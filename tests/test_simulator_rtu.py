"""The simulated well on a pty serial line: real Modbus RTU bytes from a raw pyserial master and
from pymodbus, several slaves, every fault, and byte-time emulation."""

import asyncio
import statistics
import time

import pytest
import serial

from drivers import modbus_rtu, registers
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

LINE = "rs485-1"


def start_well(emulate_byte_time=False, baud=9600, time_scale=0.0):
    well = SimulatedWell(seed=3, time_scale=time_scale)
    well.add_line(LINE, kind="rtu", baud=baud, emulate_byte_time=emulate_byte_time)
    well.add_device(LINE, SimDevice("flow-meter", "tuf-2000m", slave_id=1))
    well.add_device(LINE, SimDevice("energy-meter", "eastron-sdm630", slave_id=2))
    well.add_device(LINE, SimDevice("level", "qdy30a", slave_id=3))
    runner = ThreadRunner(well)
    runner.start()
    return well, runner


@pytest.fixture
def bus():
    well, runner = start_well()
    port = serial.Serial(well.port(LINE), baudrate=9600, timeout=0.3)
    yield well, port
    port.close()
    runner.stop()


def transact(port, request, expected, timeout=0.3):
    """Send one request; read until `expected` bytes (5 for an exception reply) or the timeout."""
    port.reset_input_buffer()
    port.write(request)
    return receive(port, expected, timeout)


def receive(port, expected, timeout):
    deadline, reply = time.monotonic() + timeout, b""
    while len(reply) < expected and time.monotonic() < deadline:
        port.timeout = max(0.001, deadline - time.monotonic())
        wanted = expected if len(reply) >= 5 else min(5, expected)  # an exception reply is 5 bytes
        reply += port.read(wanted - len(reply))
        if len(reply) >= 5 and reply[1] & 0x80:
            expected = 5
    return reply


def read(port, slave, function, address, count, timeout=0.3):
    request = modbus_rtu.build_read_request(slave, function, address, count)
    reply = transact(port, request, modbus_rtu.response_length(function, count), timeout)
    return modbus_rtu.parse_read_response(reply, slave, function, count)


def test_values_read_over_the_pty_equal_the_simulators(bus):
    well, port = bus
    snap = well.advance(300)
    words = read(port, 1, 3, 0x0000, 16)  # TUF-2000M flow, velocity, forward and reverse totals
    flow = registers.decode(words[0:2], "float32", "CDAB")
    forward = registers.decode(words[8:12], "long_fraction", "CDAB")
    served = well.served_values("flow-meter")
    assert flow == pytest.approx(served["flow_rate"]) and flow == pytest.approx(
        snap.flow_m3h, rel=1e-6
    )
    assert forward == pytest.approx(served["forward_total"])
    assert set(served) >= {"flow_rate", "velocity", "forward_total", "reverse_total"}
    power = registers.decode(read(port, 2, 4, 0x0034, 2), "float32")
    assert power == pytest.approx(snap.power_kw * 1000, rel=1e-6)
    assert well.served_values("energy-meter")["active_power"] == pytest.approx(power)
    level_words = read(port, 3, 3, 0, 7)
    assert level_words[4] == round(snap.level_m * 10 ** level_words[3])


def test_absent_slave_gets_no_answer_and_bus_keeps_working(bus):
    well, port = bus
    request = modbus_rtu.build_read_request(9, 3, 0, 2)
    assert transact(port, request, 9, timeout=0.2) == b""
    assert read(port, 1, 3, 0, 2)  # the next request to a present slave is answered
    stats = well.stats(LINE)
    assert stats["requests"] == 2 and stats["replies"] == 1 and stats["unanswered"] == 1
    assert stats["devices"]["flow-meter"]["requests"] == 1


def test_bad_crc_request_is_ignored(bus):
    well, port = bus
    request = bytearray(modbus_rtu.build_read_request(1, 3, 0, 2))
    request[-1] ^= 0x55
    assert transact(port, bytes(request), 9, timeout=0.2) == b""
    assert well.stats(LINE)["bad_frames"] > 0
    assert read(port, 1, 3, 0, 2)


def test_broadcast_write_is_carried_out_without_reply(bus):
    _, port = bus
    request = modbus_rtu.build_write_single_register(0, 3, 1)  # every QDY30A: 1 decimal
    assert transact(port, request, 8, timeout=0.2) == b""
    assert read(port, 3, 3, 3, 1) == [1]


def test_write_single_register_is_echoed(bus):
    _, port = bus
    request = modbus_rtu.build_write_single_register(3, 3, 3)
    reply = transact(port, request, 8)
    modbus_rtu.parse_write_response(reply, 3, 6, 3, 3)
    assert read(port, 3, 3, 3, 1) == [3]


def test_exception_reply_for_registers_outside_the_map(bus):
    _, port = bus
    with pytest.raises(modbus_rtu.IllegalDataAddress):
        read(port, 2, 4, 0x0400, 2)


def test_unknown_function_ends_at_the_silence_and_gets_illegal_function(bus):
    _, port = bus
    report_slave_id = modbus_rtu.append_crc(bytes([1, 0x11]))  # FC 17: length unknown to a slave
    reply = transact(port, report_slave_id, 5)
    assert reply == modbus_rtu.build_exception_response(1, 0x11, 1)  # illegal function
    assert transact(port, modbus_rtu.append_crc(bytes([9, 0x11])), 5, timeout=0.2) == b""
    assert read(port, 1, 3, 0, 2)


def test_fault_no_answer_for_a_count_then_recovers(bus):
    well, port = bus
    well.inject("flow-meter", "no_answer", count=2)
    request = modbus_rtu.build_read_request(1, 3, 0, 2)
    assert transact(port, request, 9, timeout=0.15) == b""
    assert transact(port, request, 9, timeout=0.15) == b""
    assert read(port, 1, 3, 0, 2)
    assert well.stats(LINE)["devices"]["flow-meter"]["dropped"] == 2


def test_fault_dead_slave_is_silent_until_revived(bus):
    well, port = bus
    well.inject("energy-meter", "dead")
    request = modbus_rtu.build_read_request(2, 4, 0, 2)
    for _ in range(3):
        assert transact(port, request, 9, timeout=0.1) == b""
    assert read(port, 1, 3, 0, 2)  # the others still answer
    well.clear("energy-meter", "dead")
    assert read(port, 2, 4, 0, 2)


def test_fault_late_answer(bus):
    well, port = bus
    well.inject("flow-meter", "late", delay=0.25, count=1)
    request = modbus_rtu.build_read_request(1, 3, 0, 2)
    assert transact(port, request, 9, timeout=0.1) == b""  # the master gives up first ...
    started = time.monotonic()
    late = receive(port, 9, timeout=0.5)  # ... and the reply still arrives
    assert len(late) == 9 and modbus_rtu.crc_ok(late)
    assert time.monotonic() - started < 0.4


def test_fault_crc_corruption(bus):
    well, port = bus
    well.served_values("flow-meter").clear()
    well.inject("flow-meter", "crc", count=1)
    with pytest.raises(modbus_rtu.CrcError):
        read(port, 1, 3, 0, 2)
    assert "flow_rate" not in well.served_values("flow-meter")  # a corrupted reply is not "served"
    assert [r.intact for r in well.served_log("flow-meter")] == [False]
    assert read(port, 1, 3, 0, 2)
    assert "flow_rate" in well.served_values("flow-meter")


def test_fault_exception_code(bus):
    well, port = bus
    well.inject("energy-meter", "exception", code=6)
    with pytest.raises(modbus_rtu.SlaveDeviceBusy):
        read(port, 2, 4, 0, 2)
    well.inject("energy-meter", "exception")  # default: slave device failure
    with pytest.raises(modbus_rtu.SlaveDeviceFailure):
        read(port, 2, 4, 0, 2)
    well.clear("energy-meter")
    assert read(port, 2, 4, 0, 2)


def test_fault_stray_bytes_around_the_reply(bus):
    well, port = bus
    well.inject("flow-meter", "stray", before=b"\x00\x13", after=b"\xff")
    request = modbus_rtu.build_read_request(1, 3, 0, 2)
    reply = transact(port, request, 12)
    assert reply[:2] == b"\x00\x13" and reply[-1:] == b"\xff"
    assert modbus_rtu.parse_read_response(reply[2:-1], 1, 3, 2)


def test_fault_garble_corrupts_some_replies(bus):
    well, port = bus
    well.inject("flow-meter", "garble", probability=0.2)
    outcomes = []
    for _ in range(20):
        try:
            read(port, 1, 3, 0, 2, timeout=0.1)
            outcomes.append("ok")
        except modbus_rtu.ModbusError:
            outcomes.append("bad")
    assert "bad" in outcomes and "ok" in outcomes
    counters = well.stats(LINE)["devices"]["flow-meter"]
    assert counters["corrupted"] == outcomes.count("bad")


def test_fault_injection_rejects_bad_parameters(bus):
    well, _ = bus
    with pytest.raises(ValueError, match="probability must be in \\(0, 1\\], got 2"):
        well.inject("flow-meter", "garble", probability=2)
    with pytest.raises(ValueError, match="takes no parameter"):
        well.inject("flow-meter", "late", seconds=1)
    with pytest.raises(KeyError, match="no simulated device 'pump'"):
        well.inject("pump", "dead")


def test_pymodbus_master_reads_the_simulated_meter():
    from pymodbus.client import AsyncModbusSerialClient

    well, runner = start_well()
    try:
        snap = well.advance(200)

        async def poll():
            client = AsyncModbusSerialClient(well.port(LINE), baudrate=9600, timeout=1, retries=0)
            await client.connect()
            try:
                energy = await client.read_input_registers(0x0048, count=2, device_id=2)
                level = await client.read_holding_registers(0, count=7, device_id=3)
            finally:
                client.close()
            return energy, level

        energy, level = asyncio.run(poll())
        assert not energy.isError() and not level.isError()
        import_kwh = registers.decode(energy.registers, "float32")
        assert import_kwh == pytest.approx(well.served_values("energy-meter")["import_energy"])
        assert level.registers[4] == round(snap.level_m * 10 ** level.registers[3])
    finally:
        runner.stop()


def test_byte_time_emulation_paces_transactions_at_the_baud_rate():
    """The machine's own round trip through the pty and the simulator's thread (which grows with
    the load of the moment, e.g. a parallel test run) is measured on an unpaced line in the same
    rounds and taken out: what is left is the pacing."""
    well, runner = start_well(emulate_byte_time=True)
    free_well, free_runner = start_well(emulate_byte_time=False)
    port = serial.Serial(well.port(LINE), baudrate=9600, timeout=0.5)
    free_port = serial.Serial(free_well.port(LINE), baudrate=9600, timeout=0.5)
    try:
        request = modbus_rtu.build_read_request(1, 3, 0, 2)  # 8-byte request, 9-byte reply
        transact(port, request, 9)
        transact(free_port, request, 9)
        paced, unpaced = [], []
        for _ in range(25):
            for line, times in ((port, paced), (free_port, unpaced)):
                started = time.monotonic()
                assert len(transact(line, request, 9, timeout=0.5)) == 9
                times.append(time.monotonic() - started)
        per_transaction = statistics.median(paced) - statistics.median(unpaced)
        theoretical = modbus_rtu.transaction_time(9600, 8, 9)  # ≈ 27 ms: ~35 per second at best
        assert per_transaction == pytest.approx(theoretical, rel=0.2)
    finally:
        port.close()
        free_port.close()
        runner.stop()
        free_runner.stop()


def test_byte_time_emulation_queues_requests_behind_a_busy_bus():
    well, runner = start_well(emulate_byte_time=True)
    port = serial.Serial(well.port(LINE), baudrate=9600, timeout=0.5)
    try:
        first = modbus_rtu.build_read_request(1, 3, 0, 2)
        second = modbus_rtu.build_read_request(2, 4, 0, 2)
        started = time.monotonic()
        port.write(first + second)  # the second arrives while the first holds the bus
        replies = receive(port, 18, timeout=1.0)
        elapsed = time.monotonic() - started
        assert modbus_rtu.parse_read_response(replies[:9], 1, 3, 2)
        assert modbus_rtu.parse_read_response(replies[9:], 2, 4, 2)
        assert elapsed >= 2 * modbus_rtu.transaction_time(9600, 8, 9) - modbus_rtu.silent_interval(
            9600
        )
    finally:
        port.close()
        runner.stop()


def test_time_scale_moves_simulated_time_with_real_time():
    well, runner = start_well(time_scale=600.0)
    try:
        real_start, before = time.monotonic(), well.snapshot()
        time.sleep(0.3)  # ≈ 180 simulated seconds of pumping
        after, real_end = well.snapshot(), time.monotonic()
        simulated = after.time_s - before.time_s
        assert 0.3 * 600 <= simulated <= (real_end - real_start) * 600
        assert after.pump_on and before.pump_on
        gained = after.energy_kwh - before.energy_kwh
        assert gained == pytest.approx(7.5 * simulated / 3600, rel=0.02)
    finally:
        runner.stop()
