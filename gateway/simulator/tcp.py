"""Modbus TCP server (Modbus Messaging on TCP/IP V1.0b): MBAP = transaction id 2 | protocol 0 (2) |
length 2 (unit + PDU) | unit id 1, then the PDU, answered through the RTU slave side of drivers."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable

from drivers import modbus_rtu
from gateway.simulator.device import Meter
from gateway.simulator.modbus_slave import answer_modbus
from gateway.simulator.physics import Snapshot

MBAP_LENGTH = 7
MAX_PDU = 253


def mbap(transaction: int, unit: int, pdu: bytes) -> bytes:
    """MBAP header + PDU."""
    return struct.pack(">HHHB", transaction, 0, len(pdu) + 1, unit) + pdu


def rtu_to_tcp(transaction: int) -> Callable[[bytes], bytes]:
    """Rewrap an RTU reply (slave | PDU | CRC) as a TCP ADU for this transaction."""
    return lambda rtu: mbap(transaction, rtu[0], rtu[1:-2])


def flip_transaction_id(adu: bytes) -> bytes:
    """TCP has no CRC: a "crc" fault corrupts the transaction id, which the master must check."""
    return bytes([adu[0] ^ 0xFF, adu[1] ^ 0xFF]) + adu[2:] if len(adu) >= 2 else adu


class TcpLine:
    """A Modbus TCP endpoint for the meters of one line (unit id = slave id)."""

    def __init__(
        self,
        name: str,
        meters: dict[int, Meter],
        snapshot: Callable[[], Snapshot],
        absent_unit_exception: bool = False,
    ) -> None:
        self.name = name
        self.meters = meters
        self.snapshot = snapshot
        # A gateway box answers exception 0x0B for an absent unit; a plain device stays silent.
        self.absent_unit_exception = absent_unit_exception
        self.counters = {"requests": 0, "replies": 0, "unanswered": 0, "connections": 0}
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.host = ""
        self.port = 0

    async def serve(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(self._connection, host, port)
        self.host, self.port = self._server.sockets[0].getsockname()[:2]
        return self.port

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await self._server.wait_closed()
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counters["connections"] += 1
        self._writers.add(writer)
        try:
            while True:
                header = await reader.readexactly(MBAP_LENGTH)
                transaction, protocol, length, unit = struct.unpack(">HHHB", header)
                if protocol != 0 or not 2 <= length <= MAX_PDU + 1:
                    break  # not Modbus: drop the connection, as servers do
                pdu = await reader.readexactly(length - 1)
                reply = await self._answer(transaction, unit, pdu)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
                    self.counters["replies"] += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, transaction: int, unit: int, pdu: bytes) -> bytes | None:
        self.counters["requests"] += 1
        meter = self.meters.get(unit)
        if meter is None:
            self.counters["unanswered"] += 1
            if self.absent_unit_exception:
                return mbap(transaction, unit, bytes([pdu[0] | 0x80, 0x0B]))
            return None
        frame = modbus_rtu.append_crc(bytes([unit]) + pdu)
        outcome = answer_modbus(
            meter, frame, self.snapshot(), wrap=rtu_to_tcp(transaction), corrupt=flip_transaction_id
        )
        if outcome.data is None:
            self.counters["unanswered"] += 1
            return None
        if outcome.delay:
            await asyncio.sleep(outcome.delay)
        return outcome.data
