"""Test vectors for drivers/sl427.py (SL/T 427-2021, SZY206-2016), each row naming its source."""

# --- sources -------------------------------------------------------------------------------------
# shared/domain/protocols.md is the project's notes outside this repository (SL/T 427-2021 and
# SZY206 sections). hm1212/szy206-protocol is a public Java implementation of SZY206 (read, not
# imported: src/test/java/.../Szy206ProtocolApplicationTests.java test01 holds the real frame;
# HexUtils.getCrc8 its CRC). Every CS below that is not from those two was recomputed in a
# one-off check as the remainder of user-data(x)*x^8 divided by x^8+x^7+x^6+x^5+x^2+1 over GF(2)
# (polynomial long division, not the codec's shift loop).
CHECKED = ("checked frame of shared/domain/protocols.md (CS 0xAD recomputed there; some public "
           "implementations use polynomial 0xE4 and get it wrong)")
REAL = ("real SZY206 self-report of hm1212/szy206-protocol test01, quoted in "
        "shared/domain/protocols.md (CRC-8 0x35 checked there)")
HAND = ("assembled by hand per the layout in drivers/sl427.py's docstring (protocols.md facts); "
        "CS by polynomial division (%s)")
ECHO = ("the centre's link reply as hm1212/szy206-protocol HeartReport.setAskPayload builds it "
        "(C with D7 cleared, AFN 02, data 00, no Tp) for the real frame's station; CS by "
        "polynomial division")

E21 = "SL/T 427-2021"
E16 = "SZY206-2016"

# --- CRC-8 (poly 0xE5, init 0, MSB first): (data hex, CS, source) --------------------------------
CRC_VECTORS = [
    ("31 32 33 34 35 36 37 38 39", 0xF7, "check value of ASCII 123456789, protocols.md"),
    ("B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00", 0xAD, CHECKED),
    ("B3 53 03 81 0D 00 C0 00 59 00 00 00 82 61 10 00 00 01 10 60 00 00 45 08 09 0A", 0x35, REAL),
    ("", 0x00, "init 0: no data leaves 0"),
]

