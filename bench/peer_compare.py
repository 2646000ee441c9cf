"""wellgate against ThingsBoard IoT Gateway, the closest Python peer, on the same meters and broker.

Two workloads, played by one `wellgate simulate` process (byte-time emulation on the serial line):
"tcp" = 8 Modbus TCP meters (each on its own port) and "serial" = 4 meters on one emulated
9600-baud RS-485 line (a pty), every meter an Eastron SDM630 whose 6 float32 input registers
(voltages and currents, 30001..30012) are polled once a second. Each gateway runs in turn on
each workload for --seconds, alternating which goes first round by round, and uploads to one
local mosquitto: ThingsBoard IoT Gateway publishes to v1/gateway/telemetry (this script subscribes
and counts the values in each message of the run's own device names); wellgate delivers signed
batches over its MQTT uplink to `wellgate platform serve`, and the values counted are the readings
with a value the receiver verified and stored for that run's gateway id. Values count if they
arrived by the end of the run plus --grace seconds after the gateway was stopped.

Per gateway process tree (the process and its descendants, from /proc, sampled every 0.2 s):
CPU = utime + stime from the exec to the stop, start-up included; peak RSS = the largest sum of
VmHWM over the tree's live processes. ThingsBoard is installed into its own venv under --cache
(pip, from the package index, with the pymodbus its modbus connector pins) and never into the
project's .venv.

    .venv/bin/python bench/peer_compare.py                 # 60 s per run, 2 rounds
    .venv/bin/python bench/peer_compare.py --seconds 20 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded by path
from trees import byte_compile

REPO = Path(__file__).resolve().parent.parent
PEER = "thingsboard-gateway"
PEER_MODBUS = ("pymodbus==3.9.2", "pyserial", "pyserial-asyncio")  # what its connector pins
POINTS = ("voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "current_l2", "current_l3")
TCP_METERS, SERIAL_METERS = 8, 4
METERS = {"tcp": TCP_METERS, "serial": SERIAL_METERS}
TELEMETRY = "v1/gateway/telemetry"
RPC_REQUEST = "v1/devices/me/rpc/request/+"
NO_LIMITS = {"messages": "", "telemetryMessages": "", "telemetryDataPoints": ""}
SESSION_LIMITS = {"maxPayloadSize": 65536, "maxInflightMessages": 100,  # the server's defaults
                  "rateLimits": NO_LIMITS, "gatewayRateLimits": NO_LIMITS}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the peer's venv --------------------------------------------------------------------------

def peer_python(cache: Path, version: str) -> Path:
    """The venv's python with thingsboard-gateway==version installed (installing it if needed)."""
    venv = cache / "venv"
    python = venv / "bin" / "python"
    probe = "from importlib.metadata import version; print(version('thingsboard-gateway'))"
    if python.exists():
        have = subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout.strip()
        if have == version:
            return python
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", f"{PEER}=={version}", *PEER_MODBUS],
                   check=True)
    return python


# --- measuring a process tree -----------------------------------------------------------------

def _stat(pid: int) -> tuple[int, float, int] | None:
    """(parent pid, CPU seconds of the process and of the children it has reaped: utime +
    stime + cutime + cstime, address-space bytes) of a process, None if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[1]), sum(int(tick) for tick in fields[11:15]) / CLK_TCK,
            int(fields[20]))


def _exe(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return ""


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class TreeMeter:
    """Samples a process and its descendants: CPU seconds of the tree (each live process's own
    and that of the children it has reaped, so a child that lived between two samples counts
    too: the largest such sum seen), and the peak of VmHWM summed over the tree's live
    processes. A child that is still a copy of its parent
    (same executable, same address-space size: the moment between fork and exec, e.g. a
    ctypes library lookup running ldconfig) is not counted: its pages are its parent's."""

    root: int
    cpu: float = 0.0
    peak_kb: int = 0
    children: set[str] = field(default_factory=set)

    def sample(self) -> None:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        vsize: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                stat = _stat(int(entry))
                if stat is not None:
                    parents[int(entry)], cpu[int(entry)], vsize[int(entry)] = stat
        tree, grew = {self.root}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        live = tree & cpu.keys()
        self.cpu = max(self.cpu, sum(cpu[pid] for pid in live))
        own = {self.root} & live
        for pid in live - {self.root}:
            exe = _exe(pid)
            self.children.add(os.path.basename(exe) or str(pid))
            if exe != _exe(parents[pid]) or vsize[pid] != vsize.get(parents[pid]):
                own.add(pid)
        self.peak_kb = max(self.peak_kb, sum(_hwm_kb(pid) for pid in own))

    @property
    def cpu_seconds(self) -> float:
        return self.cpu


