"""The read planner's plan has the least bus time: hand-worked request times, and an exhaustive
search (every partition of small random maps; every split of every shipped profile) to compare."""

import itertools
import random
from pathlib import Path

import pytest

from gateway.acquisition.plan import BusCost, plan_for_profile, plan_reads, point_width
from gateway.profiles import ModbusPoint, available_profiles, load_profile
from gateway.readable_ranges import ReadableRange

# --- hand-worked request times (shared/domain/protocols.md: bytes x 11 bits / baud + 2 gaps) ----


def test_two_registers_at_9600_baud_take_27_5_ms():
    # 8-byte request + 9-byte reply = 17 characters = 187 bits = 19.479 ms at 9600 baud, and two
    # 3.5-character gaps = 77 bits = 8.021 ms: 264 bits = 27.5 ms.
    assert BusCost.rtu(9600).request(2) == pytest.approx(0.0275, abs=1e-9)


def test_two_registers_at_2400_baud_take_110_ms():
    assert BusCost.rtu(2400).request(2) == pytest.approx(0.110, abs=1e-9)


def test_above_19200_baud_the_gap_is_fixed_at_1_75_ms():
    # 17 characters at 38400 = 4.8698 ms, plus 2 x 1.75 ms.
    assert BusCost.rtu(38400).request(2) == pytest.approx(187 / 38400 + 0.0035, abs=1e-9)


def test_turnaround_counts_once_per_request():
    # 125 registers: 8 + 255 bytes = 263 characters = 2893 bits at 9600, 77 bits of gaps,
    # and a 20 ms turnaround.
    assert BusCost.rtu(9600, turnaround=0.02).request(125) == pytest.approx(
        2970 / 9600 + 0.02, abs=1e-9)


def test_sdm120_at_2400_baud_hand_worked():
    # Points at 0x00, 0x06, 0x0C, 0x1E, 0x46, 0x48, 0x4A, 0x156 (float32), readable 0x00..0x4F.
    # Requests: 0x00..0x0D (14 registers: holes of 4 and 4 cost 16 characters < 20 for a request),
    # 0x1E (2: a 16-register hole before it costs 32 > 20), 0x46..0x4B (6), 0x156 (2).
    # Characters: 4 x 20 fixed + 2 x (14 + 2 + 6 + 2) = 128; x 11 bits / 2400 = 0.58667 s.
    profile = load_profile("eastron-sdm120")
    blocks = plan_for_profile(profile.points, profile.defaults, BusCost.rtu(2400))
    assert [(b.address, b.count) for b in blocks] == [(0, 14), (0x1E, 2), (0x46, 6), (0x156, 2)]
    assert BusCost.rtu(2400).plan(blocks) == pytest.approx(128 * 11 / 2400, abs=1e-9)


# --- an independent feasibility check and exhaustive searches ------------------------------------


def readable_registers(points, function, max_gap, ranges):
    """Every register of `function` a request may read, worked out register by register."""
    mapped = {a for p in points if p.function == function
              for a in range(p.address, p.address + point_width(p))}
    allowed = set(mapped)
    for r in ranges:
        if r.function == function:
            allowed |= set(range(r.first, r.last + 1))
    for a in sorted(mapped):  # a hole after a: the registers up to the next mapped one
        if a + 1 not in mapped and any(b > a for b in mapped):
            nxt = min(b for b in mapped if b > a)
            if nxt - a - 1 <= max_gap:
                allowed |= set(range(a + 1, nxt))
    return allowed


def group_seconds(group, max_registers, allowed, cost):
    """Bus time of one request reading `group`, or None when no request may read it."""
    if len({p.function for p in group}) != 1:
        return None
    start = min(p.address for p in group)
    end = max(p.address + point_width(p) for p in group)
    if end - start > max_registers or not set(range(start, end)) <= allowed[group[0].function]:
        return None
    return cost.request(end - start)


def set_partitions(items):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for partition in set_partitions(rest):
        yield [[first], *partition]
        for i in range(len(partition)):
            yield [*partition[:i], [first, *partition[i]], *partition[i + 1:]]


def exhaustive_best(points, max_registers, max_gap, ranges, cost):
    allowed = {f: readable_registers(points, f, max_gap, ranges) for f in (3, 4)}
    best = None
    for partition in set_partitions(list(points)):
        seconds = [group_seconds(g, max_registers, allowed, cost) for g in partition]
        if None not in seconds and (best is None or sum(seconds) < best):
            best = sum(seconds)
    return best


def check_plan(points, blocks, max_registers, max_gap, ranges):
    """Every point read once, in a request that reads only registers it may."""
    assert sorted(p.name for b in blocks for p in b.points) == sorted(p.name for p in points)
    for b in blocks:
        allowed = readable_registers(points, b.function, max_gap, ranges)
        assert b.count <= max_registers
        assert set(range(b.address, b.address + b.count)) <= allowed
        for p in b.points:
            assert p.function == b.function
            assert b.address <= p.address and p.address + point_width(p) <= b.address + b.count


