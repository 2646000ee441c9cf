"""Read planning: points merged into as few requests as the profile allows."""

import pytest

from gateway.acquisition.plan import plan_reads
from gateway.profiles import ModbusPoint


def pt(name, address, type_="float32", function=3, length=None):
    return ModbusPoint(name=name, function=function, address=address, type=type_, length=length)


# (case, points, max_registers, max_gap, expected blocks as (function, address, count, names))
CASES = [
    ("adjacent floats merge", [pt("a", 0), pt("b", 2), pt("c", 4)], 125, 0,
     [(3, 0, 6, ("a", "b", "c"))]),
    ("a gap splits when max_gap is 0", [pt("a", 0), pt("b", 4)], 125, 0,
     [(3, 0, 2, ("a",)), (3, 4, 2, ("b",))]),
    ("a gap within max_gap is read through", [pt("a", 0), pt("b", 4)], 125, 2,
     [(3, 0, 6, ("a", "b"))]),
    ("different functions never merge", [pt("a", 0, function=4), pt("b", 2)], 125, 10,
     [(3, 2, 2, ("b",)), (4, 0, 2, ("a",))]),
    ("span limit splits", [pt("a", 0), pt("b", 2), pt("c", 4)], 4, 0,
     [(3, 0, 4, ("a", "b")), (3, 4, 2, ("c",))]),
    ("unsorted input is sorted", [pt("c", 4), pt("a", 0), pt("b", 2)], 125, 0,
     [(3, 0, 6, ("a", "b", "c"))]),
    ("overlapping points share registers", [pt("lf", 8, "long_fraction"), pt("f", 10)], 125, 0,
     [(3, 8, 4, ("lf", "f"))]),
    # A request's fixed part is 13 frame bytes + two 3.5-character gaps = 20 characters; a
    # register read for nothing costs 2: a hole of 10 registers is where merging stops paying.
    ("SDM630 map: an 18-register hole costs more than a request (36 > 20 characters)",
     [pt("v", 0x00, function=4), pt("p", 0x34, function=4), pt("e", 0x48, function=4)], 125, 30,
     [(4, 0x00, 2, ("v",)), (4, 0x34, 2, ("p",)), (4, 0x48, 2, ("e",))]),
    ("SDM630 map: an 8-register hole costs less than a request (16 < 20 characters)",
     [pt("f", 0x3E, function=4), pt("e", 0x48, function=4)], 125, 30,
     [(4, 0x3E, 12, ("f", "e"))]),
    ("full 125-register request",
     [pt("a", 0, "u16"), pt("s", 1, "string", length=123), pt("b", 124, "u16")], 125, 0,
     [(3, 0, 125, ("a", "s", "b"))]),
    ("126 registers need two requests", [pt("a", 0, "u16"), pt("b", 125, "u16")], 125, 200,
     [(3, 0, 1, ("a",)), (3, 125, 1, ("b",))]),
]


@pytest.mark.parametrize("case,points,max_registers,max_gap,expected", CASES,
                         ids=[c[0] for c in CASES])
def test_plan_reads(case, points, max_registers, max_gap, expected):
    blocks = plan_reads(points, max_registers, max_gap)
    got = [(b.function, b.address, b.count, tuple(p.name for p in b.points)) for b in blocks]
    assert got == expected


def test_slice_for_returns_the_points_registers():
    block = plan_reads([pt("a", 10, "u16"), pt("b", 11, "u32")])[0]
    values = [1, 2, 3]
    assert block.slice_for(block.points[0], values) == [1]
    assert block.slice_for(block.points[1], values) == [2, 3]


def test_point_wider_than_a_request_is_refused():
    with pytest.raises(ValueError, match="needs 4 registers"):
        plan_reads([pt("lf", 0, "long_fraction")], max_registers=2)


def test_max_registers_out_of_range_is_refused():
    with pytest.raises(ValueError, match=r"1\.\.125, got 126"):
        plan_reads([pt("a", 0)], max_registers=126)
