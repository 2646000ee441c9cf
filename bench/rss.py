"""Peak RSS of `wellgate run` on the peer comparison's TCP workload, side by side with a baseline.

The workload is bench/peer_compare.py's "tcp": one `wellgate simulate` process plays 8 Eastron
SDM630 meters, each on its own Modbus TCP port, 6 float32 points polled once a second, and
`wellgate run` delivers over its MQTT uplink (a local mosquitto) to `wellgate platform serve`,
which verifies and acks. Each round runs this tree and the code of --before REV (`git archive`
of it, same interpreter and packages), alternating which goes first, each twice on its own state
directory: a first start (`wellgate init` beforehand, not measured; the store is created, so its
migrations run) and a restart (the store is current), --seconds each, then SIGTERM. Peak RSS is
the gateway process's VmHWM (/proc/PID/status) read every 50 ms until it exits, stop included
(not wait4's ru_maxrss: a child's counts the RSS of the process it was forked from, this one's
~30 MB). For scale, interpreters that only import and then print their own VmHWM: nothing
(`pass`), the libraries the TCP job needs (the floor with this stack), those plus pydantic and
click (what the config and the CLI are built on), and all that `wellgate run` imports for
this workload.
With --peer, ThingsBoard IoT Gateway runs the same workload in each round, measured as
bench/peer_compare.py measures it (VmHWM summed over its process tree, sampled every 0.2 s).

    .venv/bin/python bench/rss.py --before main --rounds 2 --seconds 20 [--peer]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_compare as peer  # the workload, the broker, the receiver, the peer
from trees import byte_compile, export

REPO = peer.REPO
STOP_WITHIN = 15.0  # s after SIGTERM before SIGKILL
FLOORS = {
    "python -c pass": "pass",
    "libraries of the TCP job": "import asyncio, sqlite3, paho.mqtt.client, pymodbus.client, "
                                "cryptography.hazmat.primitives.asymmetric.ed25519",
    "+ pydantic, click": "import asyncio, sqlite3, paho.mqtt.client, pymodbus.client, "
                         "cryptography.hazmat.primitives.asymmetric.ed25519, pydantic, click",
    "imports of `run` (this tree)": "import gateway.cli.site, gateway.daemon, "
                                    "gateway.uplink.service, gateway.uplink.mqtt",
}
# the rooms `wellgate run` imports for this workload, in the order it needs them
BREAKDOWN = ("gateway.errors", "gateway.profiles", "gateway.config", "gateway.store.sink",
             "gateway.acquisition.service", "gateway.cli.site", "gateway.daemon",
             "gateway.uplink.service", "gateway.uplink.mqtt")


def hwm_kb(pid: int) -> int | None:
    """VmHWM (kB) of a live process; None once it has exited (or is a zombie)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def run_gateway(code: Path, config: Path, seconds: float, log: Path) -> tuple[int, float, int]:
    """`wellgate run` of `code` for `seconds`, then SIGTERM (SIGKILL after STOP_WITHIN s):
    (peak RSS kB, CPU s, exit code)."""
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "gateway", "run", "--config",
                                    str(config)], cwd=code, env={**os.environ,
                                    "PYTHONPATH": str(code)}, stdout=out,
                                   stderr=subprocess.STDOUT)
    peak = 0
    stop_at = time.monotonic() + seconds
    kill_at = stop_at + STOP_WITHIN
    while True:
        peak = max(peak, hwm_kb(process.pid) or 0)
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        now = time.monotonic()
        if now >= stop_at and stop_at > 0:
            process.send_signal(signal.SIGTERM)
            stop_at = 0
        elif now >= kill_at:
            process.kill()
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    if stop_at:
        raise SystemExit(f"wellgate run ({code}) ended early with {process.returncode}: {log}")
    return peak, usage.ru_utime + usage.ru_stime, process.returncode


def floor_kb(statement: str) -> int:
    """Peak RSS (kB) of an interpreter that runs `statement` (its VmHWM, as it ends)."""
    done = subprocess.run([sys.executable, "-c", f"{statement}\nimport os\nprint(next(line "
                           "for line in open(f'/proc/{os.getpid()}/status') "
                           "if line.startswith('VmHWM:')).split()[1])"],
                          cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                          capture_output=True, text=True, timeout=120, check=True)
    return int(done.stdout.split()[-1])


def breakdown() -> list[tuple[str, int]]:
    """What each room adds to the peak of an interpreter that imports the stack, then the rooms
    `wellgate run` loads for this workload one after the other: (what, kB), the least of 2."""
    statement, rows = FLOORS["+ pydantic, click"], []
    for module in ("", *BREAKDOWN):
        statement += f", {module}" if module else ""
        rows.append((module or "the stack (+ pydantic, click)",
                     min(floor_kb(statement) for _ in range(2))))
    return rows



