"""Every single changed byte of a valid uplink frame is refused by the centre simulator's
protocol sides (in process, every position and every other byte value): the centre never stores
or acknowledges a damaged report."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers import sl427, sl651
from gateway.platform.centre.frames import Refused
from gateway.platform.centre.sl427_side import Sl427Side
from gateway.platform.centre.sl651_side import Sl651Side

CLOCK = datetime(2026, 12, 7, 8, 1, 0)


def _sl427_frames():
    edition = sl427.EDITION_2021
    return Sl427Side(edition, clock=lambda: CLOCK), sl427.Sl427Error, [
        sl427.build_self_report(edition, "530381", 13, "flow", [5.9, 106182], 0x1001, 0x60,
                                (2026, 12, 7, 8, 0, 0, 5)),
        sl427.build_link_check(edition, "530381", 13, sl427.LINK_LOGIN,
                               (2026, 12, 7, 8, 0, 30, 5)),
    ]


def _sl651_frames():
    body = sl651.encode_report(7, (2026, 12, 7, 8, 0, 5), "0012345678", sl651.GROUNDWATER,
                               (2026, 12, 7, 8, 0), [(0x39, 12.345, 4, 3), (0x38, 12.5, 2, 2)])
    return Sl651Side(1, 0x1234, clock=lambda: CLOCK), sl651.Sl651Error, [
        sl651.build_report(1, "0012345678", 0x1234, sl651.TIMED, body),
        sl651.build_keep_alive(1, "0012345678", 0x1234, 8, (2026, 12, 7, 8, 0, 6)),
    ]


@pytest.mark.parametrize("make", [_sl427_frames, _sl651_frames])
def test_every_single_changed_byte_is_refused(make):
    side, errors, frames = make()
    for frame in frames:
        assert side.receive(frame).station  # the frame itself is taken
        for index in range(len(frame)):
            for value in range(256):
                if value == frame[index]:
                    continue
                damaged = bytearray(frame)
                damaged[index] = value
                with pytest.raises((errors, Refused)):
                    side.receive(bytes(damaged))
