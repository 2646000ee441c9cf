"""Steady-state CPU per delivered value of `wellgate run`: this tree against a baseline.

The workloads of bench/peer_compare.py (its simulator, broker, receiver and configs): "tcp" = 8
Modbus TCP meters, "serial" = 4 meters on one byte-timed 9600-baud pty, each an SDM630 whose 6
float32 points are polled once a second, delivered over the MQTT uplink to `wellgate platform
serve`, `[store] commit_interval` and the uplink's `batch_max_age` 1 s. Start-up is left out: the
gateway process tree's CPU (utime + stime from /proc, as peer_compare samples it) is taken at
--skip seconds after the exec and at the stop, and the values counted are those the receiver
verified and stored whose reading's wall time falls between the two looks. Each round runs the
baseline (by default `git archive main`, same interpreter and packages) and this tree on each
workload, alternating which goes first; the ratio this / baseline is printed per workload.

    .venv/bin/python bench/steady_cpu.py                       # 2 rounds of 30-s runs, ~5 min
    .venv/bin/python bench/steady_cpu.py --rounds 1 --seconds 30 --workloads tcp
    .venv/bin/python bench/steady_cpu.py --commit-interval 5 --batch-max-age 60   # shipped
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_compare as pc  # the workloads' setup, shared
from trees import byte_compile, export

REPO = pc.REPO



def values_between(db: Path, gateway_id: str, start: float, end: float) -> int:
    """Readings with a value stored for this gateway whose wall time is in [start, end)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return conn.execute(
            "SELECT count(*) FROM records WHERE gateway = ? AND kind = 'reading' AND value IS "
            "NOT NULL AND wall_time >= ? AND wall_time < ?", (gateway_id, start, end)).fetchone()[0]


def run_steady(code: Path, config: Path, seconds: float, skip: float,
               log: Path) -> tuple[float, float, float, int]:
    """`wellgate run` of `code` for `seconds`; (window CPU s, window start wall, end wall, rc)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config",
                                    str(config)], cwd=code, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        meter = pc.TreeMeter(process.pid)
        began = time.monotonic()
        cpu_at_skip = wall_at_skip = None
        while time.monotonic() - began < seconds and process.poll() is None:
            meter.sample()
            if cpu_at_skip is None and time.monotonic() - began >= skip:
                cpu_at_skip, wall_at_skip = meter.cpu_seconds, time.time()
            time.sleep(0.5)
        meter.sample()
        cpu_end, wall_end = meter.cpu_seconds, time.time()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if cpu_at_skip is None:
        raise SystemExit(f"{code}: the gateway ended before {skip} s (see {log})")
    return cpu_end - cpu_at_skip, wall_at_skip, wall_end, process.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="per run (default 30)")
    parser.add_argument("--skip", type=float, default=8.0,
                        help="seconds after the exec before the window starts (default 8)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workloads", default="tcp,serial")
    parser.add_argument("--base", default="main", help="git revision of the baseline (main)")
    parser.add_argument("--base-dir", type=Path, help="use this unpacked tree as the baseline")
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--commit-interval", type=float, default=1.0,
                        help="[store] commit_interval (default 1 s, as peer_compare; shipped 5)")
    parser.add_argument("--batch-max-age", type=float, default=1.0,
                        help="the uplink's batch_max_age (default 1 s, as peer_compare; "
                        "shipped 60)")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    if set(workloads) - pc.METERS.keys():
        parser.error(f"--workloads: known are {sorted(pc.METERS)}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="wellgate-steady-") as tmp:
        folder = Path(tmp)
        codes = {"baseline": args.base_dir or export(args.base, folder / "base"), "this": REPO}
        for code in codes.values():
            byte_compile(code)  # as installed (the .deb byte-compiles), not from source
        broker, port = pc.start_mosquitto(folder)
        sim, lines = pc.start_simulator(folder)
        plan = [(rnd, workload, name) for rnd in range(1, args.rounds + 1) for workload in workloads
                for name in (("baseline", "this") if rnd % 2 else ("this", "baseline"))]
        prepared = {}
        for rnd, workload, name in plan:
            gid = f"steady-r{rnd}-{workload}-{name}"
            prepared[gid] = pc.prepare_wellgate(folder / gid, workload, lines, port, gid, 1.0)
            config = prepared[gid][0]
            config.write_text(config.read_text().replace(
                "commit_interval = 1.0", f"commit_interval = {args.commit_interval}").replace(
                "batch_max_age = 1.0", f"batch_max_age = {args.batch_max_age}"))
        receiver, db = pc.start_receiver(folder / "receiver", port,
                                         {gid: pub for gid, (_, pub) in prepared.items()})
        time.sleep(3.0)  # the receiver subscribes before any batch is sent
        try:
            for rnd, workload, name in plan:
                gid = f"steady-r{rnd}-{workload}-{name}"
                cpu, start, end, rc = run_steady(codes[name], prepared[gid][0], args.seconds,
                                                 args.skip, folder / gid / "log")
                time.sleep(args.grace)
                values = values_between(db, gid, start, end)
                span = end - start
                expected = int(pc.METERS[workload] * len(pc.POINTS) * span)
                rows.append((rnd, workload, name, span, cpu, values, expected, rc))
                print(f"round {rnd} {workload:6} {name:8} window {span:5.1f} s  CPU {cpu:6.3f} s "
                      f"({1e3 * cpu / span:5.1f} ms/s)  values {values} (~{expected})  "
                      f"{1e6 * cpu / values if values else float('inf'):7.1f} µs/value  rc {rc}",
                      flush=True)
        finally:
            pc.stop(receiver, sim, broker)
    print(f"\nload average now: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| workload | code | window s | CPU s | CPU ms per s | values | CPU µs/value |")
    print("|---|---|---|---|---|---|---|")
    per_value = {}
    for workload in workloads:
        for name in ("baseline", "this"):
            mine = [r for r in rows if r[1] == workload and r[2] == name]
            span, cpu, values = (sum(r[i] for r in mine) for i in (3, 4, 5))
            per_value[workload, name] = cpu / values if values else float("nan")
            print(f"| {workload} | {name} | {span:.1f} | {cpu:.3f} | {1e3 * cpu / span:.1f} | "
                  f"{values} | {1e6 * per_value[workload, name]:.1f} |")
    for workload in workloads:
        ratio = per_value[workload, "this"] / per_value[workload, "baseline"]
        print(f"{workload}: steady CPU per value, this / baseline = {ratio:.3f}")


if __name__ == "__main__":
    main()
