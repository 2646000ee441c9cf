"""The simulated well as a Modbus TCP server: MBAP framing, unit ids, faults, a pymodbus master."""

import asyncio
import struct

import pytest

from drivers import registers
from gateway.simulator import SimDevice, SimulatedWell


def tcp_well():
    well = SimulatedWell(seed=9, time_scale=0)
    well.add_line("tcp-1", kind="tcp")
    well.add_device("tcp-1", SimDevice("energy-meter", "chint-dtsu666", slave_id=1))
    well.add_device("tcp-1", SimDevice("flow-meter", "xintai-emf", slave_id=5))
    return well


async def ask(reader, writer, transaction, unit, pdu, timeout=0.5):
    writer.write(struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu)
    await writer.drain()
    header = await asyncio.wait_for(reader.readexactly(7), timeout)
    tid, protocol, length, reply_unit = struct.unpack(">HHHB", header)
    body = await asyncio.wait_for(reader.readexactly(length - 1), timeout)
    return tid, protocol, reply_unit, body


def test_raw_mbap_read_and_faults():
    async def scenario():
        well = tcp_well()
        port = await well.serve_tcp("tcp-1", "127.0.0.1", 0)
        assert well.port("tcp-1") == f"127.0.0.1:{port}"
        snap = well.advance(120)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            tid, protocol, unit, body = await ask(
                reader, writer, 7, 1, bytes.fromhex("03 2012 0002")
            )
            assert (tid, protocol, unit, body[:2]) == (7, 0, 1, b"\x03\x04")
            raw = registers.decode(list(struct.unpack(">2H", body[2:])), "float32")
            assert raw * 0.1 == pytest.approx(snap.power_kw * 1000, rel=1e-6)
            assert well.served_values("energy-meter")["active_power"] == pytest.approx(raw * 0.1)
            # An absent unit gets no answer.
            with pytest.raises(asyncio.TimeoutError):
                await ask(reader, writer, 8, 9, bytes.fromhex("03 0000 0002"), timeout=0.2)
            # Exception reply, then a corrupted transaction id (the "crc" fault on TCP).
            well.inject("flow-meter", "exception", code=2, count=1)
            _, _, _, body = await ask(reader, writer, 9, 5, bytes.fromhex("03 0001 0002"))
            assert body == b"\x83\x02"
            well.inject("flow-meter", "crc", count=1)
            tid, _, _, _ = await ask(reader, writer, 10, 5, bytes.fromhex("03 0001 0002"))
            assert tid == 10 ^ 0xFFFF
            well.inject("flow-meter", "late", delay=0.2, count=1)
            started = asyncio.get_running_loop().time()
            await ask(reader, writer, 11, 5, bytes.fromhex("03 0005 0002"))
            assert asyncio.get_running_loop().time() - started >= 0.2
            stats = well.stats("tcp-1")
            assert stats["requests"] == 5 and stats["replies"] == 4 and stats["unanswered"] == 1
        finally:
            writer.close()
            await well.stop()

    asyncio.run(scenario())


def test_absent_unit_can_get_a_gateway_exception():
    async def scenario():
        well = tcp_well()
        port = await well.serve_tcp("tcp-1", "127.0.0.1", 0, absent_unit_exception=True)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            _, _, unit, body = await ask(reader, writer, 1, 42, bytes.fromhex("03 0000 0001"))
            assert (unit, body) == (42, b"\x83\x0b")
        finally:
            writer.close()
            await well.stop()

    asyncio.run(scenario())


def test_pymodbus_tcp_master_reads_the_simulated_meter():
    from pymodbus.client import AsyncModbusTcpClient

    async def scenario():
        well = tcp_well()
        port = await well.serve_tcp("tcp-1", "127.0.0.1", 0)
        well.advance(300)
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        await client.connect()
        try:
            reply = await client.read_holding_registers(0x0005, count=3, device_id=5)
        finally:
            client.close()
            await well.stop()
        assert not reply.isError()
        flow = registers.decode(reply.registers[:2], "float32", "DCBA")
        assert flow == pytest.approx(well.snapshot().flow_m3h, rel=1e-6)
        assert reply.registers[2] == 0xAA  # pipe full
        assert well.served_values("flow-meter") == {"flow_rate": flow, "pipe_status": "full"}

    asyncio.run(scenario())
