"""Test vectors for drivers/sl427_commands.py and drivers/sl651_queries.py, each naming its source.

Sources (read, not imported): LucianQu/RtuAssistant_1.0, a public Java SZY206 centre tool
(src/com/blg/rtu/protocol/p206/: cd11_51/Read_51.java and Write_11.java, cdB0/Read_B0.java,
cd92_93/Write_92.java, Answer_92.java, Param_92_93.java, common/ProtocolSupport.java
createDownDataHead/createDownDataTail, util/Constant.java); hm1212/szy206-protocol
(function/downStream/RealTimeDataFunction.java: B0 with the queried kind in C's D3-D0);
xiaozhuweini/fyyp_rtu components/ptcl/sl651.h (function codes 37, 46, 4A, 4C, 51) and sl651.c
(the station's answers to 46, 4A, 51: serial, send time, F1 F1 + address, ...); the SL 651-2014
walkthrough at https://www.toymoban.com/news/detail-686475.html (real replies of a centre).
Every CS (CRC-8) below was recomputed in a one-off check by polynomial long division over GF(2)
(x^8+x^7+x^6+x^5+x^2+1), every SL 651 CRC with pymodbus 3.16.1 FramerRTU.compute_CRC (sent
high byte first), not by the codecs' own loops.
"""

E21 = "SL/T 427-2021"
E16 = "SZY206-2016"
RTU = "LucianQu/RtuAssistant_1.0 p206 %s"
FYYP = "xiaozhuweini/fyyp_rtu components/ptcl/sl651.c %s"

# --- SL/T 427 centre to station: (edition, frame, builder, arguments, source) --------------------
# Queries: C = 30 (down, FCB 3, type 0) | A 53 03 81 0D 00 = county 530381, station 13 | AFN |
# no data, no PW, no Tp. B0 puts the queried kind in C: 33 = type 3, flow.
SL427_QUERIES = [
    (E21, "68 07 68 30 53 03 81 0D 00 51 A6 16", 0x51, None, RTU % "Read_51: C, A, AFN 51, CS"),
    (E21, "68 07 68 33 53 03 81 0D 00 B0 AA 16", 0xB0, "flow",
     RTU % "Read_B0 (kind in C's D3-D0, as hm1212 RealTimeDataFunction)"),
    (E16, "68 07 68 30 53 03 81 0D 00 5E 8E 16", 0x5E, None,
     RTU % "cd5E/Read_5E: a query without data"),
    # 50 (address) and 52 (work mode): queries without data (RtuAssistant CommandCreator cd_50,
    # cd_52 put no parameters); CS by polynomial division.
    (E21, "68 07 68 30 53 03 81 0D 00 50 43 16", 0x50, None, RTU % "CommandCreator cd_50"),
    (E16, "68 07 68 30 53 03 81 0D 00 52 6C 16", 0x52, None, RTU % "CommandCreator cd_52"),
]
# Commands with PW and Tp: (edition, frame, afn, payload, password, Tp, source). Set clock: 00 30
# 09 07 = second 0, minute 30, hour 9, day 7 (BCD) | 32 = weekday 1 (Monday) << 5 | month 12 |
# 26 = year 2026 | PW 34 12 = key 1 1, key 2 234 | Tp 2026-12-07 09:30:00, 5 minutes allowed.
# AMBIGUOUS: RtuAssistant Write_11 sends a 5-byte Tp (SZY206-2012); the 2021 edition's 7 bytes
# here follow protocols.md. Pump: 01 = device 0 (pump) << 4 | number 1; F2 = device F (gate) | 2.
SL427_COMMANDS = [
    (E21, "68 16 68 30 53 03 81 0D 00 11 00 30 09 07 32 26 34 12 00 30 09 07 12 26 05 51 16",
     0x11, (2026, 12, 7, 9, 30, 0, 1), (1, 234), (2026, 12, 7, 9, 30, 0, 5),
     RTU % "Write_11 (clock: second..year, weekday in the month byte's top 3 bits)"),
    (E16, "68 14 68 30 53 03 81 0D 00 11 00 30 09 07 32 26 00 00 00 30 09 07 00 02 16",
     0x11, (2026, 12, 7, 9, 30, 0, 1), (0, 0), (None, None, 7, 9, 30, 0, 0),
     RTU % "Write_11 with its 5-byte Tp"),
    (E21, "68 11 68 30 53 03 81 0D 00 92 01 34 12 00 30 09 07 12 26 05 84 16",
     0x92, (0, 1), (1, 234), (2026, 12, 7, 9, 30, 0, 5),
     RTU % "Write_92 (number in the low nibble, device 0 pump in the high)"),
    (E21, "68 11 68 30 53 03 81 0D 00 93 F2 34 12 00 30 09 07 12 26 05 62 16",
     0x93, (15, 2), (1, 234), (2026, 12, 7, 9, 30, 0, 5),
     RTU % "Write_93, Param_92_93 gateDevice = 15"),
]

