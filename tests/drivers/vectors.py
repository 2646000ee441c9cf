"""Test-vector tables for drivers/, each row naming its source: for encode, decode, round trip."""

NAN = float("nan")
INF = float("inf")


def h(text):
    """Bytes from spaced hex as protocol documents print them: "01 04 00 00"."""
    return bytes.fromhex(text.replace(" ", ""))


# --- sources -------------------------------------------------------------------------------------
# Standards: Modbus Application Protocol Specification V1.1b3 (2012), Modbus over serial line
# specification and implementation guide V1.02 (2006), DL/T 645-2007 (multi-function watt-hour
# meter communication protocol), IEEE 754-2008. Public implementations the vectors were checked
# against, run or with their algorithm transcribed for a one-off check (none is imported here):
# pymodbus 3.16.1 (pymodbus-dev/pymodbus: pymodbus/framer/rtu.py FramerRTU.compute_CRC,
# pymodbus/client/mixin.py convert_from_registers), minimalmodbus 2.1.1 (pyhys/minimalmodbus:
# minimalmodbus.py _calculate_crc, _bytes_to_long, _bytes_to_float, _bytes_to_textstring, with
# ABCD = BYTEORDER_BIG, CDAB = BYTEORDER_LITTLE_SWAP, BADC = BYTEORDER_BIG_SWAP, DCBA =
# BYTEORDER_LITTLE), 600888/dlt645 (python/src/protocol/protocol.py build_frame,
# python/src/common/transform.py bcd_to_float). shared/domain/ is the project's notes outside
# this repository; it is named only where a vector was taken from it.
CHECKED_CRC = ("CRC checked with pymodbus 3.16.1 FramerRTU.compute_CRC and minimalmodbus 2.1.1 "
               "_calculate_crc")
PROTOCOLS_CRC = ("FC 4 request per Modbus over serial line V1.02 §2.5.1.1, example of "
                 "shared/domain/protocols.md; " + CHECKED_CRC)
SDM = ("Eastron SDM120 reply to FC 4 register 0x0000, voltage as float32 ABCD (map as in "
       "ilseh/Oppleo src/nl/oppleo/utils/modbus/SDM120.py), example of shared/domain/meters.md; "
       "IEEE 754 value checked with pymodbus 3.16.1 convert_from_registers and minimalmodbus "
       "2.1.1 _bytes_to_float")
TUF = ("TUF-2000M REAL4 low word first (CDAB), as RakugakiRkGk/TUF2000M-Arduino-Read-Write- "
       "Mobus_Auto_TTL/functions.cpp readFloat reads it; example of shared/domain/meters.md; "
       "checked with pymodbus 3.16.1 (word_order little) and minimalmodbus 2.1.1")
XINTAI = ("Kaifeng Xintai water meter MODBUS 485 protocol V1 example 1E 85 0B 3F = 0.545 m3/h "
          "(float32 DCBA), as quoted in tankwanghow/pou_con "
          "lib/pou_con/hardware/devices/xintai_water_meter.ex; checked with minimalmodbus 2.1.1 "
          "_bytes_to_float BYTEORDER_LITTLE")
REVENG = ("RevEng CRC catalogue (reveng.sourceforge.io/crc-catalogue/16.htm), CRC-16/MODBUS: "
          "check value 0x4B37 for ASCII 123456789")
CRC_INIT = ("Modbus over serial line V1.02 §6.2.2: the CRC register is preset to 0xFFFF, so no "
            "data leaves 0xFFFF")
PYMODBUS_CRC = "frame written by hand per Modbus over serial line V1.02 §2.5.1; " + CHECKED_CRC
MBAP = ("Modbus Application Protocol V1.1b3 example PDU (%s) as an RTU frame to slave 0x11 "
        "(Modbus over serial line V1.02 §2.5.1); " + CHECKED_CRC)
STRUCT = ("IEEE 754 binary32/binary64 or two's complement, big-endian (CPython 3.11 struct), the "
          "16-bit words arranged as the order says; checked with minimalmodbus 2.1.1 and, ABCD "
          "and CDAB, pymodbus 3.16.1 convert_from_registers, where they have the type")
TUF_LAYOUT = ("TUF-2000M accumulator: LONG whole units then REAL4 fraction, both low word first, "
              "as RakugakiRkGk/TUF2000M-Arduino-Read-Write- Mobus_Auto_TTL/functions.cpp "
              "readLong/readFloat read them (layout of shared/domain/meters.md); parts packed "
              "by CPython struct")
