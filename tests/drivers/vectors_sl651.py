"""SL 651-2014 HEX-mode test vectors for drivers/sl651.py, each row naming its source."""

from vectors import REVENG

# --- sources -------------------------------------------------------------------------------------
# SL 651-2014 (水文监测数据通信规约) as shared/domain/protocols.md transcribes it (the project's
# notes outside this repository), and one public implementation read with the code search:
# xiaozhuweini/fyyp_rtu, components/ptcl/sl651.h (control characters, station classes, function
# codes, guide codes and their length bytes) and components/ptcl/sl651.c (_sl651_bao_tou: the
# uplink head; _sl651_multi_encoder: the M3 packet bytes, ETB/ETX; _sl651_data_format_with_symbol:
# element values, the FF sign byte; the downlink decoder: station address before the centre
# address, SYN packet bytes, then serial and send time, ended by EOT/ESC/NAK). Nothing is imported
# from it. Frames not taken whole from a source had their CRC computed with a bitwise
# CRC-16/MODBUS written for the check (it gives the RevEng check value 4B37), independent of
# drivers/.
PROTOCOLS = "shared/domain/protocols.md, SL 651-2014 section: checked frame, CRC 6B CA"
FYYP = "xiaozhuweini/fyyp_rtu components/ptcl/"
COMPOSED = ("composed by hand: layout of protocols.md (SL 651-2014 section) and %s; CRC computed "
            "independently; UNCONFIRMED: no captured traffic of a real centre or station" % FYYP)

# --- CRC-16/MODBUS, sent high byte first: (data, CRC bytes as sent, source) ---------------------
SL_CRC_VECTORS = [
    ("7E 7E 01 00 12 34 56 78 12 34 2F 00 08 02 00 03 59 10 11 15 51 11 03", "6B CA", PROTOCOLS),
    ("31 32 33 34 35 36 37 38 39", "4B 37", REVENG + ", sent high byte first"),
]

# --- the checked keep-alive (function 2F), byte by byte -----------------------------------------
KEEP_ALIVE_FRAME = (
    "7E 7E"                 # start of a HEX-mode frame
    " 01"                   # centre address 1 (an uplink names the centre first)
    " 00 12 34 56 78"       # station address, 10 BCD digits: 0012345678
    " 12 34"                # password 0x1234, high byte first
    " 2F"                   # function: link keep-alive
    " 00 08"                # direction nibble 0 = up; body length 0x008 = 8 bytes
    " 02"                   # STX: one packet
    " 00 03"                # body: serial 3
    " 59 10 11 15 51 11"    # body: send time YYMMDDhhmmss = (20)59-10-11 15:51:11, as given
    " 03"                   # ETX: nothing follows
    " 6B CA"                # CRC-16/MODBUS of everything before, high byte first
)
KEEP_ALIVE = (KEEP_ALIVE_FRAME, 1, "0012345678", 0x1234, 3, (2059, 10, 11, 15, 51, 11),
              PROTOCOLS)

# --- the centre's replies (downlink: station address, then centre address) ----------------------
# (frame, function, serial, send time, end, packet, source)
ACKS = [
    ("7E 7E 00 12 34 56 78 01 12 34 2F 80 08 02 00 03 59 10 11 15 51 11 04 85 00", 0x2F, 3,
     (2059, 10, 11, 15, 51, 11), 0x04, None,
     "EOT acknowledging the checked keep-alive; " + COMPOSED),
    ("7E 7E 00 12 34 56 78 01 12 34 2F 80 08 02 00 03 59 10 11 15 51 11 1B 4D 41", 0x2F, 3,
     (2059, 10, 11, 15, 51, 11), 0x1B, None,
     "ESC (stay online) acknowledging the checked keep-alive; " + COMPOSED),
    ("7E 7E 00 12 34 56 78 01 12 34 32 80 08 02 00 04 25 12 01 08 00 05 1B 2D 08", 0x32, 4,
     (2025, 12, 1, 8, 0, 5), 0x1B, None,
     "ESC acknowledging the timed report below; " + COMPOSED),
    ("7E 7E 00 12 34 56 78 01 12 34 32 80 0B 16 00 20 02 00 03 59 10 11 15 51 11 15 4C 18", 0x32,
     3, (2059, 10, 11, 15, 51, 11), 0x15, (2, 2),
     "M3: NAK asking again for packet 2 of 2 (SYN, packet bytes 00 20 02); " + COMPOSED),
]

