"""Modbus RTU slave side (Modbus over serial line V1.02): requests to meters, drivers' replies."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from drivers import modbus_rtu
from gateway.simulator.device import ILLEGAL_DATA_VALUE, ILLEGAL_FUNCTION, Meter, SlaveFault
from gateway.simulator.faults import flip_last_byte
from gateway.simulator.physics import Snapshot
from gateway.simulator.respond import Outcome, respond

SLAVE_DEVICE_FAILURE = 4  # the default code of the "exception" fault
DIAGNOSTIC_RETURN_QUERY_DATA = 0  # FC 08 sub-function 00: echo the request
_WRITES = (modbus_rtu.WRITE_SINGLE_REGISTER, modbus_rtu.WRITE_MULTIPLE_REGISTERS)


def modbus_reply(meter: Meter, frame: bytes, snap: Snapshot) -> tuple[bytes, dict[str, Any]]:
    """The normal reply to a CRC-checked request and the values it carries (SlaveFault: refused)."""
    try:
        slave, function, address, count_or_value, values = modbus_rtu.parse_request(frame)
    except modbus_rtu.WrongFunction as error:
        raise SlaveFault(ILLEGAL_FUNCTION, str(error)) from None
    except modbus_rtu.ModbusError as error:
        raise SlaveFault(ILLEGAL_DATA_VALUE, str(error)) from None
    if function in (modbus_rtu.READ_HOLDING_REGISTERS, modbus_rtu.READ_INPUT_REGISTERS):
        if not 1 <= count_or_value <= modbus_rtu.MAX_READ_REGISTERS:
            raise SlaveFault(ILLEGAL_DATA_VALUE, f"count {count_or_value} not in 1..125")
        words, served = meter.read_registers(function, address, count_or_value, snap)
        return modbus_rtu.build_read_response(slave, function, words), served
    if function == modbus_rtu.READ_COILS:
        if not 1 <= count_or_value <= modbus_rtu.MAX_READ_BITS:
            raise SlaveFault(ILLEGAL_DATA_VALUE, f"count {count_or_value} not in 1..2000")
        bits = meter.read_coils(address, count_or_value)
        return modbus_rtu.build_read_response(slave, function, bits), {}
    if function == modbus_rtu.WRITE_SINGLE_COIL:
        meter.write_coil(address, count_or_value == modbus_rtu.COIL_ON)
        return modbus_rtu.build_write_response(
            slave, function, address, count_or_value == modbus_rtu.COIL_ON), {}
    if function == modbus_rtu.WRITE_SINGLE_REGISTER:
        meter.write_registers(address, [count_or_value])
        return modbus_rtu.build_write_response(slave, function, address, count_or_value), {}
    if function == modbus_rtu.WRITE_MULTIPLE_REGISTERS:
        meter.write_registers(address, list(values or []))
        return modbus_rtu.build_write_response(slave, function, address, count_or_value), {}
    if function == modbus_rtu.DIAGNOSTICS and address == DIAGNOSTIC_RETURN_QUERY_DATA:
        return bytes(frame), {}
    raise SlaveFault(ILLEGAL_FUNCTION, f"function {function} is not supported by this meter")


def answer_modbus(
    meter: Meter,
    frame: bytes,
    snap: Snapshot,
    wrap: Callable[[bytes], bytes] = lambda rtu: rtu,
    corrupt: Callable[[bytes], bytes] = flip_last_byte,
) -> Outcome:
    """One meter's outcome for an RTU request; `wrap` turns the RTU reply into another framing."""
    slave, function = frame[0], frame[1]

    def exception(code: int | None) -> bytes:
        reply = modbus_rtu.build_exception_response(slave, function, code or SLAVE_DEVICE_FAILURE)
        return wrap(reply)

    def normal() -> tuple[bytes, dict[str, Any]]:
        reply, served = modbus_reply(meter, frame, snap)
        return wrap(reply), served

    return respond(meter, snap, normal, exception, corrupt)


class RtuProtocol:
    """The Modbus RTU side of a serial line: splits requests and routes them by slave id."""

    def __init__(self, meters: dict[int, Meter], snapshot: Callable[[], Snapshot]) -> None:
        self.meters = meters
        self.snapshot = snapshot
        self._bad = 0

    def bad_frames(self) -> int:
        return self._bad

    def extract(self, buffer: bytearray) -> list[bytes]:
        frames = []
        while buffer:
            try:
                needed = modbus_rtu.request_length(buffer)
            except modbus_rtu.ModbusError:
                break  # a function whose length is unknown: only the silence ends it
            if needed is None or needed > len(buffer):
                break
            if needed > 0 and modbus_rtu.crc_ok(bytes(buffer[:needed])):
                frames.append(bytes(buffer[:needed]))
                del buffer[:needed]
            else:
                del buffer[:1]  # resynchronise on the next byte
                self._bad += 1
        return frames

    def at_silence(self, buffer: bytes) -> list[bytes]:
        """A request of a function with no known length, ended by silence: kept if its CRC holds."""
        if len(buffer) >= 4 and modbus_rtu.crc_ok(buffer):
            return [buffer]
        if buffer:
            self._bad += 1
        return []

    def answer(self, frame: bytes) -> list[Outcome]:
        slave, function = frame[0], frame[1]
        snap = self.snapshot()
        if slave == 0:  # broadcast: writes are carried out, nobody replies
            if function in _WRITES:
                _, _, address, value, values = modbus_rtu.parse_request(frame)
                words = [value] if function == modbus_rtu.WRITE_SINGLE_REGISTER else list(values)
                for meter in self.meters.values():
                    with contextlib.suppress(SlaveFault):
                        meter.write_registers(address, words)
            return []
        meter = self.meters.get(slave)
        return [answer_modbus(meter, frame, snap)] if meter else []