BCD_REGISTER = ("by hand: one decimal digit per nibble of the register value, as "
                "drivers/registers.py defines bcd16/bcd32 (Modbus has no BCD type) (%s)")
TEXT = ("by hand: ASCII, two characters a register, its high byte first (Modbus Application "
        "Protocol V1.1b3 §4.2); checked with minimalmodbus 2.1.1 _bytes_to_textstring (%s)")
DEFINED = "by hand from the definition in drivers/registers.py (%s)"
SHORTEST = ("by hand: the shortest reply, an exception, is 5 bytes (Modbus Application "
            "Protocol V1.1b3 §7, Modbus over serial line V1.02 §2.5.1.1) (%s)")

# --- CRC-16/MODBUS: (data, CRC bytes as sent, low byte first, source) --------------------------
CRC_VECTORS = [
    ("01 04 00 00 00 02", "71 CB", PROTOCOLS_CRC),
    ("31 32 33 34 35 36 37 38 39", "37 4B", REVENG),
    ("", "FF FF", CRC_INIT),
    ("01 04 04 43 66 33 34", "1B 38", PYMODBUS_CRC + " (the SDM reply above)"),
    ("01 03 00 00 00 0A", "C5 CD", PYMODBUS_CRC),
    ("11 03 00 6B 00 03", "76 87", MBAP % "§6.3 read holding registers"),
    ("01 83 02", "C0 F1", PYMODBUS_CRC),
]

# --- read requests: (slave, function, address, count, frame, source) ---------------------------
READ_REQUESTS = [
    (1, 4, 0x0000, 2, "01 04 00 00 00 02 71 CB", PROTOCOLS_CRC),
    (0x11, 3, 0x006B, 3, "11 03 00 6B 00 03 76 87", MBAP % "§6.3 read holding registers"),
    (0x11, 1, 0x0013, 19, "11 01 00 13 00 13 8E 92", MBAP % "§6.1 read coils"),
    (0x11, 2, 0x00C4, 22, "11 02 00 C4 00 16 BA A9", MBAP % "§6.2 read discrete inputs"),
    (1, 3, 0x0000, 10, "01 03 00 00 00 0A C5 CD", PYMODBUS_CRC),
    (247, 3, 0xFFFF, 1, "F7 03 FF FF 00 01 90 B8", PYMODBUS_CRC + " (highest slave, last address)"),
    (1, 3, 0x0000, 125, "01 03 00 00 00 7D 85 EB", PYMODBUS_CRC + " (most registers per read)"),
    (1, 1, 0x0000, 2000, "01 01 00 00 07 D0 3F A6", PYMODBUS_CRC + " (most bits per read)"),
]

# --- normal read replies: (slave, function, values, frame, source) ------------------------------
READ_RESPONSES = [
    (1, 4, [0x4366, 0x3334], "01 04 04 43 66 33 34 1B 38", SDM + "; CRC by pymodbus 3.16.1"),
    (0x11, 3, [0x022B, 0x0000, 0x0064], "11 03 06 02 2B 00 00 00 64 C8 BA",
     MBAP % "§6.3 read holding registers"),
    (0x11, 1, [True, False, True, True, False, False, True, True,
               True, True, False, True, False, True, True, False,
               True, False, True], "11 01 03 CD 6B 05 40 12", MBAP % "§6.1 read coils"),
    (0x11, 2, [False, False, True, True, False, True, False, True,
               True, True, False, True, True, False, True, True,
               True, False, True, False, True, True], "11 02 03 AC DB 35 20 18",
     MBAP % "§6.2 read discrete inputs"),
    (1, 3, [0x0000, 0x0001, 0x7FFF, 0x8000, 0xFFFF],
     "01 03 0A 00 00 00 01 7F FF 80 00 FF FF 03 DD", PYMODBUS_CRC + " (register edges)"),
]

