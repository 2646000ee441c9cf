"""Start to first reading: `wellgate run` from exec to its first committed record, side by side.

The simulated well (`wellgate simulate` on the demo config, its own process, byte-time emulation
at the lines' baud) plays the meters. Each round starts `wellgate run` on a fresh state directory
(key made by `wellgate init` beforehand, not timed) and times from just before the exec to the
first row in the store's records table (SQLite polled every 2 ms from this process), then stops it
with SIGTERM. With --before REV, the same rounds run the code of git revision REV (exported with
`git archive` into a temporary folder, same interpreter and packages), alternating round by round,
and the ratio of the medians is printed.

    .venv/bin/python bench/startup.py --rounds 7 --before cd7e857
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded by path
from trees import byte_compile, export

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "config" / "examples" / "demo.toml"
FIRST_READING_TIMEOUT = 20.0  # s: a round that takes longer is a failure, not a figure


def start_simulator(workdir: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    sim = subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulate", "--config", str(DEMO)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=workdir)
    line = sim.stdout.readline()
    event = json.loads(line)
    if event.get("event") != "ready":
        sim.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return sim, event["lines"]


def site_config(workdir: Path, lines: dict[str, str], round_no: int) -> Path:
    text = DEMO.read_text()
    for bus, port in lines.items():
        text = text.replace(f'port = "sim://{"rtu" if bus == "rs485-1" else "dlt645"}"',
                            f'port = "{port}"')
    state = workdir / f"state-{round_no}"
    text = text.replace('runtime_dir = "/tmp/wellgate-demo"',
                        f'runtime_dir = "{workdir / f"run-{round_no}"}"\n'
                        f'state_dir = "{state}"')
    path = workdir / f"site-{round_no}.toml"
    path.write_text(text)
    return path


def first_record(db: Path, deadline: float) -> float | None:
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as conn:
                    if conn.execute("SELECT 1 FROM records LIMIT 1").fetchone():
                        return time.monotonic()
            except sqlite3.Error:
                pass
        time.sleep(0.002)
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor(code: Path, env: dict[str, str], statement: str) -> float:
    """Wall seconds of an interpreter that runs `statement` and exits."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", statement], cwd=code, env=env, check=True)
    return time.monotonic() - started


def one_round(code: Path, config: Path, env: dict[str, str]) -> tuple[float, float]:
    state = Path(config.read_text().split('state_dir = "')[1].split('"')[0])
    subprocess.run([sys.executable, "-m", "gateway", "init", "--config", str(config)],
                   cwd=code, env=env, check=True, capture_output=True)
    started = time.monotonic()
    gateway = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config", str(config)],
                               cwd=code, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        done = first_record(state / "wellgate.db", started + FIRST_READING_TIMEOUT)
        cpu = cpu_seconds(gateway.pid)
    finally:
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(10)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait()
    if done is None:
        raise SystemExit(f"no committed record within {FIRST_READING_TIMEOUT} s ({code})")
    return done - started, cpu



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--before", help="a git revision to compare with, e.g. cd7e857")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wellgate-startup-") as tmp:
        workdir = Path(tmp)
        codes = {"this tree": REPO}
        if args.before:
            codes[f"before ({args.before})"] = export(args.before, Path(tempfile.mkdtemp(
                prefix="before-", dir=workdir)))
        for code in codes.values():
            byte_compile(code)  # as installed (the .deb byte-compiles), not from source
        sim, lines = start_simulator(workdir)
        times: dict[str, list[float]] = {name: [] for name in codes}
        cpus: dict[str, list[float]] = {name: [] for name in codes}
        floors: dict[str, list[float]] = {"python -c pass": [], "imports of `run`": []}
        try:
            for round_no in range(args.rounds):
                for name, code in codes.items():
                    env = {**os.environ, "PYTHONPATH": str(code)}
                    config = site_config(workdir, lines, 1000 * round_no
                                         + 100 * list(codes).index(name))
                    wall, cpu = one_round(code, config, env)
                    times[name].append(wall)
                    cpus[name].append(cpu)
                env = {**os.environ, "PYTHONPATH": str(REPO)}
                floors["python -c pass"].append(floor(REPO, env, "pass"))
                floors["imports of `run`"].append(
                    floor(REPO, env, "import gateway.cli.site, gateway.daemon"))
        finally:
            sim.stdin.write(json.dumps({"cmd": "stop"}) + "\n")
            sim.stdin.flush()
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
    load = os.getloadavg()[0]
    print(f"start to first committed reading, {args.rounds} rounds, load average {load:.2f}")
    for name, values in times.items():
        print(f"  {name:>22}: median {statistics.median(values):.3f} s, "
              f"min {min(values):.3f}, max {max(values):.3f}; CPU of the gateway process "
              f"median {statistics.median(cpus[name]):.3f} s")
    for name, values in floors.items():
        print(f"  {name:>22}: median {statistics.median(values):.3f} s (this tree, wall)")
    if args.before:
        now, before = (statistics.median(v) for v in times.values())
        cpu_now, cpu_before = (statistics.median(v) for v in cpus.values())
        print(f"  ratio this tree / before: {now / before:.2f} (wall), "
              f"{cpu_now / cpu_before:.2f} (gateway CPU)")


if __name__ == "__main__":
    main()