# --- self-reports (AFN C0), uplink:
# (edition, frame, county, station, kind, values, alarm, status, Tp, order, fcb, divs, source)
# values: a list for the kinds with a layout (flow: flow, volume per channel), raw bytes hex for
# the others; None = not measured (AA). Tp = (year, month, day, hour, minute, second, delay).
SELF_REPORTS = [
    # 68 | L=15h: 21 bytes of user data | 68 | C=B4: D7=1 up, D6=0 not divided, FCB=3 (first
    # send), type code 4 = velocity (流速) in both editions | A1 01 02 03 = county "010203" (BCD
    # valid; no GB/T 2260 province is 01, so a made-up address) | A2 04 05 = station 0x0504 =
    # 1284 | AFN C0 self-report | 55 45 04: the velocity value. AMBIGUOUS: its encoding is not in
    # protocols.md (3 bytes BCD; 4.4555 or 44.555 m/s depending on a sign digit and decimals
    # nobody here has checked), so it is kept raw | 00 20 alarm word, little-endian 0x2000 = D13
    # cabinet door open | 70 00 status word 0x0070 = D4 pump stopped, D5 cabinet door, D6 on
    # battery (read big-endian they would be 0x0020 flow-meter fault and 0x7000, undefined bits:
    # only little-endian reads consistently, as protocols.md says) | Tp 30 15 14 12 05 26 =
    # 2026-05-12 14:15:30, 00 = no delay check (7 bytes: the SL/T 427-2021 edition) | CS AD | 16.
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD 16",
     "010203", 1284, "velocity", "55 45 04", 0x2000, 0x0070, (2026, 5, 12, 14, 15, 30, 0),
     "little", 3, None, CHECKED),
    # The same bytes read with the other byte order of the alarm/status words.
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD 16",
     "010203", 1284, "velocity", "55 45 04", 0x0020, 0x7000, (2026, 5, 12, 14, 15, 30, 0),
     "big", 3, None, CHECKED + ", alarm/status read big-endian"),
    # 68 | L=1Ah: 26 | 68 | C=B3: up, not divided, FCB 3, type 3 = flow (流量/水量) | A1 53 03 81
    # = county 530381 (宣威市, Yunnan: the code reads right only in written order, low byte first
    # it would be 810353, no code) | A2 0D 00 = station 13, low byte first | AFN C0 | 00 59 00 00
    # 00 = flow +5.900 (5 bytes BCD low byte first, 3 decimals as hm1212 reads it; top bit = sign,
    # 0 here. The unit (m³/h or m³/s) is not in the frame: hm1212 and protocols.md do not say) |
    # 82 61 10 00 00 = cumulative volume 106182 m³ (0 decimals; sign bit 0) | 01 10 alarm word
    # 0x1001 = D0 AC power loss, D12 remaining water low | 60 00 status word 0x0060 = D5 cabinet
    # door, D6 on battery (on battery with AC lost: little-endian is consistent again); D4 = 0
    # pump running | Tp 00 45 08 09 = second 00, minute 45, hour 08, day 09 (5 bytes: SZY206-2016,
    # no month or year) | 0A = allowed delay 10 minutes. AMBIGUOUS: read as binary here (0A is not
    # BCD); hm1212 resolveTp reads it nibble-wise as tens*10+units, which also gives 10 | CS 35.
    (E16, "68 1A 68 B3 53 03 81 0D 00 C0 00 59 00 00 00 82 61 10 00 00 01 10 60 00 00 45 08 09 0A "
     "35 16", "530381", 13, "flow", [5.9, 106182], 0x1001, 0x0060,
     (None, None, 9, 8, 45, 0, 10), "little", 3, None, REAL),
    # C=B2 type 2 water level; three levels: 45 23 01 00 = 12.345 m, 00 35 00 F0 = -3.500 m
    # (sign nibble F), AA AA AA AA not measured | alarm 00 00 | status 10 00 = D4 pump stopped |
    # Tp 2026-05-12 14:15:30, delay 5 minutes.
    (E21, "68 1E 68 B2 53 03 81 0D 00 C0 45 23 01 00 00 35 00 F0 AA AA AA AA 00 00 10 00 30 15 14 "
     "12 05 26 05 EC 16", "530381", 13, "water_level", [12.345, -3.5, None], 0, 0x0010,
     (2026, 5, 12, 14, 15, 30, 5), "little", 3, None, HAND % "water levels"),
    # C=B8 type 8 = electrical energy (SL/T 427-2021 only) | A 110105 / EA60 = 60000, the highest
    # station | 78 56 34 12 = 123456.78 kWh | alarm 41 00 = D0 + D6 | status 01 00 = D0 (mode) |
    # Tp 2026-12-31 23:59:59.
    (E21, "68 16 68 B8 11 01 05 60 EA C0 78 56 34 12 41 00 01 00 59 59 23 31 12 26 00 98 16",
     "110105", 60000, "energy", [123456.78], 0x0041, 0x0001, (2026, 12, 31, 23, 59, 59, 0),
     "little", 3, None, HAND % "energy, highest station"),
    # C=D3: up, DIV set, FCB 1 (second resend), type 3 | DIVS 02 (one more frame follows) | two
    # flow channels: flow 00 25 01 00 80 = -12.500 (sign bit), volume AA.. not measured; flow 0,
    # volume 99 99 99 99 79 = 7,999,999,999 m³, the largest with the sign bit (protocols.md gives
    # 0-799,999,999, one digit fewer: AMBIGUOUS, the codec allows the sign-bit range) | alarm 08 00
    # = D3 flow over limit | status 00 00 | Tp 2099-01-01 00:00:00, delay FF = 255 minutes.
    (E21, "68 27 68 D3 02 53 03 81 01 00 C0 00 25 01 00 80 AA AA AA AA AA 00 00 00 00 00 99 99 99 "
     "99 79 08 00 00 00 00 00 00 01 01 99 FF 1B 16", "530381", 1, "flow",
     [-12.5, None, 0, 7999999999], 0x0008, 0, (2099, 1, 1, 0, 0, 0, 255), "little", 1, 2,
     HAND % "divided frame, resend, two channels, edges"),
]

# --- link checks (AFN 02), uplink, type code 0: (edition, frame, county, station, kind, Tp, fcb,
# source). AMBIGUOUS: neither source gives the type code of a link check or says whether it
# carries Tp; the codec sends type 0 and takes the frame with or without Tp (told by L).
LINK_CHECKS = [
    (E21, "68 0F 68 B0 53 03 81 0D 00 02 F0 30 15 14 12 05 26 00 94 16", "530381", 13, 0xF0,
     (2026, 5, 12, 14, 15, 30, 0), 3, HAND % "login with Tp"),
    (E16, "68 08 68 B0 53 03 81 0D 00 02 F2 3C 16", "530381", 13, 0xF2, None, 3,
     HAND % "keep-alive without Tp, the data byte as hm1212 HeartReport reads it"),
    (E21, "68 08 68 A0 53 03 81 0D 00 02 F1 75 16", "530381", 13, 0xF1, None, 2,
     HAND % "logout, first resend (FCB 2)"),
]