# --- writes: (kind, slave, address, value(s), request, reply, source) ---------------------------
# kind "coil": build_write_single_coil; "register": FC 6; "registers": FC 16; "coils": FC 15
# (slave side only: the master API has no FC 15 builder). Slave 0 broadcasts: no reply.
WRITES = [
    ("coil", 0x11, 0x00AC, True, "11 05 00 AC FF 00 4E 8B", "11 05 00 AC FF 00 4E 8B",
     MBAP % "§6.5 write single coil"),
    ("coil", 1, 0x0000, False, "01 05 00 00 00 00 CD CA", "01 05 00 00 00 00 CD CA",
     PYMODBUS_CRC),
    ("register", 0x11, 0x0001, 0x0003, "11 06 00 01 00 03 9A 9B", "11 06 00 01 00 03 9A 9B",
     MBAP % "§6.6 write single register"),
    ("register", 0, 0x0010, 0x1234, "00 06 00 10 12 34 84 A9", None, PYMODBUS_CRC + " (broadcast)"),
    ("registers", 0x11, 0x0001, [0x000A, 0x0102], "11 10 00 01 00 02 04 00 0A 01 02 C6 F0",
     "11 10 00 01 00 02 12 98", MBAP % "§6.12 write multiple registers"),
    ("coils", 0x11, 0x0013, [True, False, True, True, False, False, True, True, True, False],
     "11 0F 00 13 00 0A 02 CD 01 BF 0B", "11 0F 00 13 00 0A 26 99",
     MBAP % "§6.11 write multiple coils"),
]

# --- exception replies to FC 4 from slave 1: (code, class name, frame, source) ------------------
EXCEPTIONS = [
    (1, "IllegalFunction", "01 84 01 82 C0", PYMODBUS_CRC),
    (2, "IllegalDataAddress", "01 84 02 C2 C1", PYMODBUS_CRC),
    (3, "IllegalDataValue", "01 84 03 03 01", PYMODBUS_CRC),
    (4, "SlaveDeviceFailure", "01 84 04 42 C3", PYMODBUS_CRC),
    (5, "Acknowledge", "01 84 05 83 03", PYMODBUS_CRC),
    (6, "SlaveDeviceBusy", "01 84 06 C3 02", PYMODBUS_CRC),
    (7, "NegativeAcknowledge", "01 84 07 02 C2", PYMODBUS_CRC),
    (8, "MemoryParityError", "01 84 08 42 C6", PYMODBUS_CRC),
    (10, "GatewayPathUnavailable", "01 84 0A C3 07", PYMODBUS_CRC),
    (11, "GatewayTargetFailedToRespond", "01 84 0B 02 C7", PYMODBUS_CRC),
    (12, "SlaveException", "01 84 0C 43 05", PYMODBUS_CRC + " (code 12 is not defined)"),
]

# --- replies the master must reject, asking slave 1 for 2 input registers (FC 4) ---------------
# (frame, error class name, what is wrong, source)
BAD_REPLIES = [
    ("01 04 04 43 66 33 34 1B 39", "CrcError", "last CRC byte flipped", SDM),
    ("01 04 04 43 66 33 34 38 1B", "CrcError", "CRC bytes sent high byte first", SDM),
    ("02 04 04 43 66 33 34 28 38", "WrongSlave", "reply from slave 2", PYMODBUS_CRC),
    ("02 84 02 32 C1", "WrongSlave", "exception reply from slave 2", PYMODBUS_CRC),
    ("01 03 04 43 66 33 34 1A 8F", "WrongFunction", "reply to FC 3", PYMODBUS_CRC),
    ("01 83 02 C0 F1", "WrongFunction", "exception reply to FC 3", PYMODBUS_CRC),
    ("01 04 04 43 66 33 6B 5B", "WrongLength", "one data byte missing", PYMODBUS_CRC),
    ("01 04 06 43 66 33 34 00 00 28 E2", "WrongLength", "three registers", PYMODBUS_CRC),
    ("01 84 02 00 40 91", "WrongLength", "exception reply with a stray byte", PYMODBUS_CRC),
    ("01 04 71", "WrongLength", "shorter than any reply", SHORTEST % "3 bytes"),
    ("02 04 04 43 66 33 34 1B 38", "CrcError", "slave id hit by noise: CRC fails first", SDM),
]