def run_measured(argv: list, *, cwd: Path, env: dict, seconds: float,
                 log: Path) -> tuple[float, int, int, list[str]]:
    """Run argv for `seconds`, sampling its tree; SIGTERM (SIGKILL after 15 s).
    (CPU seconds, peak kB, exit code, the children's executables seen)."""
    with open(log, "wb") as out:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        meter = TreeMeter(process.pid)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and process.poll() is None:
            meter.sample()
            time.sleep(0.2)
        meter.sample()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return meter.cpu_seconds, meter.peak_kb, process.returncode, sorted(meter.children)


# --- the broker, the simulator and the receiver ------------------------------------------------

def stop(*processes: subprocess.Popen) -> None:
    """SIGTERM each of the bench's helper processes; SIGKILL one still running 15 s later."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mosquitto(folder: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n"
                    "max_queued_messages 100000\n")
    broker = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    wait_for_port(port)
    return broker, port


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def meter_devices(prefix: str, bus_of, count: int, extra: str = "") -> str:
    points = ", ".join(f'"{p}"' for p in POINTS)
    return "".join(
        f'\n[[devices]]\nname = "{prefix}{n}"\nbus = "{bus_of(n)}"\nmodel = "eastron-sdm630"\n'
        f"slave_id = {n if bus_of(n) == 'rs485' else 1}\npoll_interval = 1.0\n"
        f"points = [{points}]\n{extra}" for n in range(1, count + 1))


WELL = '[well]\nid = "150602-0900"\nname = "peer bench"\ntimezone = "Asia/Shanghai"\n'
RTU_BUS = ('\n[[buses]]\nname = "rs485"\ntype = "rtu"\nport = "{port}"\nbaud = 9600\n'
           'parity = "N"\nstop_bits = 1\ntimeout = 0.5\nretries = 1\n')
TCP_BUS = ('\n[[buses]]\nname = "tcp-{n}"\ntype = "tcp"\nhost = "{host}"\ntcp_port = {port}\n'
           'timeout = 1.0\nretries = 1\n')


def start_simulator(folder: Path) -> tuple[subprocess.Popen, dict[str, str]]:
    """`wellgate simulate` with 8 TCP meters (served on free local ports) and the RTU line."""
    text = WELL + RTU_BUS.format(port="sim://rtu") + "".join(
        TCP_BUS.format(n=n, host="192.0.2.1", port=502) for n in range(1, TCP_METERS + 1))
    text += meter_devices("tcp-meter-", lambda n: f"tcp-{n}", TCP_METERS)
    text += meter_devices("rtu-meter-", lambda n: "rs485", SERIAL_METERS)
    (folder / "simulated.toml").write_text(text)
    sim = subprocess.Popen(
        [sys.executable, "-m", "gateway", "simulate", "--config", str(folder / "simulated.toml"),
         "--byte-time"], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True)
    line = sim.stdout.readline()
    event = json.loads(line) if line.startswith("{") else {}
    if event.get("event") != "ready":
        sim.kill()
        raise SystemExit(f"the simulator did not start: {line!r}")
    return sim, event["lines"]


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


# --- wellgate ----------------------------------------------------------------------------------

def wellgate_config(folder: Path, workload: str, lines: dict[str, str], broker: int,
                    gateway_id: str, latency: float) -> Path:
    text = WELL + (f'\n[gateway]\nruntime_dir = "{folder / "run"}"\n'
                   f'state_dir = "{folder / "state"}"\n\n[store]\ncommit_interval = {latency}\n')
    if workload == "tcp":
        for n in range(1, TCP_METERS + 1):
            host, port = host_port(lines[f"tcp-{n}"])
            text += TCP_BUS.format(n=n, host=host, port=port)
        text += meter_devices("tcp-meter-", lambda n: f"tcp-{n}", TCP_METERS)
    else:
        text += RTU_BUS.format(port=lines["rs485"])
        text += meter_devices("rtu-meter-", lambda n: "rs485", SERIAL_METERS)
    text += (f'\n[[uplinks]]\nname = "bench"\ntype = "mqtt"\nhost = "127.0.0.1"\nport = {broker}\n'
             f'tls = false\ngateway_id = "{gateway_id}"\ninsecure_unsigned_acks = true\n'
             f"batch_max_age = {latency}\n")
    path = folder / "site.toml"
    path.write_text(text)
    return path


def prepare_wellgate(folder: Path, workload: str, lines: dict[str, str], broker: int,
                     gateway_id: str, latency: float) -> tuple[Path, Path]:
    """Config and key (`wellgate init`, not measured) of one wellgate run; (config, gateway.pub)."""
    sys.path.insert(0, str(REPO))
    from gateway.store import load_private_key
    from gateway.store.keys import public_pem

    folder.mkdir(parents=True)
    config = wellgate_config(folder, workload, lines, broker, gateway_id, latency)
    subprocess.run([sys.executable, "-m", "gateway", "init", "--config", str(config)], cwd=REPO,
                   check=True, capture_output=True)
    pub = folder / "gateway.pub"
    pub.write_bytes(public_pem(load_private_key(folder / "state").public_key()))
    return config, pub


def start_receiver(folder: Path, broker: int, gateways: dict[str, Path]) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    registry = "".join(f'\n[[gateways]]\nid = "{gid}"\npublic_key = "{pub}"\n'
                       for gid, pub in gateways.items())
    config = folder / "platform.toml"
    config.write_text(f'[receiver]\ndatabase = "{folder / "platform.db"}"\n\n[mqtt]\n'
                      f'host = "127.0.0.1"\nport = {broker}\nclient_id = "peer-bench"\n'
                      + registry)
    with open(folder / "log", "wb") as log:  # the child keeps its own descriptor
        process = subprocess.Popen([sys.executable, "-m", "gateway", "platform", "serve",
                                    "--config", str(config)], cwd=REPO,
                                   stdout=subprocess.DEVNULL, stderr=log)
    return process, folder / "platform.db"


def stored_values(db: Path, gateway_id: str) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM records WHERE gateway = ? AND kind = "
                                "'reading' AND value IS NOT NULL", (gateway_id,)).fetchone()[0]
    except sqlite3.Error:
        return 0


# --- ThingsBoard IoT Gateway ------------------------------------------------------------------

def peer_slave(name: str, transport: dict) -> dict:
    return {"unitId": 1, **transport, "deviceName": name,
            "deviceType": "sdm630", "byteOrder": "BIG", "wordOrder": "BIG", "retries": 1,
            "retryOnEmpty": True, "retryOnInvalid": True, "pollPeriod": 1000,
            "sendDataOnlyOnChange": False, "connectAttemptTimeMs": 5000,
            "connectAttemptCount": 5, "waitAfterFailedAttemptsMs": 300000,
            "attributes": [], "attributeUpdates": [], "rpc": [],
            "timeseries": [{"tag": point, "type": "32float", "functionCode": 4,
                            "objectsCount": 2, "address": 2 * index}
                           for index, point in enumerate(POINTS)]}


def peer_config(folder: Path, python: Path, workload: str, lines: dict[str, str], broker: int,
                prefix: str) -> Path:
    """A config folder for ThingsBoard IoT Gateway: its shipped defaults, with tb_gateway.json
    pointed at the local broker and one modbus connector for the workload's meters."""
    shipped = Path(subprocess.run(
        [python, "-c", "import thingsboard_gateway, os; "
         "print(os.path.dirname(thingsboard_gateway.__file__))"],
        check=True, capture_output=True, text=True).stdout.strip()) / "config"
    config = folder / "config"
    shutil.copytree(shipped, config)
    main = json.loads((config / "tb_gateway.json").read_text())
    main["thingsboard"].update(host="127.0.0.1", port=broker, remoteConfiguration=False,
                               remoteShell=False)
    main["thingsboard"]["security"] = {"type": "accessToken", "accessToken": prefix}
    main["thingsboard"]["statistics"]["enable"] = False
    main["connectors"] = [{"type": "modbus", "name": "Modbus", "configuration": "bench.json"}]
    (config / "tb_gateway.json").write_text(json.dumps(main, indent=2))
    if workload == "tcp":
        slaves = []
        for n in range(1, TCP_METERS + 1):
            host, port = host_port(lines[f"tcp-{n}"])
            slaves.append(peer_slave(f"{prefix}tcp-meter-{n}", {
                "type": "tcp", "method": "socket", "host": host, "port": port, "timeout": 1}))
    else:
        slaves = [peer_slave(f"{prefix}rtu-meter-{n}", {
            "type": "serial", "method": "rtu", "port": lines["rs485"], "baudrate": 9600,
            "bytesize": 8, "parity": "N", "stopbits": 1, "timeout": 0.5, "unitId": n})
            for n in range(1, SERIAL_METERS + 1)]
    (config / "bench.json").write_text(json.dumps({"master": {"slaves": slaves}}, indent=2))
    return config