# --- centre's acknowledgements, downlink, type code 0: (edition, frame, county, station, afn,
# mode, centre clock Tp, source). Data = 1 byte mode (protocols.md); its values are not listed
# there, so mode is carried, not interpreted.
ACKS = [
    (E21, "68 0F 68 30 53 03 81 0D 00 C0 00 31 15 14 12 05 26 00 BB 16", "530381", 13, 0xC0, 0,
     (2026, 5, 12, 14, 15, 31, 0), HAND % "ack of a self-report with the centre's clock"),
    (E16, "68 08 68 30 53 03 81 0D 00 02 00 FA 16", "530381", 13, 0x02, 0, None, ECHO),
    (E16, "68 0D 68 30 53 03 81 0D 00 C0 00 02 45 08 09 00 59 16", "530381", 13, 0xC0, 0,
     (None, None, 9, 8, 45, 2, 0), HAND % "ack of the real frame, 5-byte clock"),
]

# --- a downlink frame with PW and Tp: (edition, frame, fields of Frame, source). AFN 92 and its
# data byte are placeholders (remote pump control is not in this step): PW key 1 = 1, key 2 =
# 234 -> word 0x1234 sent 34 12. AMBIGUOUS: protocols.md does not say whether key 2 is 3 BCD
# digits or binary (0-999 suggests BCD, as here) nor the byte order (low byte first assumed).
PASSWORD_FRAMES = [
    (E21, "68 11 68 30 53 03 81 0D 00 92 01 34 12 30 15 14 12 05 26 03 1B 16",
     (False, 3, 0, None, "530381", 13, 0x92, "01", (1, 234), (2026, 5, 12, 14, 15, 30, 3)),
     HAND % "downlink with password and a 3-minute allowed delay"),
]

# --- frames parse_self_report must refuse: (edition, frame, error class name, what, source) ----
BAD_REPORTS = [
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AC 16",
     "ChecksumError", "CS off by one", CHECKED),
    (E21, "68 16 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD 16",
     "FrameError", "L says one byte more", CHECKED),
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD 17",
     "FrameError", "end byte 17", CHECKED),
    (E21, "68 15 69 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD 16",
     "FrameError", "second start byte 69", CHECKED),
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 AD",
     "FrameError", "end byte missing", CHECKED),
    (E21, "68 15 68 34 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 D2 16",
     "WrongDirection", "direction bit cleared: a downlink frame", HAND % "C = 34"),
    (E21, "68 15 68 B4 01 02 03 00 00 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 24 16",
     "FrameError", "station number 0", HAND % "A2 = 00 00"),
    (E21, "68 15 68 B4 01 02 03 61 EA C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 27 16",
     "FrameError", "station number 60001", HAND % "A2 = 61 EA"),
    (E21, "68 15 68 B4 01 0A 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 D7 16",
     "FrameError", "county code byte 0A is not BCD", HAND % "A1 = 01 0A 03"),
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 13 26 00 DD 16",
     "FrameError", "Tp month 13", HAND % "Tp month 13"),
    (E21, "68 15 68 B4 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 24 12 05 26 00 68 16",
     "FrameError", "Tp hour 24", HAND % "Tp hour 24"),
    (E16, "68 1A 68 B3 53 03 81 0D 00 C0 00 5A 00 00 00 82 61 10 00 00 01 10 60 00 00 45 08 09 0A "
     "28 16", "FrameError", "flow digit 5A is not BCD", HAND % "the real frame, flow 5A"),
    (E21, "68 14 68 B2 53 03 81 0D 00 C0 45 23 01 50 00 00 00 00 00 45 08 09 0A 22 16",
     "FrameError", "water level sign nibble 5", HAND % "level 45 23 01 50"),
    (E16, "68 19 68 B3 53 03 81 0D 00 C0 00 59 00 00 00 82 61 10 00 01 10 60 00 00 45 08 09 0A "
     "42 16", "FrameError", "volume one byte short: 9 value bytes", HAND % "the real frame cut"),
    (E16, "68 1A 68 B3 53 03 81 0D 00 B0 00 59 00 00 00 82 61 10 00 00 01 10 60 00 00 45 08 09 0A "
     "CD 16", "FrameError", "AFN B0, not a self-report", HAND % "the real frame, AFN B0"),
    (E21, "68 16 68 F4 00 01 02 03 04 05 C0 55 45 04 00 20 70 00 30 15 14 12 05 26 00 B8 16",
     "FrameError", "DIV set with DIVS 0", HAND % "DIVS 00"),
    (E21, "68 15", "FrameError", "two bytes", "by hand: shorter than any frame"),
]

# --- other refusals: (parser, edition, frame, error class name, what, source) -------------------
BAD_OTHERS = [
    ("link", E21, "68 08 68 B0 53 03 81 0D 00 02 F3 D9 16", "FrameError", "link data F3",
     HAND % "link check F3"),
    ("ack", E16, "68 08 68 30 53 03 81 0D 00 C0 00 38 16", "FrameError",
     "ack of AFN C0 where AFN 02 was acknowledged", HAND % "ack of C0 without Tp"),
    ("ack", E21, "68 0F 68 B0 53 03 81 0D 00 02 F0 30 15 14 12 05 26 00 94 16", "WrongDirection",
     "a station's login taken for an ack", HAND % "login with Tp"),
]
