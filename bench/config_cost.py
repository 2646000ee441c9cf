"""Config loading cost: CPU and peak RSS of importing the config code and validating a config.

Each probe is a fresh interpreter (this project's .venv) that imports the config code of one tree,
then loads one config with `load_config` (TOML, schema, the profiles its devices use, the rules)
and asks each device's points, as `wellgate run` does before its first poll. It prints its
CPU time (user + system) and max RSS after the import and after the load. This tree and a
baseline (`git archive` of REF, main by default) run alternately, round by round, on:
- demo: config/examples/demo.toml (5 devices on an RTU and a DL/T 645 bus, [well.accounting]);
- peer tcp: the config bench/peer_compare.py gives `wellgate run` on its tcp workload (8 Modbus
  TCP meters, one MQTT uplink);
each alone (`import gateway.config`, then the load) and inside what `wellgate run` imports
(`import gateway.cli.site, gateway.daemon`, then the load). For scale, the same run measures an
interpreter that does nothing and one that only imports pydantic and makes one model. Each probe
makes that floor first ("pydantic CPU s"); the last two columns, the CPU and RSS it takes after
that, are what the config code itself costs (alone), or all the rest of `run`'s imports and the
load (in run), measured inside the same process.

Both trees are byte-compiled first (`compileall`, as an installed package is); --source runs them
from source instead (what a checkout gives when PYTHONDONTWRITEBYTECODE is set).

    .venv/bin/python bench/config_cost.py --rounds 9
    .venv/bin/python bench/config_cost.py --breakdown --rounds 5   # pydantic's share in `run`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also when loaded by path
from trees import export

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "config" / "examples" / "demo.toml"

# CPU from getrusage; peak RSS from VmHWM (ru_maxrss would keep the parent's peak across exec)
USAGE = """
import json, resource, sys
def usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    return [r.ru_utime + r.ru_stime, hwm / 1024]
"""
# Each probe first makes pydantic's floor (import, one model: the same in both trees), so what
# comes after it is what the config code itself costs, measured inside the same process.
PROBE = USAGE + """
from pydantic import BaseModel
class A(BaseModel):
    x: int
start = usage()
{imports}
imported = usage()
config = load_config(sys.argv[1])
for device in config.devices:
    config.effective_points(device)
loaded = usage()
print(json.dumps({{"start": start, "import": imported, "load": loaded,
                  "from": sys.modules["gateway"].__file__}}))
"""
ALONE = "from gateway.config import load_config"
IN_RUN = "import gateway.cli.site, gateway.daemon\nfrom gateway.config import load_config"
FLOORS = {
    "python -c pass": "pass",
    "pydantic + one model": "from pydantic import BaseModel\nclass A(BaseModel):\n    x: int",
}
FLOOR_PROBE = USAGE + """
{code}
print(json.dumps(usage()))
"""


# --breakdown: inside the run's imports, what pydantic itself adds (this tree only). The modules
# `wellgate run` imports apart from gateway, drivers and pydantic's own are imported first, then
# pydantic and one model, then gateway's modules and the load.
BREAKDOWN_LIST = USAGE + """
import gateway.cli.site, gateway.daemon
from gateway.config import load_config
load_config(sys.argv[1])
own = ("gateway", "drivers", "pydantic", "annotated_types", "typing_inspection", "__main__")
print(json.dumps([name for name in sys.modules if not name.startswith(own)]))
"""
BREAKDOWN = USAGE + """
import importlib
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
    except Exception:
        pass
deps = usage()
from pydantic import BaseModel
class A(BaseModel):
    x: int
with_pydantic = usage()
import gateway.cli.site, gateway.daemon
from gateway.config import load_config
load_config(sys.argv[1])
print(json.dumps([deps, with_pydantic, usage()]))
"""


def breakdown(config: Path, env: dict[str, str], rounds: int) -> None:
    """What pydantic adds to a process that already has the rest of what `wellgate run` imports."""
    names = subprocess.run([sys.executable, "-c", BREAKDOWN_LIST, str(config)], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=120, check=True)
    rows = [json.loads(subprocess.run(
        [sys.executable, "-c", BREAKDOWN, str(config), names.stdout.strip()], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=120, check=True).stdout) for _ in range(rounds)]
    deps, pyd, end = ([median([row[stage][i] for row in rows]) for i in (0, 1)]
                      for stage in (0, 1, 2))
    print(f"inside the imports of `wellgate run` (this tree, {config.name}, {rounds} rounds): "
          f"the other modules it imports {deps[0]:.3f} s {deps[1]:.1f} MB; pydantic and one "
          f"model +{pyd[0] - deps[0]:.3f} s +{pyd[1] - deps[1]:.1f} MB; gateway's code and the "
          f"load +{end[0] - pyd[0]:.3f} s +{end[1] - pyd[1]:.1f} MB; in all {end[0]:.3f} s "
          f"{end[1]:.1f} MB")



def peer_tcp_config(folder: Path) -> Path:
    """bench/peer_compare.py's wellgate config of the tcp workload (ports made up: not polled)."""
    sys.path.insert(0, str(REPO / "bench"))
    from peer_compare import TCP_METERS, wellgate_config

    lines = {f"tcp-{n}": f"127.0.0.1:{15020 + n}" for n in range(1, TCP_METERS + 1)}
    return wellgate_config(folder, "tcp", lines, 1883, "gw-bench", 1.0)