# --- register values: (type, order, registers, value, source); encode and decode both exact ------
REGISTER_VECTORS = [
    ("u16", "ABCD", [0x0000], 0, STRUCT),
    ("u16", "ABCD", [0xFFFF], 65535, STRUCT),
    ("u16", "CDAB", [0x1234], 0x1234, STRUCT),
    ("u16", "BADC", [0x3412], 0x1234, STRUCT),
    ("u16", "DCBA", [0x3412], 0x1234, STRUCT),
    ("i16", "ABCD", [0x8000], -32768, STRUCT),
    ("i16", "ABCD", [0xFFFF], -1, STRUCT),
    ("i16", "ABCD", [0x7FFF], 32767, STRUCT),
    ("i16", "ABCD", [0x0001], 1, STRUCT),
    ("i16", "BADC", [0x0080], -32768, STRUCT),
    ("i16", "DCBA", [0xFF7F], 32767, STRUCT),
    ("u32", "ABCD", [0x1234, 0x5678], 0x12345678, STRUCT),
    ("u32", "CDAB", [0x5678, 0x1234], 0x12345678, STRUCT),
    ("u32", "BADC", [0x3412, 0x7856], 0x12345678, STRUCT),
    ("u32", "DCBA", [0x7856, 0x3412], 0x12345678, STRUCT),
    ("u32", "ABCD", [0xFFFF, 0xFFFF], 0xFFFFFFFF, STRUCT),
    ("i32", "ABCD", [0x8000, 0x0000], -2147483648, STRUCT),
    ("i32", "ABCD", [0x7FFF, 0xFFFF], 2147483647, STRUCT),
    ("i32", "ABCD", [0xFFFF, 0xFFFF], -1, STRUCT),
    ("i32", "CDAB", [0x0000, 0x8000], -2147483648, STRUCT),
    ("i32", "BADC", [0x0080, 0x0000], -2147483648, STRUCT),
    ("i32", "DCBA", [0x0000, 0x0080], -2147483648, STRUCT),
    ("i32", "CDAB", [0xFFFE, 0xFFFF], -2, STRUCT),
    ("u64", "ABCD", [0x0102, 0x0304, 0x0506, 0x0708], 0x0102030405060708, STRUCT),
    ("u64", "CDAB", [0x0708, 0x0506, 0x0304, 0x0102], 0x0102030405060708, STRUCT),
    ("u64", "BADC", [0x0201, 0x0403, 0x0605, 0x0807], 0x0102030405060708, STRUCT),
    ("u64", "DCBA", [0x0807, 0x0605, 0x0403, 0x0201], 0x0102030405060708, STRUCT),
    ("u64", "ABCD", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], 18446744073709551615, STRUCT),
    ("i64", "ABCD", [0x8000, 0x0000, 0x0000, 0x0000], -9223372036854775808, STRUCT),
    ("i64", "ABCD", [0x7FFF, 0xFFFF, 0xFFFF, 0xFFFF], 9223372036854775807, STRUCT),
    ("i64", "ABCD", [0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], -1, STRUCT),
    ("i64", "DCBA", [0x0000, 0x0000, 0x0000, 0x0080], -9223372036854775808, STRUCT),
    ("float32", "ABCD", [0x3F80, 0x0000], 1.0, STRUCT),
    ("float32", "ABCD", [0xC000, 0x0000], -2.0, STRUCT),
    ("float32", "CDAB", [0x0000, 0x4212], 36.5, STRUCT),
    ("float32", "BADC", [0x8040, 0x0000], 4.0, STRUCT),
    ("float32", "DCBA", [0x0000, 0x8040], 4.0, STRUCT),
    ("float32", "ABCD", [0x7F7F, 0xFFFF], 3.4028234663852886e38, STRUCT + " (largest float32)"),
    ("float32", "ABCD", [0x0000, 0x0001], 1.401298464324817e-45, STRUCT + " (least subnormal)"),
    ("float32", "ABCD", [0x8000, 0x0000], -0.0, STRUCT + " (negative zero)"),
    ("float32", "ABCD", [0x7F80, 0x0000], INF, STRUCT),
    ("float32", "ABCD", [0xFF80, 0x0000], -INF, STRUCT),
    ("float32", "ABCD", [0x7FC0, 0x0000], NAN, STRUCT + " (the quiet NaN struct packs)"),
    ("float64", "ABCD", [0x3FF0, 0x0000, 0x0000, 0x0000], 1.0, STRUCT),
    ("float64", "ABCD", [0x3FB9, 0x9999, 0x9999, 0x999A], 0.1, STRUCT),
    ("float64", "CDAB", [0x0000, 0x0000, 0x0000, 0x3FF0], 1.0, STRUCT),
    ("float64", "DCBA", [0x0000, 0x0000, 0x0000, 0xF03F], 1.0, STRUCT),
    ("float64", "ABCD", [0xFFF0, 0x0000, 0x0000, 0x0000], -INF, STRUCT),
    ("float64", "ABCD", [0x7FF8, 0x0000, 0x0000, 0x0000], NAN, STRUCT),
    ("bcd16", "ABCD", [0x1234], 1234, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd16", "ABCD", [0x9999], 9999, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd16", "ABCD", [0x0000], 0, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd16", "BADC", [0x3412], 1234, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd32", "ABCD", [0x1234, 0x5678], 12345678, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd32", "CDAB", [0x5678, 0x1234], 12345678, BCD_REGISTER % "one decimal digit per nibble"),
    ("bcd32", "ABCD", [0x9999, 0x9999], 99999999, BCD_REGISTER % "one decimal digit per nibble"),
    ("bits16", "ABCD", [0x8001], 0x8001, STRUCT),
    ("bits16", "BADC", [0x0180], 0x8001, STRUCT),
    ("bits32", "CDAB", [0x0001, 0x8000], 0x80000001, STRUCT),
    ("string", "ABCD", [0x4142, 0x4344], "ABCD", TEXT % "first character high byte"),
    ("string", "ABCD", [0x5444, 0x5331, 0x3030, 0x0000], "TDS100", DEFINED % "ASCII, NUL padded"),
    ("string", "CDAB", [0x4142, 0x4300], "ABC", DEFINED % "strings: CDAB reads as ABCD"),
    ("string", "BADC", [0x4241, 0x0043], "ABC", DEFINED % "ASCII, bytes swapped per register"),
    ("long_fraction", "CDAB", [0xE240, 0x0001, 0x0000, 0x3F00], 123456.5, TUF_LAYOUT),
    ("long_fraction", "CDAB", [0xFFF9, 0xFFFF, 0x0000, 0xBE80], -7.25, TUF_LAYOUT),
    ("long_fraction", "ABCD", [0x0000, 0x0024, 0x3F20, 0x0000], 36.625, TUF_LAYOUT),
    ("long_fraction", "ABCD", [0x0000, 0x0000, 0x0000, 0x0000], 0.0, TUF_LAYOUT),
]