# --- SL/T 427 station to centre: (edition, frame, afn, result, Tp, source) -----------------------
# C = B0 (up, FCB 3, type 0); B3 for B0 replies of flow. Clock 58 29 09 07 32 26 = 2026-12-07
# 09:29:58, Monday. 92 reply A1 = done (A) | pump 1; 93 reply 02 = not done | 2. 5E: alarm 01 10
# = 0x1001, status 60 00 = 0x0060, little-endian. B0: the real frame's flow data (5.9, 106182 m3)
# then alarm and status; AMBIGUOUS: RtuAssistant Answer_B0 reads no Tp after them; the codec
# takes one when the length says so (second row, the real frame's 5-byte Tp).
SL427_REPLIES = [
    (E21, "68 0D 68 B0 53 03 81 0D 00 51 58 29 09 07 32 26 03 16", 0x51,
     (2026, 12, 7, 9, 29, 58, 1), None, RTU % "Answer_11_51 (6 clock bytes)"),
    (E21, "68 14 68 B0 53 03 81 0D 00 11 00 30 09 07 32 26 01 30 09 07 12 26 00 81 16", 0x11,
     (2026, 12, 7, 9, 30, 0, 1), (2026, 12, 7, 9, 30, 1, 0), RTU % "Answer_11_51, with Tp"),
    (E21, "68 08 68 B0 53 03 81 0D 00 92 A1 99 16", 0x92, (1, True), None,
     RTU % "Answer_92 (high nibble A = success)"),
    (E16, "68 08 68 B0 53 03 81 0D 00 93 02 B3 16", 0x93, (2, False), None,
     RTU % "Answer_93"),
    (E21, "68 0B 68 B0 53 03 81 0D 00 5E 01 10 60 00 FD 16", 0x5E, (0x1001, 0x0060), None,
     RTU % "Answer_5E (alarm and status words)"),
    (E16, "68 15 68 B3 53 03 81 0D 00 B0 00 59 00 00 00 82 61 10 00 00 01 10 60 00 C8 16", 0xB0,
     ("flow", [5.9, 106182], 0x1001, 0x0060), None, RTU % "Answer_B0, no Tp"),
    (E16, "68 1A 68 B3 53 03 81 0D 00 B0 00 59 00 00 00 82 61 10 00 00 01 10 60 00 00 45 08 09 0A "
     "CD 16", 0xB0, ("flow", [5.9, 106182], 0x1001, 0x0060), (None, None, 9, 8, 45, 0, 10),
     "the real SZY206 frame of hm1212 test01 with AFN B0 for C0"),
    # 50: the address in the data, laid out as the header's (RtuAssistant Answer_10_50 reads
    # Bits_RTU_ID = 5 bytes with the header's RtuIdProtocol); 52: one byte, 01 = self-report with
    # confirmation (RtuAssistant Constant Model_0..3; a C++ centre, IEC_waterdata_US_52H, takes
    # exactly 1 byte). CS by polynomial division.
    (E21, "68 0C 68 B0 53 03 81 0D 00 50 53 03 81 0D 00 15 16", 0x50, ("530381", 13), None,
     RTU % "cd10_50/Answer_10_50"),
    (E21, "68 13 68 B0 53 03 81 0D 00 50 53 03 81 0D 00 01 30 09 07 12 26 00 C3 16", 0x50,
     ("530381", 13), (2026, 12, 7, 9, 30, 1, 0), RTU % "Answer_10_50, with Tp"),
    (E16, "68 08 68 B0 53 03 81 0D 00 52 01 C5 16", 0x52, 1, None,
     RTU % "Constant Model_1 (self-report with confirmation)"),
]

