"""The house's structure holds: no wrong-way imports, no cycles between rooms, no 500-line files.

The rules are in tests/architecture.py; the first tests here show each rule catching a tree made to
break it, so a rule that silently stopped working would fail here too.
"""

from pathlib import Path

import pytest
from architecture import (
    MAX_LINES,
    drivers_importing_gateway,
    long_modules,
    read_modules,
    room_cycles,
    room_graph,
    simulator_importers,
)

ROOT = Path(__file__).resolve().parent.parent


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in ("gateway", "drivers"):
        (tmp_path / package).mkdir(exist_ok=True)
        (tmp_path / package / "__init__.py").touch()
    return tmp_path


# --- each rule catches a tree made to break it ---------------------------------------------------

def test_a_driver_importing_the_gateway_is_caught(tmp_path):
    root = _tree(tmp_path, {"drivers/codec.py": "def f():\n    from gateway.store import x\n"})
    found = list(drivers_importing_gateway(read_modules(root)))
    assert len(found) == 1 and "drivers.codec imports gateway.store" in found[0]


def test_production_code_importing_the_simulator_is_caught(tmp_path):
    root = _tree(tmp_path, {
        "gateway/simulator/__init__.py": "",
        "gateway/simulator/units.py": "",
        "gateway/accounting/__init__.py": "",
        "gateway/accounting/plan.py": "from gateway.simulator.units import from_base\n",
        "gateway/demo.py": "from gateway.simulator import SimulatedWell\n",
        "gateway/cli/__init__.py": "from gateway import simulator\n",
    })
    found = list(simulator_importers(read_modules(root)))
    assert len(found) == 1 and "gateway.accounting.plan" in found[0]


def test_a_cycle_through_a_third_room_and_a_lazy_import_is_caught(tmp_path):
    root = _tree(tmp_path, {
        "gateway/config.py": "def load():\n    from gateway.accounting import settings\n",
        "gateway/accounting/__init__.py": "",
        "gateway/accounting/settings.py": "from ..store import sink\n",
        "gateway/store/__init__.py": "",
        "gateway/store/sink.py": "from gateway.config import StoreSection\n",
        "gateway/uplink/__init__.py": "from gateway.store import sink\n",
    })
    modules = read_modules(root)
    assert room_graph(modules)["gateway.accounting"] == {
        "gateway.store": "gateway.accounting.settings imports gateway.store"}
    found = list(room_cycles(modules))
    assert len(found) == 1
    assert "{gateway.accounting, gateway.config, gateway.store}" in found[0]
    assert "gateway.uplink" not in found[0]


def test_imports_within_one_room_are_no_cycle(tmp_path):
    root = _tree(tmp_path, {
        "gateway/store/__init__.py": "from gateway.store.sink import Sink\n",
        "gateway/store/sink.py": "from gateway.store import chain\n",
        "gateway/store/chain.py": "",
    })
    assert list(room_cycles(read_modules(root))) == []


def test_a_long_module_is_caught(tmp_path):
    root = _tree(tmp_path, {"gateway/big.py": "x = 1\n" * (MAX_LINES + 1),
                            "gateway/ok.py": "x = 1\n" * MAX_LINES})
    found = list(long_modules(read_modules(root)))
    assert len(found) == 1 and f"{MAX_LINES + 1} lines" in found[0]


# --- the real tree --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def modules():
    found = read_modules(ROOT)
    assert len(found) > 50, "the scan found too few modules: is ROOT right?"
    return found


def test_drivers_never_import_the_gateway(modules):
    assert list(drivers_importing_gateway(modules)) == []


def test_only_the_simulator_demo_and_cli_import_the_simulator(modules):
    assert list(simulator_importers(modules)) == []


def test_no_two_rooms_import_each_other(modules):
    assert list(room_cycles(modules)) == []


def test_no_production_module_is_longer_than_the_limit(modules):
    assert list(long_modules(modules)) == []