# --- recorded values printed rounded: (type, order, registers, value, tolerance, source) --------
# decode is within tolerance; encode(decode(registers)) gives the registers back.
ROUNDED_VECTORS = [
    ("float32", "ABCD", [0x4366, 0x3334], 230.2, 1e-4, SDM),
    ("float32", "CDAB", [0x806B, 0x4212], 36.625, 1e-3, TUF),
    ("float32", "DCBA", [0x1E85, 0x0B3F], 0.545, 1e-6, XINTAI),
]

# --- decode only (not what encode writes): (type, order, registers, value, source) --------------
DECODE_ONLY_VECTORS = [
    ("string", "ABCD", [0x4142, 0x2020], "AB", DEFINED % "trailing spaces stripped"),
    ("string", "ABCD", [0x4100, 0x0000], "A", DEFINED % "trailing NULs stripped"),
    ("float32", "ABCD", [0x7FC0, 0x0001], NAN, STRUCT + " (a NaN with payload)"),
]

# --- scaling: (raw, scale, offset, decimals, value, source) -------------------------------------
METERS = "shared/domain/meters.md: "
SCALING_VECTORS = [
    (2302.0, 0.1, 0.0, None, 230.2, METERS + "DTSU666 voltage is float x0.1 V"),
    (1234, 1.0, 0.0, 3, 1.234, METERS + "QDY30A value = raw / 10^decimals register"),
    (-1234, 1.0, 0.0, 2, -12.34, METERS + "QDY30A int16 value, decimals register 2"),
    (4567, 0.01, 0.0, None, 45.67, METERS + "Acrel ADW300 current uint16 x0.01 A"),
    (1000, 0.01, -5.0, None, 5.0, DEFINED % "raw x scale + offset"),
    (12, 1.0, 0.0, -2, 1200.0, DEFINED % "negative decimals multiply"),
    (7, 2.0, 1.0, 1, 2.4, DEFINED % "7 x 2 / 10 + 1"),
]