# --- SL/T 427 refusals: (parser, edition, frame, what, source) ---------------------------------
SL427_BAD = [
    ("command", E21, "68 08 68 30 53 03 81 0D 00 51 00 18 16", "a query carrying a data byte",
     "by hand, CS by polynomial division"),
    ("command", E21, "68 11 68 30 53 03 81 0D 00 92 51 34 12 00 30 09 07 12 26 05 59 16",
     "pump control byte 51: device 5", "by hand, CS by polynomial division"),
    ("command", E21, "68 16 68 30 53 03 81 0D 00 11 00 30 09 07 33 26 34 12 00 30 09 07 12 26 05 "
     "C9 16", "clock month 13", "by hand, CS by polynomial division"),
    ("mode", E21, "68 08 68 B0 53 03 81 0D 00 52 04 7E 16", "work mode 04 (0-3 only)",
     "by hand, CS by polynomial division"),
    ("address", E21, "68 0C 68 B0 53 03 81 0D 00 50 53 03 81 00 00 81 16",
     "address reply naming station 0", "by hand, CS by polynomial division"),
    ("clock", E21, "68 0C 68 B0 53 03 81 0D 00 51 58 29 09 07 32 B9 16",
     "clock reply of 5 bytes", "by hand, CS by polynomial division"),
]

# --- SL 651 centre to station (end ENQ 05): (frame, function, serial, send time, data, source) ---
# 7E 7E | station 00 12 34 56 78 | centre 01 | password 12 34 | function | 80 08 = down, 8 body
# bytes | STX | serial | the centre's send time | [data] | ENQ | CRC.
SL651_QUERIES = [
    ("7E 7E 00 12 34 56 78 01 12 34 37 80 08 02 00 03 59 10 11 15 51 11 05 9D E0", 0x37, 3,
     (2059, 10, 11, 15, 51, 11), "", FYYP % "37 query: serial and send time only"),
    ("7E 7E 00 12 34 56 78 01 12 34 51 80 08 02 00 04 26 12 07 09 30 00 05 E5 B5", 0x51, 4,
     (2026, 12, 7, 9, 30, 0), "", FYYP % "51 query"),
    ("7E 7E 00 12 34 56 78 01 12 34 4A 80 08 02 00 05 26 12 07 09 30 00 05 32 50", 0x4A, 5,
     (2026, 12, 7, 9, 30, 0), "", FYYP % "4A: the station takes the send time as its clock"),
    ("7E 7E 00 12 34 56 78 01 12 34 46 80 08 02 00 06 26 12 07 09 30 00 05 EB 01", 0x46, 6,
     (2026, 12, 7, 9, 30, 0), "", FYYP % "46 query"),
    # AMBIGUOUS: the pump data (N = 01, bits 01 = pump 1 start) is this codec's reading of
    # SL 651-2014 4C; no public implementation here shows it.
    ("7E 7E 00 12 34 56 78 01 12 34 4C 80 0A 02 00 07 26 12 07 09 30 00 01 01 05 0D 1D", 0x4C, 7,
     (2026, 12, 7, 9, 30, 0), "01 01", "protocols.md function list; data AMBIGUOUS"),
    # 41/43: the parameters wanted as identifier + length byte pairs, as fyyp_rtu sl651.c reads
    # them (identifiers and length bytes from its sl651.h: 01 20, 02 28, 0C 08, 20 08, 21 08).
    ("7E 7E 00 12 34 56 78 01 12 34 41 80 0E 02 00 08 26 12 07 09 30 00 01 20 02 28 0C 08 05 DD "
     "49", 0x41, 8, (2026, 12, 7, 9, 30, 0), "01 20 02 28 0C 08",
     FYYP % "41 read basic configuration; CRC by pymodbus"),
    ("7E 7E 00 12 34 56 78 01 12 34 43 80 0C 02 00 09 26 12 07 09 30 00 20 08 21 08 05 E0 AA",
     0x43, 9, (2026, 12, 7, 9, 30, 0), "20 08 21 08",
     FYYP % "43 read run parameters; CRC by pymodbus"),
]