# --- M3 multi-packet: the 8-byte body 00 03 59 10 11 15 51 11 of function 32 in 5-byte packets --
# packet bytes: total (12 bits) then sequence (12 bits): 2 of 2 = 00 20 02. (frame, packet, source)
M3_BODY = "00 03 59 10 11 15 51 11"
M3_PACKETS = [
    ("7E 7E 01 00 12 34 56 78 12 34 32 00 08 16 00 20 01 00 03 59 10 11 17 26 C0", (2, 1),
     "packet 1 of 2, length = 3 packet bytes + 5, ETB (more follows); " + COMPOSED),
    ("7E 7E 01 00 12 34 56 78 12 34 32 00 06 16 00 20 02 15 51 11 03 91 35", (2, 2),
     "packet 2 of 2, ETX (last); " + COMPOSED),
]

# --- elements: (identifier, value, size, decimals, bytes, source) --------------------------------
ELEMENT_VECTORS = [
    (0x39, 12.345, 4, 3, "39 23 00 01 23 45",
     "water level, 39 23 = 4 bytes 3 decimals (protocols.md's example; " + FYYP
     + "sl651.h SL651_LEN_WATER_CUR)"),
    (0x39, -1.5, 5, 3, "39 2B FF 00 00 15 00",
     "negative water level: FF sign byte, counted (" + FYYP
     + "sl651.c _sl651_data_format_with_symbol: length + 8, SL651_FRAME_SIGN_NEGATIVE FF); "
     "UNCONFIRMED against the standard's text"),
    (0x39, None, 4, 3, "39 23 FF FF FF FF",
     "no value: every byte FF (" + FYYP + "sl651.c, SL651_FRAME_INVALID_DATA); UNCONFIRMED "
     "against the standard's text"),
    (0x38, 12.34, 2, 2, "38 12 12 34",
     "supply voltage, 38 12 = 2 bytes 2 decimals (" + FYYP + "sl651.h SL651_LEN_PWR_VOLTAGE)"),
    (0x0E, 12.34, 3, 2, "0E 1A 00 12 34",
     "groundwater depth, 0E 1A = 3 bytes 2 decimals (" + FYYP
     + "sl651.h SL651_LEN_GROUND_WATER)"),
    (0x68, 1234.5, 5, 2, "68 2A 00 00 12 34 50",
     "hourly volume of meter 1, 68 2A = 5 bytes 2 decimals (" + FYYP
     + "sl651.h SL651_LEN_FLOW_CUR)"),
    (0x45, 0x00000005, 4, 0, "45 20 00 00 00 05",
     "status/alarm, 45 20 = 4 bytes (" + FYYP + "sl651.h SL651_LEN_STATUS_ALARM); a bit word, "
     "high byte first: the byte order is UNCONFIRMED"),
    (0xFF85, 23, 1, 0, "FF 85 08 23",
     "user-defined identifier FF85, 1 byte (" + FYYP + "sl651.h SL651_BOOT_CSQ_EX, "
     "SL651_LEN_CSQ_EX: that RTU's signal strength)"),
    (0x27, 0.125, 5, 3, "27 2B 00 00 00 01 25",
     "instantaneous flow; the length byte 2B (5 bytes, 3 decimals) is UNCONFIRMED: no source "
     "at hand gives Appendix C's length for 27"),
]

# --- a timed report (32) of a groundwater station -----------------------------------------------
# (frame, function, report fields, source)
TIMED_REPORT_FRAME = (
    "7E 7E 01 00 12 34 56 78 12 34 32 00 26 02"  # head: up, body length 0x026 = 38
    " 00 04"                                     # serial 4
    " 25 12 01 08 00 05"                         # send time 2025-12-01 08:00:05
    " F1 F1 00 12 34 56 78"                      # F1 F1 + station address
    " 47"                                        # station class: groundwater
    " F0 F0 25 12 01 08 00"                      # F0 F0 + observation time 2025-12-01 08:00
    " 0E 1A 01 23 45"                            # groundwater depth 123.45 m
    " 39 23 00 12 34 50"                         # water level 123.450 m
    " 38 12 12 34"                               # supply voltage 12.34 V
    " 03 D0 05"                                  # ETX, CRC
)
TIMED_REPORT = (TIMED_REPORT_FRAME, 0x32, 4, (2025, 12, 1, 8, 0, 5), 0x47,
                (2025, 12, 1, 8, 0),
                [(0x0E, 123.45, 3, 2), (0x39, 123.45, 4, 3), (0x38, 12.34, 2, 2)],
                "body layout of protocols.md (timed report); " + COMPOSED)