# --- flags: (value, flags, names set) -----------------------------------------------------------
FLAG_VECTORS = [
    (0x0000, {"0": "no_signal", "1": "low_signal"}, [], DEFINED % "no bit set"),
    (0x0005, {"2": "c", "0": "a", "1": "b"}, ["a", "c"], DEFINED % "bits 0 and 2, lowest first"),
    (0x8000, {"15": "top", "0": "bottom"}, ["top"], DEFINED % "bit 15"),
    (0x80000000, {"31": "bit31"}, ["bit31"], DEFINED % "bit 31 of a bits32 value"),
]

# === DL/T 645-2007 ===============================================================================
# DL/T 645-2007 frame: 68, address (6 bytes BCD, low byte first), 68, control, length, data (each
# byte + 33H), checksum (sum from the first 68 through the data, mod 256), 16; values BCD, low
# byte first. Frames were rebuilt byte for byte with the build_frame algorithm of 600888/dlt645
# (python/src/protocol/protocol.py), BCD values with its bcd_to_float (little-endian, sign in the
# top bit of the last byte; python/src/common/transform.py).
DLT_CHECKED = ("example of shared/domain/protocols.md; rebuilt identically by 600888/dlt645 "
               "build_frame: %s")
DLT_RECORDED = ("reply of a real meter (address 181226034194) quoted in Hongranl/stm32f103x "
                "Relay_8-power-Modle/Module/Source_CM/sourceCM.c; rebuilt identically by "
                "600888/dlt645 build_frame")
DLT_HAND = ("frame assembled by hand per DL/T 645-2007's frame format; rebuilt identically by "
            "600888/dlt645 build_frame (%s)")
DLT_BCD = ("by hand: DL/T 645-2007 BCD, low byte first, the sign in the top bit of the last "
           "byte where signed; checked with 600888/dlt645 bcd_to_float (%s)")
METER = "181226034194"  # the recorded meter

# --- read requests: (address, di, preamble, frame, source) --------------------------------------
DLT_READ_REQUESTS = [
    ("AAAAAAAAAAAA", "00010000", True,
     "FE FE FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16",
     DLT_CHECKED % "forward active total via the broadcast address"),
    ("000000000001", "00010000", True,
     "FE FE FE FE 68 01 00 00 00 00 00 68 11 04 33 33 34 33 B3 16",
     DLT_HAND % "address 000000000001"),
    (METER, "00010000", False, "68 94 41 03 26 12 18 68 11 04 33 33 34 33 DA 16",
     DLT_HAND % "the recorded meter, no preamble"),
    (METER, "0201FF00", False, "68 94 41 03 26 12 18 68 11 04 33 32 34 35 DB 16",
     DLT_HAND % "voltage block"),
]
DLT_READ_ADDRESS_REQUEST = ("FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16",
                            DLT_CHECKED % "read address")

# --- read replies: (address, di, frame, value bytes with 33h removed, source) --------------------
DLT_READ_REPLIES = [
    (METER, "00010000", "FE FE FE FE 68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 33 50 16",
     "26 00 00 00", DLT_RECORDED + ": forward active energy 0.26 kWh"),
    (METER, "0201FF00",
     "FE FE FE FE 68 94 41 03 26 12 18 68 91 0A 33 32 34 35 36 56 33 33 33 33 B9 16",
     "03 23 00 00 00 00", DLT_RECORDED + ": voltage block, phase A 230.3 V"),
    (METER, "0202FF00",
     "FE FE FE FE 68 94 41 03 26 12 18 68 91 0D 33 32 35 35 BB 34 33 33 33 33 33 33 33 B9 16",
     "88 01 00 00 00 00 00 00 00", DLT_RECORDED + ": current block, phase A 0.188 A"),
    ("000000000012", "00010000", "68 12 00 00 00 00 00 68 91 08 33 33 34 33 AB 89 67 45 28 16",
     "78 56 34 12", DLT_HAND % "123456.78 kWh"),
]
# the recorded meter's answer to the read-address request: (frame, address, source)
DLT_READ_ADDRESS_REPLY = ("FE FE FE FE 68 94 41 03 26 12 18 68 93 06 C7 74 36 59 45 4B EB 16",
                          METER, DLT_RECORDED)