# --- SL 651 station to centre (end ETX): (frame, function, serial, send time, result, source) ----
SL651_REPLIES = [
    ("7E 7E 01 00 12 34 56 78 12 34 51 00 0F 02 00 04 26 12 07 09 29 58 F1 F1 00 12 34 56 78 03 "
     "0C EF", 0x51, 4, (2026, 12, 7, 9, 29, 58), None, FYYP % "51 answer: F1 F1 + address"),
    ("7E 7E 01 00 12 34 56 78 12 34 4A 00 0F 02 00 05 26 12 07 09 30 00 F1 F1 00 12 34 56 78 03 "
     "9C 03", 0x4A, 5, (2026, 12, 7, 9, 30, 0), None, FYYP % "4A answer"),
    ("7E 7E 01 00 12 34 56 78 12 34 46 00 15 02 00 06 26 12 07 09 30 01 F1 F1 00 12 34 56 78 45 "
     "20 00 00 00 41 03 BC CE", 0x46, 6, (2026, 12, 7, 9, 30, 1), 0x41,
     FYYP % "46 answer: element 45, 4 bytes"),
    ("7E 7E 01 00 12 34 56 78 12 34 4C 00 11 02 00 07 26 12 07 09 30 01 F1 F1 00 12 34 56 78 01 "
     "01 03 C2 08", 0x4C, 7, (2026, 12, 7, 9, 30, 1), [True] + [False] * 7,
     "4C answer, data AMBIGUOUS as the query's"),
    # 37: a report body: class 47 groundwater | F0 F0 2059-10-11 15:50 | 39 23 00 01 23 45 =
    # level 12.345 m | 38 12 12 50 = supply 12.50 V.
    ("7E 7E 01 00 12 34 56 78 12 34 37 00 21 02 00 03 59 10 11 15 51 12 F1 F1 00 12 34 56 78 47 "
     "F0 F0 59 10 11 15 50 39 23 00 01 23 45 38 12 12 50 03 21 1D", 0x37, 3,
     (2059, 10, 11, 15, 51, 12), [(0x39, 12.345, 4, 3), (0x38, 12.5, 2, 2)],
     "37 answer laid out as a report body (protocols.md timed-report layout)"),
    # 41/43 answers: F1 F1 + address, then identifier, length byte, data for each parameter
    # (fyyp_rtu sl651.c: centre addresses one byte each, the station address as in the header,
    # intervals one BCD byte). 01 20 01 00 00 00 = centre 1 only; 0C 08 02 = self-report with
    # confirmation; 20 08 01 = timed report every hour; 21 08 05 = add-report every 5 min.
    ("7E 7E 01 00 12 34 56 78 12 34 41 00 1F 02 00 08 26 12 07 09 30 01 F1 F1 00 12 34 56 78 01 "
     "20 01 00 00 00 02 28 00 12 34 56 78 0C 08 02 03 66 F7", 0x41, 8, (2026, 12, 7, 9, 30, 1),
     [(0x01, [1, 0, 0, 0]), (0x02, "0012345678"), (0x0C, 2)],
     FYYP % "41 answer; CRC by pymodbus"),
    ("7E 7E 01 00 12 34 56 78 12 34 43 00 15 02 00 09 26 12 07 09 30 01 F1 F1 00 12 34 56 78 20 "
     "08 01 21 08 05 03 93 9A", 0x43, 9, (2026, 12, 7, 9, 30, 1), [(0x20, 1), (0x21, 5)],
     FYYP % "43 answer; CRC by pymodbus"),
]

# --- SL 651 refusals: (parser, frame, what, source) ----------------------------------------------
SL651_BAD = [
    ("query", "7E 7E 00 12 34 56 78 01 12 34 37 80 08 02 00 03 59 10 11 15 51 11 04 5D 21",
     "a query ending EOT (an ack), not ENQ", "by hand, CRC by pymodbus"),
    ("reply", "7E 7E 01 00 12 34 56 78 12 34 51 00 0F 02 00 04 26 12 07 09 29 58 F1 F1 00 12 34 56 "
     "79 03 9C EE", "reply naming station 0012345679 in its body", "by hand, CRC by pymodbus"),
    ("query", "7E 7E 00 12 34 56 78 01 12 34 4C 80 0A 02 00 07 26 12 07 09 30 00 02 01 05 0D ED",
     "pump data N = 2 with one byte of bits", "by hand, CRC by pymodbus"),
    ("query", "7E 7E 00 12 34 56 78 01 12 34 41 80 0E 02 00 08 26 12 07 09 30 00 01 20 20 08 0C 08 "
     "05 1A BA", "41 asking for 20 (a run parameter)", "by hand, CRC by pymodbus"),
    ("reply", "7E 7E 01 00 12 34 56 78 12 34 43 00 15 02 00 09 26 12 07 09 30 01 F1 F1 00 12 34 56 "
     "78 20 08 1A 21 08 05 03 91 FE", "43 answer with 1A, not BCD, as hours",
     "by hand, CRC by pymodbus"),
]
