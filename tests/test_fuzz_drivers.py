"""Every driver decoder, fed damaged bytes, returns or raises only its documented errors.

Inputs are valid frames made by the drivers' own builders (seeds), then bit flips, byte changes,
inserts, deletes, truncation, duplication, random and huge inputs (tests/fuzzing.py); for half of
them the checksum is repaired so the damage reaches the checks behind it. 10,000 inputs per decoder
in the normal run, 10^6 with --torture. A decoder that lets anything else escape (IndexError,
struct.error, RecursionError…) would crash the poller that called it.
"""

import contextlib
import zlib

import pytest
from fuzzing import cases, mutants

from drivers import dlt645
from drivers import modbus_rtu as rtu
from drivers import registers as reg

METER = "000012345678"
ENERGY_DI = "00010000"  # DL/T 645-2007 Appendix A: combined active energy, total


def _modbus_crc(data: bytearray) -> bytes:
    return rtu.append_crc(bytes(data[:-2])) if len(data) >= 2 else bytes(data)


def _dlt645_checksum(data: bytearray) -> bytes:
    first = 0
    while first < len(data) and data[first] == 0xFE:
        first += 1
    if len(data) - first >= 12:
        data[-2] = sum(data[first:-2]) & 0xFF
    return bytes(data)


READ_REPLIES = [
    rtu.build_read_response(1, rtu.READ_HOLDING_REGISTERS, [0x1234, 0xABCD, 0, 0xFFFF]),
    rtu.build_read_response(7, rtu.READ_HOLDING_REGISTERS, [17]),
    rtu.build_exception_response(1, rtu.READ_HOLDING_REGISTERS, 2),
]
WRITE_REPLIES = [
    rtu.build_write_response(1, rtu.WRITE_SINGLE_REGISTER, 0x10, 0x1234),
    rtu.build_exception_response(1, rtu.WRITE_SINGLE_REGISTER, 4),
]
REQUESTS = [
    rtu.build_read_request(1, rtu.READ_HOLDING_REGISTERS, 0, 10),
    rtu.build_write_single_coil(3, 8, True),
    rtu.build_write_single_register(1, 0x10, 0x1234),
    rtu.build_write_multiple_registers(1, 0x20, [1, 2, 3]),
]
DLT645_REPLIES = [
    dlt645.build_read_reply(METER, ENERGY_DI, dlt645.encode_bcd(12345.67, 4, 2)),
    dlt645.build_read_reply(METER, ENERGY_DI, b"", preamble=False),
    dlt645.build_read_address_reply(METER),
    dlt645.build_abnormal_reply(METER, 0x11, 0x02),
]
DLT645_REQUESTS = [
    dlt645.build_read_request(METER, ENERGY_DI),
    dlt645.build_read_address_request(),
]

# (name, seeds, checksum fixer, decoder, the errors it documents)
TARGETS = [
    ("modbus parse_read_response", READ_REPLIES, _modbus_crc,
     lambda frame: rtu.parse_read_response(frame, 1, rtu.READ_HOLDING_REGISTERS, 4),
     rtu.ModbusError),
    ("modbus parse_write_response", WRITE_REPLIES, _modbus_crc,
     lambda frame: rtu.parse_write_response(frame, 1, rtu.WRITE_SINGLE_REGISTER, 0x10, 0x1234),
     rtu.ModbusError),
    ("modbus request_length", REQUESTS, None, rtu.request_length, rtu.ModbusError),
    ("modbus parse_request", REQUESTS, _modbus_crc, rtu.parse_request, rtu.ModbusError),
    ("dlt645 find_frame", DLT645_REPLIES, None, dlt645.find_frame, ()),
    ("dlt645 parse_frame", DLT645_REPLIES, _dlt645_checksum, dlt645.parse_frame,
     dlt645.Dlt645Error),
    ("dlt645 parse_read_reply", DLT645_REPLIES, _dlt645_checksum,
     lambda frame: dlt645.parse_read_reply(frame, METER, ENERGY_DI), dlt645.Dlt645Error),
    ("dlt645 parse_read_address_reply", DLT645_REPLIES, _dlt645_checksum,
     dlt645.parse_read_address_reply, dlt645.Dlt645Error),
    ("dlt645 parse_request", DLT645_REQUESTS, _dlt645_checksum, dlt645.parse_request,
     dlt645.Dlt645Error),
    ("dlt645 decode_bcd", [dlt645.encode_bcd(12345.67, 4, 2), b"\x99\x99\x99\x99"], None,
     lambda data: dlt645.decode_bcd(data, 2, signed=bool(len(data) & 1)), dlt645.Dlt645Error),
]


def _registers(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


@pytest.mark.parametrize("name, seeds, fix, decode, documented", TARGETS,
                         ids=[target[0] for target in TARGETS])
def test_decoder_raises_only_its_documented_errors(name, seeds, fix, decode, documented, torture):
    for seed in seeds:  # the seeds themselves are valid input (or a documented refusal)
        with contextlib.suppress(documented):
            decode(seed)
    outcomes = {"returned": 0, "refused": 0}
    for case, data in mutants(seeds, cases(torture), seed=zlib.crc32(name.encode()), fix=fix):
        try:
            decode(data)
        except documented:
            outcomes["refused"] += 1
        except Exception as exc:  # the point: name any undocumented escape
            pytest.fail(f"{name}: case {case} input {data.hex()} raised "
                        f"{type(exc).__name__}: {exc}")
        else:
            outcomes["returned"] += 1
    if documented:
        assert outcomes["refused"] > 0, f"{name}: no damaged input was refused: {outcomes}"


@pytest.mark.parametrize("type_", reg.TYPES)
def test_register_decode_raises_only_register_errors(type_, torture):
    seeds = [bytes(range(16)), b"\xff" * 8, b"\x00" * 8, b"\x7f\x80" * 4, b"AB CD\x00\x00"]
    for case, data in mutants(seeds, cases(torture, normal=2_000, long=100_000),
                              seed=zlib.crc32(type_.encode())):
        registers = _registers(data)
        if case % 7 == 0 and registers:  # values a broken transport might hand over
            registers[case % len(registers)] = (-1, 0x10000, 1.5, None)[case % 4]
        for order in reg.ORDERS:
            try:
                reg.decode(registers, type_, order)
            except reg.RegisterError:
                pass
            except Exception as exc:
                pytest.fail(f"decode({registers}, {type_!r}, {order!r}) raised "
                            f"{type(exc).__name__}: {exc}")