def mb(kb: float) -> str:
    return f"{kb / 1024:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0, help="per run (default 20)")
    parser.add_argument("--peer", action="store_true",
                        help="also run ThingsBoard IoT Gateway (bench/peer_compare.py's venv)")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/wellgate-peer"))
    parser.add_argument("--peer-version", default="3.8.5")
    args = parser.parse_args()
    python = peer.peer_python(args.cache, args.peer_version) if args.peer else None
    phases = ("first start", "restart")
    with tempfile.TemporaryDirectory(prefix="wellgate-rss-") as tmp:
        folder = Path(tmp)
        codes = {"this tree": REPO,
                 f"before ({args.before})": export(args.before, Path(tempfile.mkdtemp(
                     prefix="before-", dir=folder)))}
        for code in codes.values():
            byte_compile(code)  # as installed (the .deb byte-compiles), not from source
        broker, port = peer.start_mosquitto(folder)
        sim, lines = peer.start_simulator(folder)
        counter = peer.TelemetryCounter(port) if python else None
        prepared = {}
        for rnd in range(1, args.rounds + 1):
            for n, name in enumerate(codes):
                gid = f"rss-r{rnd}-{n}"
                prepared[rnd, name] = peer.prepare_wellgate(folder / gid, "tcp", lines, port,
                                                            gid, 1.0)
        receiver, _ = peer.start_receiver(folder / "receiver", port, {
            f"rss-r{rnd}-{list(codes).index(name)}": pub
            for (rnd, name), (_, pub) in prepared.items()})
        time.sleep(3.0)  # the receiver subscribes before any batch is sent
        peaks: dict[tuple[str, str], list[int]] = {}
        cpus: dict[tuple[str, str], list[float]] = {}
        peer_kb: list[int] = []
        try:
            for rnd in range(1, args.rounds + 1):
                order = list(codes) if rnd % 2 else list(reversed(codes))
                for name in order:
                    config, _ = prepared[rnd, name]
                    for phase in phases:
                        kb, cpu, rc = run_gateway(codes[name], config, args.seconds,
                                                  config.parent / "log")
                        peaks.setdefault((name, phase), []).append(kb)
                        cpus.setdefault((name, phase), []).append(cpu)
                        print(f"round {rnd} {name:>22} {phase:11}: peak RSS {mb(kb)} MB, "
                              f"CPU {cpu:.2f} s, rc {rc}", flush=True)
                if python is not None:
                    prefix = f"tb-r{rnd}-tcp-"
                    run = folder / prefix.rstrip("-")
                    run.mkdir()
                    config = peer.peer_config(run, python, "tcp", lines, port, prefix)
                    _, kb, _, _ = peer.run_measured(
                        [python, "-m", "thingsboard_gateway.tb_gateway"], cwd=run,
                        env={**os.environ, "TB_GW_CONFIG_DIR": str(config)},
                        seconds=args.seconds, log=run / "log")
                    peer_kb.append(kb)
                    print(f"round {rnd} {'ThingsBoard':>22}: peak RSS {mb(kb)} MB", flush=True)
            floors = {label: floor_kb(statement) for label, statement in FLOORS.items()}
            rows = breakdown()
        finally:
            if counter is not None:
                counter.stop()
            peer.stop(receiver, sim, broker)
    load = os.getloadavg()
    print(f"\npeak RSS of `wellgate run`, tcp workload (8 meters), {args.rounds} rounds of "
          f"{args.seconds:g} s, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    median = {key: statistics.median(values) for key, values in peaks.items()}
    now, before = list(codes)
    for phase in phases:
        for name in codes:
            values = peaks[name, phase]
            print(f"  {phase:11} {name:>22}: median {mb(median[name, phase])} MB "
                  f"({', '.join(mb(v) for v in values)}); CPU median "
                  f"{statistics.median(cpus[name, phase]):.2f} s")
        print(f"  {phase:11} ratio this tree / before: "
              f"{median[now, phase] / median[before, phase]:.3f}")
    stack = floors["libraries of the TCP job"]
    for label, kb in floors.items():
        print(f"  {label:>36}: {mb(kb)} MB")
    for phase in phases:
        print(f"  {phase:11} this tree / libraries of the TCP job: "
              f"{median[now, phase] / stack:.2f}; / python -c pass: "
              f"{median[now, phase] / floors['python -c pass']:.2f}")
    print("  what each import adds (this tree, in the order `run` needs them):")
    for (what, kb), (_, before_kb) in zip(rows, [("", rows[0][1]), *rows], strict=False):
        print(f"    {what:>36}: {mb(kb)} MB ({(kb - before_kb) / 1024:+.1f})")
    if peer_kb:
        theirs = statistics.median(peer_kb)
        print(f"  ThingsBoard {args.peer_version}: median {mb(theirs)} MB "
              f"({', '.join(mb(v) for v in peer_kb)})")
        for phase in phases:
            print(f"  {phase:11} this tree / ThingsBoard: {median[now, phase] / theirs:.3f}; "
                  f"before / ThingsBoard: {median[before, phase] / theirs:.3f}")
        print(f"  libraries of the TCP job / ThingsBoard: {stack / theirs:.3f}")


if __name__ == "__main__":
    main()
