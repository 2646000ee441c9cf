"""DL/T 645-2007 slave side: read (0x11) and read address (0x13) answered from meters' points."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers import dlt645
from gateway.simulator.device import Meter, SlaveFault
from gateway.simulator.physics import Snapshot
from gateway.simulator.respond import Outcome, respond

# Error byte of an abnormal reply (DL/T 645-2007 §7.3.2): bit 0 other error, bit 1 no such data.
ERROR_OTHER = 0x01
ERROR_NO_DATA = 0x02


def address_matches(requested: str, own: str) -> bool:
    """True if a request address names this meter: equal, or 'AA' wildcard bytes (broadcast)."""
    requested, own = requested.upper(), own.upper()
    return all(requested[i : i + 2] in ("AA", own[i : i + 2]) for i in range(0, len(own), 2))


def flip_checksum(frame: bytes) -> bytes:
    """Invert the checksum byte (the one before the closing 16h)."""
    if len(frame) < 2:
        return frame
    return frame[:-2] + bytes([frame[-2] ^ 0xFF]) + frame[-1:]


class Dlt645Protocol:
    """The DL/T 645 side of a serial line: finds frames and lets each addressed meter answer."""

    def __init__(self, meters: dict[str, Meter], snapshot: Callable[[], Snapshot]) -> None:
        self.meters = meters  # by 12-digit address
        self.snapshot = snapshot
        self._bad = 0

    def bad_frames(self) -> int:
        return self._bad

    def extract(self, buffer: bytearray) -> list[bytes]:
        frames = []
        while True:
            found = dlt645.find_frame(bytes(buffer))
            if found is None:
                return frames
            start, end = found
            frame = bytes(buffer[start:end])
            del buffer[:end]
            try:
                dlt645.parse_frame(frame)
            except dlt645.Dlt645Error:
                self._bad += 1
                continue
            frames.append(frame)

    def at_silence(self, buffer: bytes) -> list[bytes]:
        """DL/T 645 frames end with 16h, never by silence: what is left is noise."""
        if buffer.strip(dlt645.PREAMBLE[:1]):
            self._bad += 1
        return []

    def answer(self, frame: bytes) -> list[Outcome]:
        try:
            requested, control, di = dlt645.parse_request(frame)
        except dlt645.Dlt645Error:
            self._bad += 1
            return []
        snap = self.snapshot()
        return [
            self._answer_one(meter, own, control, di, snap)
            for own, meter in self.meters.items()
            if address_matches(requested, own)
        ]

    def _answer_one(
        self, meter: Meter, own: str, control: int, di: str | None, snap: Snapshot
    ) -> Outcome:
        def normal() -> tuple[bytes, dict[str, Any]]:
            if control == dlt645.CONTROL_READ_ADDRESS:
                return dlt645.build_read_address_reply(own), {}
            if control == dlt645.CONTROL_READ and di is not None:
                found = meter.read_di(di, snap)
                if found is None:
                    raise SlaveFault(ERROR_NO_DATA, f"meter {own} has no data identifier {di}")
                data, served = found
                return dlt645.build_read_reply(own, di, data), served
            raise SlaveFault(ERROR_OTHER, f"control code {control:#04x} is not supported")

        def abnormal(code: int | None) -> bytes:
            return dlt645.build_abnormal_reply(own, control, code or ERROR_OTHER)

        return respond(meter, snap, normal, abnormal, flip_checksum)