# --- abnormal replies: (frame, control asked, error byte, words in the meaning, source) ----------
DLT_ABNORMAL_REPLIES = [
    ("68 94 41 03 26 12 18 68 D1 01 35 FF 16", 0x11, 0x02, ["no requested data"],
     DLT_HAND % "read refused"),
    ("68 94 41 03 26 12 18 68 D1 01 47 11 16", 0x11, 0x14,
     ["wrong password", "year time zones"], DLT_HAND % "two error bits"),
    ("68 94 41 03 26 12 18 68 D3 01 34 00 16", 0x13, 0x01, ["other error"],
     DLT_HAND % "read address refused"),
]

# --- replies to a read of 00010000 from the recorded meter that must be rejected ----------------
# (frame, error class name, what is wrong, source)
DLT_BAD_REPLIES = [
    ("68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 33 51 16", "ChecksumError",
     "checksum off by one", DLT_RECORDED + ", altered"),
    ("68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 33 50 17", "FrameError",
     "end byte 17", DLT_RECORDED + ", altered"),
    ("68 94 41 03 26 12 18 69 91 08 33 33 34 33 59 33 33 33 50 16", "FrameError",
     "second start byte 69", DLT_RECORDED + ", altered"),
    ("68 94 41 03 26 12 18 68 91 08 33 33 34 33 59 33 33 50 16", "FrameError",
     "one data byte missing", DLT_RECORDED + ", altered"),
    ("68 94 41 03 26 12 18 68 91", "FrameError", "cut short", DLT_RECORDED + ", cut"),
    ("68 01 00 00 00 00 00 68 91 08 33 33 34 33 59 33 33 33 29 16", "WrongAddress",
     "reply from meter 000000000001", DLT_HAND % "other meter"),
    ("68 94 41 03 26 12 18 68 91 08 33 33 35 33 59 33 33 33 51 16", "WrongDataIdentifier",
     "reply for DI 00020000", DLT_HAND % "reverse active energy"),
    ("68 94 41 03 26 12 18 68 11 04 33 33 34 33 DA 16", "FrameError",
     "the request itself (an echo on the bus)", DLT_HAND % "request"),
    ("68 94 41 03 26 12 18 68 D1 01 35 FF 16", "AbnormalReply", "abnormal reply",
     DLT_HAND % "read refused"),
]

# --- BCD values: (bytes low byte first, decimals, signed, value, source) ------------------------
DLT_BCD_VECTORS = [
    ("26 00 00 00", 2, False, 0.26, DLT_RECORDED + ": energy XXXXXX.XX kWh"),
    ("03 23", 1, False, 230.3, DLT_RECORDED + ": voltage XXX.X V"),
    ("88 01 00", 3, False, 0.188, DLT_RECORDED + ": current XXX.XXX A"),
    ("78 56 34 12", 2, False, 123456.78, DLT_BCD % "BCD, low byte first"),
    ("99 99 99 99", 2, False, 999999.99, DLT_BCD % "largest 4-byte energy"),
    ("00 00 00 00", 2, False, 0.0, DLT_BCD % "zero"),
    ("12 25 00", 4, True, 0.2512, DLT_BCD % "power XX.XXXX kW, sign bit clear"),
    ("12 25 80", 4, True, -0.2512, DLT_BCD % "power XX.XXXX kW, sign bit set"),
    ("88 01 80", 3, True, -0.188, DLT_BCD % "current XXX.XXX A, sign bit set"),
    ("99 99 79", 4, True, 79.9999, DLT_BCD % "largest signed 3-byte value"),
    ("12", 0, False, 12.0, DLT_BCD % "one byte, no decimals"),
]

# --- find_frame: (buffer, (start, end) or None, what) -------------------------------------------
DLT_FIND_FRAME_VECTORS = [
    ("FE FE FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE 16", (4, 20), "after the preamble"),
    ("68 AA AA AA AA AA AA 68 13 00 DF 16", (0, 12), "no preamble, no data"),
    ("00 16 68 FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16", (5, 17), "stray 68 and noise first"),
    ("FE FE FE FE 68 AA AA AA AA AA AA 68 11 04 33 33 34 33 AE", None, "end byte not yet here"),
    ("FE FE 68 AA AA AA", None, "head not complete"),
    ("", None, "empty buffer"),
    ("68 AA AA AA AA AA AA 68 13 00 DF 16 68 AA AA AA AA AA AA 68 13 00 DF 16", (0, 12),
     "two frames: the first"),
]
