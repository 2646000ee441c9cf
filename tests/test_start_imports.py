"""What `wellgate run` has imported when its first reading is committed: what the configured job
uses and nothing else (issue 16: the start's time and peak memory). Real processes: `wellgate
simulate` answers Modbus TCP, `wellgate run` writes a real store; a thread in the gateway's own
interpreter lists sys.modules at the first committed reading, then stops it with SIGTERM."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
from simulate_support import simulated_lines

import gateway.cli
from gateway.cli import LAZY_COMMANDS

# Runs `wellgate run --config CONFIG`; at the first reading committed after the start (the store
# may hold older ones), writes sorted(sys.modules) to OUT and sends itself SIGTERM.
PROBE = textwrap.dedent("""
    import json, os, signal, sqlite3, sys, threading, time
    config, db, out = sys.argv[1:4]

    def newest():
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05)
        except sqlite3.Error:
            return None
        try:
            return conn.execute("SELECT max(seq) FROM records WHERE kind = 'reading'").fetchone()[0]
        except sqlite3.Error:
            return None
        finally:
            conn.close()

    def watch(before):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (newest() or 0) <= before:
            time.sleep(0.01)
        with open(out, "w") as file:
            json.dump(sorted(sys.modules), file)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, args=(newest() or 0,), daemon=True).start()
    sys.argv = ["wellgate", "run", "--config", config]
    from gateway.cli import main
    main()
""")

SIMULATED = textwrap.dedent("""
    [well]
    id = "150602-0016"
    name = "import guard"

    [[buses]]
    name = "tcp-1"
    type = "tcp"
    host = "192.0.2.1"
    tcp_port = 502

    [[devices]]
    name = "meter"
    bus = "tcp-1"
    model = "eastron-sdm630"
    slave_id = 1
    poll_interval = 1.0
    points = ["voltage_l1", "current_l1"]
""")

# Never needed by `wellgate run` without these configured (modules and their packages)
NEVER = ("sqlite_utils", "dateutil", "pluggy", "httpx", "pygments", "starlette", "uvicorn",
         "prometheus_client", "gateway.simulator", "gateway.platform", "gateway.status",
         "gateway.store.export", "gateway.store.verify", "gateway.accounting.calibrate",
         "gateway.accounting.calibration", "gateway.accounting.service", "gateway.demo",
         "gateway.scan", "gateway.probe", "gateway.commission", "gateway.uplink.https",
         "gateway.uplink.centres", "gateway.uplink.centre_link", "gateway.cli.accounting",
         "gateway.cli.store", "gateway.cli.platform", "gateway.cli.simulate",
         "gateway.cli.commission")
UPLINK = ("paho", "gateway.uplink")


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def site(tmp_path: Path, address: str, uplink: str = "") -> Path:
    host, _, port = address.rpartition(":")
    text = SIMULATED.replace('host = "192.0.2.1"', f'host = "{host}"').replace(
        "tcp_port = 502", f"tcp_port = {port}")
    text += (f'\n[gateway]\nruntime_dir = "{tmp_path / "run"}"\n'
             f'state_dir = "{tmp_path / "state"}"\n' + uplink)
    path = tmp_path / ("site-mqtt.toml" if uplink else "site.toml")
    path.write_text(text, encoding="utf-8")
    return path


def modules_at_first_reading(config: Path, tmp_path: Path) -> list[str]:
    out = tmp_path / "modules.json"
    out.unlink(missing_ok=True)
    done = subprocess.run([sys.executable, "-c", PROBE, str(config),
                           str(tmp_path / "state" / "wellgate.db"), str(out)],
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
    return json.loads(out.read_text())


def test_run_imports_only_what_the_configured_job_uses(tmp_path):
    simulated = tmp_path / "simulated.toml"
    simulated.write_text(SIMULATED, encoding="utf-8")
    with simulated_lines(simulated) as lines:
        config = site(tmp_path, lines["tcp-1"])
        subprocess.run([sys.executable, "-m", "gateway", "init", "--config", str(config)],
                       check=True, capture_output=True, timeout=60)
        first = modules_at_first_reading(config, tmp_path)  # a new store: migrations applied
        again = modules_at_first_reading(config, tmp_path)  # a current store
        mqtt = modules_at_first_reading(site(tmp_path, lines["tcp-1"], (
            '\n[[uplinks]]\nname = "broker"\ntype = "mqtt"\nhost = "127.0.0.1"\nport = 9\n'
            'tls = false\ninsecure_unsigned_acks = true\n')), tmp_path)
    assert loaded(again, NEVER) == [] and loaded(again, UPLINK) == []
    # a new store needs its migrations, so sqlite-utils (and what it imports): nothing else
    assert "gateway.store.migrations" in first and "sqlite_utils" in first
    assert loaded(first, NEVER) == loaded(first, ("dateutil", "pluggy", "sqlite_utils"))
    assert loaded(first, UPLINK) == []
    assert "pymodbus.client" in again and "gateway.store.sink" in again  # what the job uses
    assert loaded(mqtt, NEVER) == []
    assert "paho.mqtt.client" in mqtt and "gateway.uplink.mqtt" in mqtt


def test_every_command_of_the_cli_modules_is_named_in_the_lazy_map():
    commands, subcommands = {}, set()
    for info in pkgutil.iter_modules(gateway.cli.__path__, "gateway.cli."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, click.Command) and value.callback.__module__ == info.name:
                commands[f"{info.name}:{name}"] = value
                if isinstance(value, click.Group):
                    subcommands.update(id(c) for c in value.commands.values())
    top_level = {path: c.name for path, c in commands.items() if id(c) not in subcommands}
    assert top_level == {path: name for name, path in LAZY_COMMANDS.items()}