class TelemetryCounter:
    """Plays ThingsBoard's side of the MQTT session (paho): answers the gateway's getSessionLimits
    RPC, without which it never sends, as the server does when no rate limits are set, and counts
    the values in v1/gateway/telemetry messages, per device-name prefix."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        self.counts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="peer-bench-count")
        self.client.on_connect = lambda c, *_: c.subscribe([(TELEMETRY, 1), (RPC_REQUEST, 1)])
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _message(self, client, _userdata, message) -> None:
        if message.topic.startswith(RPC_REQUEST[:-1]):
            request = json.loads(message.payload)
            if request.get("method") == "getSessionLimits":
                client.publish(message.topic.replace("/request/", "/response/"),
                               json.dumps(SESSION_LIMITS), qos=1)
            return
        for device, entries in count_telemetry(message.payload).items():
            prefix = device.split("tcp-meter-")[0].split("rtu-meter-")[0]
            with self.lock:
                self.counts[prefix] = self.counts.get(prefix, 0) + entries

    def values(self, prefix: str) -> int:
        with self.lock:
            return self.counts.get(prefix, 0)

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def count_telemetry(payload: bytes) -> dict[str, int]:
    """Values per device in one gateway telemetry message: {"dev": [{"ts": .., "values": {..}}]}
    or entries without ts ({"dev": [{"key": value}]}); values that are not numbers are skipped."""
    try:
        message = json.loads(payload)
    except ValueError:
        return {}
    counts: dict[str, int] = {}
    if not isinstance(message, dict):
        return counts
    for device, entries in message.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            if not isinstance(entry, dict):
                continue
            values = entry.get("values", entry) if "ts" in entry else entry
            if isinstance(values, dict):
                counts[device] = counts.get(device, 0) + sum(
                    isinstance(v, int | float) and not isinstance(v, bool)
                    for v in values.values())
    return counts


# --- the runs --------------------------------------------------------------------------------

@dataclass
class Result:
    round: int
    workload: str
    gateway: str
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    delivered: int
    expected: int
    rc: int
    children: list[str] = field(default_factory=list)

    @property
    def cpu_us_per_value(self) -> float:
        return 1e6 * self.cpu_s / self.delivered if self.delivered else float("inf")


def ratios(results: list[Result]) -> dict[str, dict[str, float]]:
    """wellgate ÷ peer per workload over all rounds: CPU per value, peak RSS, values delivered."""
    out = {}
    for workload in METERS:
        mine = [r for r in results if r.workload == workload and r.gateway == "wellgate"]
        peer = [r for r in results if r.workload == workload and r.gateway != "wellgate"]
        if not mine or not peer:
            continue
        cpu = [sum(r.cpu_s for r in group) / sum(r.delivered for r in group)
               if any(r.delivered for r in group) else float("nan") for group in (mine, peer)]
        rss = [max(r.peak_rss_mb for r in group) for group in (mine, peer)]
        got = [sum(r.delivered for r in group) for group in (mine, peer)]
        out[workload] = {"cpu_per_value": cpu[0] / cpu[1] if cpu[1] else float("nan"),
                         "peak_rss": rss[0] / rss[1] if rss[1] else float("nan"),
                         "delivered": got[0] / got[1] if got[1] else float("nan")}
    return out


def table(results: list[Result]) -> str:
    rows = ["| round | workload | gateway | CPU s | CPU µs/value | peak RSS MB | delivered "
            "| of expected | rc |", "|---|---|---|---|---|---|---|---|---|"]
    rows += [f"| {r.round} | {r.workload} | {r.gateway} | {r.cpu_s:.2f} | "
             f"{r.cpu_us_per_value:.0f} | {r.peak_rss_mb:.1f} | {r.delivered} | "
             f"{r.delivered / r.expected:.3f} | {r.rc} |" for r in results]
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per run (default 60)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--grace", type=float, default=5.0,
                        help="seconds after a stop in which values still count")
    parser.add_argument("--workloads", default="tcp,serial")
    parser.add_argument("--latency", type=float, default=1.0,
                        help="wellgate's [store] commit_interval and uplink batch_max_age "
                        "(default 1 s: ThingsBoard publishes each poll at once)")
    parser.add_argument("--cache", type=Path, default=Path("/var/tmp/wellgate-peer"))
    parser.add_argument("--peer-version", default="3.8.5")
    parser.add_argument("--no-peer", action="store_true", help="measure wellgate alone")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs, configs)")
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(workloads) - METERS.keys()
    if unknown:
        parser.error(f"--workloads: {sorted(unknown)} unknown; known: tcp, serial")
    python = None if args.no_peer else peer_python(args.cache, args.peer_version)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="wellgate-peer-") as tmp:
        folder = Path(tmp)
        if args.keep:
            folder = args.keep
            folder.mkdir(parents=True)
        broker, port = start_mosquitto(folder)
        sim, lines = start_simulator(folder)
        counter = TelemetryCounter(port)
        plan = [(rnd, workload, gw) for rnd in range(1, args.rounds + 1) for workload in workloads
                for gw in (("wellgate", "peer") if rnd % 2 else ("peer", "wellgate"))
                if gw == "wellgate" or python is not None]
        byte_compile(REPO)  # as installed: the peer's venv is compiled by pip
        prepared = {}
        for rnd, workload, gw in plan:
            if gw == "wellgate":
                gid = f"bench-r{rnd}-{workload}"
                prepared[rnd, workload] = prepare_wellgate(
                    folder / gid, workload, lines, port, gid, args.latency)
        receiver, db = start_receiver(folder / "receiver", port,
                                      {f"bench-r{r}-{w}": pub for (r, w), (_, pub)
                                       in prepared.items()})
        time.sleep(3.0)  # the receiver subscribes before any batch is sent
        try:
            for rnd, workload, gw in plan:
                expected = METERS[workload] * len(POINTS) * int(args.seconds)
                if gw == "wellgate":
                    config, _ = prepared[rnd, workload]
                    gid = f"bench-r{rnd}-{workload}"
                    cpu, kb, rc, children = run_measured(
                        [sys.executable, "-m", "gateway", "run", "--config", str(config)],
                        cwd=REPO, env=dict(os.environ), seconds=args.seconds,
                        log=folder / gid / "log")
                    time.sleep(args.grace)
                    delivered = stored_values(db, gid)
                    name = "wellgate"
                else:
                    prefix = f"tb-r{rnd}-{workload}-"
                    run = folder / prefix.rstrip("-")
                    run.mkdir()
                    config = peer_config(run, python, workload, lines, port, prefix)
                    cpu, kb, rc, children = run_measured(
                        [python, "-m", "thingsboard_gateway.tb_gateway"], cwd=run,
                        env={**os.environ, "TB_GW_CONFIG_DIR": str(config)},
                        seconds=args.seconds, log=run / "log")
                    time.sleep(args.grace)
                    delivered = counter.values(prefix)
                    name = f"ThingsBoard {args.peer_version}"
                result = Result(rnd, workload, name, args.seconds, cpu, kb / 1024, delivered,
                                expected, rc, children)
                results.append(result)
                print(f"round {rnd} {workload:6} {name:18} CPU {cpu:6.2f} s  peak RSS "
                      f"{kb / 1024:6.1f} MB  delivered {delivered}/{expected}  children "
                      f"{','.join(children) or '-'}", flush=True)
        finally:
            counter.stop()
            stop(receiver, sim, broker)
        print()
        print(table(results))
        print()
        for workload, ratio in ratios(results).items():
            print(f"{workload}: wellgate ÷ peer: CPU per delivered value "
                  f"{ratio['cpu_per_value']:.3f}, peak RSS {ratio['peak_rss']:.3f}, "
                  f"values delivered {ratio['delivered']:.3f}")
        if args.json:
            args.json.write_text(json.dumps([vars(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