def random_map(rng):
    points, taken = [], set()
    for i in range(rng.randint(1, 7)):
        width = rng.choice((1, 2, 2, 4))
        address = rng.randrange(0, 48)
        span = set(range(address, address + width))
        if span & taken:
            continue
        taken |= span
        type_ = {1: "u16", 2: "float32", 4: "float64"}[width]
        points.append(ModbusPoint(name=f"p{i}", function=rng.choice((3, 3, 4)), address=address,
                                  type=type_))
    first = rng.randrange(0, 48)
    ranges = [ReadableRange(function=rng.choice((3, 4)), first=first,
                            last=first + rng.randrange(0, 20))] if rng.random() < 0.6 else []
    return points, ranges


@pytest.mark.parametrize("seed", range(6))
def test_plan_matches_an_exhaustive_search_over_every_partition(seed):
    rng = random.Random(seed)
    for _ in range(40):
        points, ranges = random_map(rng)
        max_registers, max_gap = rng.randint(4, 40), rng.choice((0, 0, 1, 3, 8))
        cost = BusCost.rtu(rng.choice((1200, 2400, 9600, 38400)),
                           turnaround=rng.choice((0.0, 0.005, 0.05)))
        blocks = plan_reads(points, max_registers, max_gap, ranges, cost)
        check_plan(points, blocks, max_registers, max_gap, ranges)
        best = exhaustive_best(points, max_registers, max_gap, ranges, cost)
        assert cost.plan(blocks) == pytest.approx(best, rel=1e-12), (points, ranges, blocks)


def test_overlapping_points_are_planned_as_well_as_an_exhaustive_search():
    # A long_fraction (4 registers) that overlaps a float32 on purpose, as the TUF-2000M maps.
    points = [ModbusPoint(name="lf", function=3, address=8, type="long_fraction"),
              ModbusPoint(name="f", function=3, address=10, type="float32", overlaps="lf"),
              ModbusPoint(name="v", function=3, address=0, type="float32")]
    for baud in (2400, 9600):
        cost = BusCost.rtu(baud)
        for max_gap in (0, 6):
            blocks = plan_reads(points, 125, max_gap, (), cost)
            check_plan(points, blocks, 125, max_gap, ())
            assert cost.plan(blocks) == pytest.approx(
                exhaustive_best(points, 125, max_gap, (), cost), rel=1e-12)


def best_split(points, max_registers, max_gap, ranges, cost):
    """The least bus time over every split of each function's address-ordered points into runs."""
    total = 0.0
    for function in sorted({p.function for p in points}):
        ordered = sorted((p for p in points if p.function == function), key=lambda p: p.address)
        allowed = {function: readable_registers(points, function, max_gap, ranges)}
        n = len(ordered)
        run_seconds = {(i, j): group_seconds(ordered[i:j], max_registers, allowed, cost)
                       for i in range(n) for j in range(i + 1, n + 1)}
        best = None
        for cuts in itertools.product((False, True), repeat=n - 1):
            bounds = [0, *(k + 1 for k, cut in enumerate(cuts) if cut), n]
            parts = [run_seconds[i, j] for i, j in itertools.pairwise(bounds)]
            if None not in parts and (best is None or sum(parts) < best):
                best = sum(parts)
        total += best
    return total


EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"
SHIPPED = [name for name in sorted(available_profiles())
           if load_profile(name).model.protocol == "modbus"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_gets_the_least_bus_time_at_9600_and_2400_baud(name):
    profile = load_profile(name)
    d = profile.defaults
    for baud in (9600, 2400):
        cost = BusCost.rtu(baud)
        blocks = plan_for_profile(profile.points, d, cost)
        check_plan(profile.points, blocks, d.max_registers_per_request, d.max_gap,
                   d.readable_gaps)
        best = best_split(profile.points, d.max_registers_per_request, d.max_gap,
                          d.readable_gaps, cost)
        assert cost.plan(blocks) <= 1.05 * best
        assert cost.plan(blocks) == pytest.approx(best, rel=1e-12)


def test_check_config_shows_requests_bus_time_and_share_per_device(tmp_path):
    from click.testing import CliRunner

    from gateway.cli import cli

    # The example as a site would install it: its status token file made first.
    token = tmp_path / "status.token"
    token.write_text("0123456789abcdef0123456789abcdef\n", encoding="utf-8")
    token.chmod(0o600)
    example = (EXAMPLES / "single-well-sdm120.toml").read_text(encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text(example.replace("/etc/wellgate/status.token", str(token)), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check-config", str(site)])
    assert result.exit_code == 0, result.output
    # The SDM120 plan worked by hand above: 128 characters at 2400 baud = 586.7 ms, every 10 s.
    assert "pump-energy 4 requests 24 registers 586.7 ms bus time, 5.9% of 10 s" in result.output
    assert "bus busy 5.9% of the time: keeps its schedule" in result.output