def run_probe(tree: Path, code: str, config: Path, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", code, str(config)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise SystemExit(f"probe failed in {tree}:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if not result["from"].startswith(str(tree)):
        raise SystemExit(f"the probe in {tree} imported gateway from {result['from']}")
    return result


def run_floor(code: str, env: dict[str, str]) -> list[float]:
    done = subprocess.run([sys.executable, "-c", FLOOR_PROBE.format(code=code)], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ref", default="main", help="git revision of the baseline (main)")
    parser.add_argument("--baseline", type=Path, help="a baseline tree already exported")
    parser.add_argument("--source", action="store_true",
                        help="run both trees from source (no byte-compiled files)")
    parser.add_argument("--breakdown", action="store_true",
                        help="only: what pydantic adds inside the imports of `wellgate run`")
    args = parser.parse_args()
    if args.breakdown:
        with tempfile.TemporaryDirectory(prefix="wellgate-config-cost-") as tmp:
            (Path(tmp) / "peer").mkdir()
            breakdown(peer_tcp_config(Path(tmp) / "peer"), dict(os.environ), args.rounds)
        return
    with tempfile.TemporaryDirectory(prefix="wellgate-config-cost-") as tmp:
        work = Path(tmp)
        baseline = args.baseline or export(args.ref, Path(tempfile.mkdtemp(dir=work)))
        trees = {"this tree": REPO, f"baseline ({args.baseline or args.ref})": baseline}
        (work / "peer").mkdir()
        configs = {"demo": DEMO, "peer tcp": peer_tcp_config(work / "peer")}
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        if args.source:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        for tree in trees.values():
            if args.source:
                for cache in [*tree.glob("gateway/**/__pycache__"),
                              *tree.glob("drivers/**/__pycache__")]:
                    for file in cache.glob("*.pyc"):
                        file.unlink()
            else:
                subprocess.run([sys.executable, "-m", "compileall", "-q", "gateway", "drivers"],
                               cwd=tree, check=True, capture_output=True)
        probes = {"alone": PROBE.format(imports=ALONE), "in run": PROBE.format(imports=IN_RUN)}
        results: dict[tuple[str, str, str], list[dict]] = {}
        floors: dict[str, list[list[float]]] = {name: [] for name in FLOORS}
        load_before = os.getloadavg()
        for round_no in range(args.rounds):
            order = list(trees.items())
            if round_no % 2:
                order.reverse()
            for config_name, config in configs.items():
                for probe_name, code in probes.items():
                    for tree_name, tree in order:
                        key = (config_name, probe_name, tree_name)
                        results.setdefault(key, []).append(run_probe(tree, code, config, env))
            for name, code in FLOORS.items():
                floors[name].append(run_floor(code, env))
        load_after = os.getloadavg()
    mode = "from source" if args.source else "byte-compiled"
    print(f"config loading cost, {args.rounds} rounds, {mode}, load average "
          f"{load_before[0]:.2f} before / {load_after[0]:.2f} after; medians")
    print(f"{'config':>9} {'probe':>7} {'tree':>18} {'pydantic CPU s':>14} {'import CPU s':>12} "
          f"{'+load CPU s':>11} {'total CPU s':>11} {'max RSS MB':>10} {'after it CPU':>12} "
          f"{'after MB':>9}")
    names = list(trees)
    for config_name in configs:
        for probe_name in probes:
            totals = {}
            for tree_name in names:
                rows = results[(config_name, probe_name, tree_name)]
                floor = median([r["start"][0] for r in rows])
                imp = median([r["import"][0] - r["start"][0] for r in rows])
                load = median([r["load"][0] - r["import"][0] for r in rows])
                total = median([r["load"][0] for r in rows])
                rss = median([r["load"][1] for r in rows])
                own_cpu = median([r["load"][0] - r["start"][0] for r in rows])
                own_rss = median([r["load"][1] - r["start"][1] for r in rows])
                totals[tree_name] = (total, rss, own_cpu, own_rss)
                print(f"{config_name:>9} {probe_name:>7} {tree_name[:18]:>18} {floor:14.3f} "
                      f"{imp:12.3f} {load:11.3f} {total:11.3f} {rss:10.1f} {own_cpu:12.3f} "
                      f"{own_rss:9.1f}")
            ratios = [now / base for now, base in zip(totals[names[0]], totals[names[1]],
                                                      strict=True)]
            print(f"{config_name:>9} {probe_name:>7} {'this / baseline':>18} {'':>14} {'':>12} "
                  f"{'':>11} {ratios[0]:11.2f} {ratios[1]:10.2f} {ratios[2]:12.2f} "
                  f"{ratios[3]:9.2f}")
    for name, rows in floors.items():
        print(f"{'floor':>9} {'':>7} {name[:18]:>18} {'':>14} {'':>12} {'':>11} "
              f"{median([r[0] for r in rows]):11.3f} {median([r[1] for r in rows]):10.1f}")

if __name__ == "__main__":
    main()
