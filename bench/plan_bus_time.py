"""Bus time of the read planner's plans, side by side: modelled for every shipped profile, and
measured on the simulated well's byte-timed lines for the Eastron maps.

Plans compared, per Modbus profile and baud:
  before   merge adjacent points only (the planner before issue 16, with the profile's max_gap)
  now      the planner: least bus time among the registers the profile allows (readable_gaps)
  fewest   the fewest requests if every register answered (what issue 16 compared against;
           unsafe on a real meter that refuses unmapped registers)
  ideal    the least bus time if every register answered (a bound, not a plan to use)
Modelled time = (8 + 5 + 2 x registers) bytes x 11 bits / baud + 2 x 3.5-character gaps per
request (gateway/acquisition/plan.py BusCost; tests/test_plan_optimal.py checks it by hand and
proves `now` optimal by exhaustive search). Measured time = wall time of one poll's requests
through the gateway's own transport against the simulated meter (replies sent only after the
request, a 3.5-character gap and the reply's bytes would have taken), plans alternating.

    .venv/bin/python bench/plan_bus_time.py --rounds 10
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from gateway.acquisition.plan import BusCost, plan_for_profile, plan_reads
from gateway.acquisition.transport import ModbusTransport
from gateway.config.buses import silent_interval
from gateway.profiles import available_profiles, load_profile
from gateway.simulator import SimDevice, SimulatedWell

EVERYTHING_ANSWERS = 125  # a max_gap that reads through any hole


def plans(name: str, cost: BusCost) -> dict[str, list]:
    profile = load_profile(name)
    points, d = profile.points, profile.defaults
    return {
        "before": plan_reads(points, d.max_registers_per_request, d.max_gap, (), cost),
        "now": plan_for_profile(points, d, cost),
        "fewest": plan_reads(points, d.max_registers_per_request, EVERYTHING_ANSWERS, (),
                             BusCost(1.0, 1e-9)),
        "ideal": plan_reads(points, d.max_registers_per_request, EVERYTHING_ANSWERS, (), cost),
    }


def modelled() -> None:
    print("modelled bus time per poll (ms; requests in brackets) and ratios")
    print(f"{'profile':16} {'baud':>5} {'before':>12} {'now':>12} {'fewest':>12} {'ideal':>12}"
          f" {'before/now':>10} {'fewest/now':>10}")
    for name in sorted(available_profiles()):
        if load_profile(name).model.protocol != "modbus":
            continue
        for baud in (9600, 2400):
            cost = BusCost.rtu(baud)
            found = plans(name, cost)
            ms = {k: cost.plan(v) * 1000 for k, v in found.items()}
            cells = " ".join(f"{ms[k]:8.1f} ({len(found[k])})".rjust(12) for k in found)
            print(f"{name:16} {baud:>5} {cells} {ms['before'] / ms['now']:>10.2f}"
                  f" {ms['fewest'] / ms['now']:>10.2f}")


async def measured(rounds: int) -> None:
    print(f"\nmeasured on the simulated well (byte-timed pty), median of {rounds} polls each")
    for name, baud in (("eastron-sdm630", 9600), ("eastron-sdm120", 2400)):
        well = SimulatedWell(seed=1, time_scale=0)
        well.add_line("line", kind="rtu", baud=baud, emulate_byte_time=True)
        well.add_device("line", SimDevice("meter", name, slave_id=1))
        await well.start()
        transport = ModbusTransport.serial(well.port("line"), baud, "N", 1, 8, 0.5,
                                           float(silent_interval(baud)))
        try:
            if not await transport.open():
                raise SystemExit(f"cannot open the simulated line for {name}")
            cost = BusCost.rtu(baud)
            found = plans(name, cost)
            wall: dict[str, list[float]] = {"before": [], "now": []}
            for _ in range(rounds):
                for key in wall:
                    started = time.perf_counter()
                    for block in found[key]:
                        await transport.read(1, block.function, block.address, block.count)
                    wall[key].append(time.perf_counter() - started)
            before, now = (statistics.median(wall[k]) for k in ("before", "now"))
            model = cost.plan(found["before"]) / cost.plan(found["now"])
            print(f"  {name} at {baud}: before {before * 1000:.1f} ms ({len(found['before'])} "
                  f"requests), now {now * 1000:.1f} ms ({len(found['now'])}): before/now "
                  f"{before / now:.2f} measured, {model:.2f} modelled")
        finally:
            await transport.close()
            await well.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    modelled()
    asyncio.run(measured(args.rounds))


if __name__ == "__main__":
    main()
