"""A config imports, and builds, only the models of the tables it has; errors stay the same."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
TCP_SITE = """\
    [well]
    id = "150602-0900"

    [[buses]]
    name = "tcp-1"
    type = "tcp"
    host = "127.0.0.1"

    [[devices]]
    name = "meter-1"
    bus = "tcp-1"
    model = "eastron-sdm630"
    slave_id = 1
"""
MQTT_UPLINK = """
    [[uplinks]]
    name = "city"
    type = "mqtt"
    host = "127.0.0.1"
    tls = false
    insecure_unsigned_acks = true
"""
CENTRE_UPLINK = """
    [[uplinks]]
    name = "county"
    type = "sl427"
    host = "127.0.0.1"
    port = {port}
    county = "150602"
    station = 17

    [uplinks.points]
    volume = "meter-1/import_energy"
"""
ACCOUNTING = """
    [well.accounting]
    pump_capacity_m3h = 60
    rated_power_kw = 11
"""
STATUS = """
    [status]
    listen = "127.0.0.1:8080"
    token_file = "status.token"
"""
OPTIONAL_MODULES = ("gateway.config.accounting", "gateway.config.alarms",
                    "gateway.config.plan_level", "gateway.config.accounting_rules",
                    "gateway.config.centres", "gateway.config.status",
                    "gateway.coefficient_tables")
PROBE = """
import json, sys
from gateway.config import load_config
config = load_config(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.startswith("gateway"))))
"""


def _site(tmp_path: Path, *parts: str) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(textwrap.dedent(TCP_SITE + "".join(parts)), encoding="utf-8")
    return path


def _imported_by_loading(path: Path) -> set[str]:
    """The gateway modules a fresh interpreter has imported after loading the config at `path`."""
    done = subprocess.run([sys.executable, "-c", PROBE, str(path)], cwd=REPO, check=True,
                          capture_output=True, text=True, timeout=60)
    return set(json.loads(done.stdout))


def test_a_config_without_optional_tables_imports_none_of_their_models(tmp_path):
    modules = _imported_by_loading(_site(tmp_path, MQTT_UPLINK))
    assert "gateway.config.uplinks" in modules
    assert not modules & set(OPTIONAL_MODULES), sorted(modules & set(OPTIONAL_MODULES))


def test_a_config_with_the_optional_tables_imports_their_models(tmp_path):
    (tmp_path / "status.token").write_text("x" * 32)
    path = _site(tmp_path, ACCOUNTING, STATUS, CENTRE_UPLINK.format(port=7001))
    modules = _imported_by_loading(path)
    assert set(OPTIONAL_MODULES) - {"gateway.coefficient_tables"} <= modules
    config = load_config(path)
    assert type(config.well.accounting).__name__ == "AccountingSection"
    assert config.well.accounting.alarms.drift.raise_fraction == 0.05  # an absent table's default
    assert type(config.status).__name__ == "StatusPageSection"
    assert [type(uplink).__name__ for uplink in config.uplinks] == ["Sl427Uplink"]


@pytest.mark.parametrize(("table", "expected"), [
    (CENTRE_UPLINK.format(port=70000),
     "uplinks[0].port = 70000: expected the centre's TCP port 1..65535"),
    (MQTT_UPLINK.replace("tls = false", "port = 0"),
     "uplinks[0].port = 0: expected the broker's TCP port 1..65535"),
    (ACCOUNTING.replace("= 60", "= -1"), "well.accounting.pump_capacity_m3h = -1: expected "
     "the most the pump can deliver, m³/h (a larger rise is a spike: held)"),
    (STATUS.replace('"127.0.0.1:8080"', '"nope"'), 'status.listen = "nope": expected HOST:PORT '
     'to serve on, a port 1..65535, e.g. "0.0.0.0:8080" (every interface) or "192.168.4.1:8080"'),
    (MQTT_UPLINK.replace('"mqtt"', '"amqp"'),
     'uplinks[0].type = "amqp": expected one of: https, mqtt, sl427, sl651'),
])
def test_an_error_in_a_lazily_built_table_names_its_own_fields_text(tmp_path, table, expected):
    with pytest.raises(ConfigError) as raised:
        load_config(_site(tmp_path, table))
    assert any(error.endswith(expected) for error in raised.value.errors), raised.value.errors


THREADS_PROBE = """
import json, sys, threading
from concurrent.futures import ThreadPoolExecutor
from gateway.config import load_config
start = threading.Barrier(8)
def load(_):
    start.wait()
    return repr(load_config(sys.argv[1]))
with ThreadPoolExecutor(8) as pool:
    print(json.dumps(sorted(set(pool.map(load, range(8))))))
"""


def test_threads_loading_at_once_build_the_deferred_models_once_and_agree():
    """The first load builds the models (deferred until then) in whichever thread comes first:
    eight threads racing through a fresh interpreter's first load all get the same config."""
    demo = REPO / "config" / "examples" / "demo.toml"
    done = subprocess.run([sys.executable, "-c", THREADS_PROBE, str(demo)], cwd=REPO,
                          check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)) == 1
