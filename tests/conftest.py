"""Suite-wide options: `pytest --torture` also runs the long tests marked `torture`."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--torture", action="store_true", default=False,
                     help="also run the long tests marked torture (e.g. 500 SIGKILL/restart "
                          "cycles of the store); minutes, not seconds")


# The slowest files of a whole run (2026-12-07, `--durations=0`, summed per file), slowest first.
# Their files are handed out first (pyproject: --dist loadfile --no-loadscope-reorder sends files
# in collection order): a slow file late in the alphabet became the run's tail, one worker busy
# with it while the other had nothing left.
SLOW_FIRST = (
    "test_store_crash", "test_deb", "test_receiver_limits", "test_cli", "test_stop_fast",
    "test_verify_damage", "test_commission", "test_status_page", "test_accounting_simulated",
    "test_fuzz_config", "test_centre_delivery", "test_store_cli", "test_accounting_pump",
    "test_reload", "test_demo", "test_scan_installer", "test_acquisition", "test_bus_unplug",
    "test_run_log", "test_store_block_rows", "test_uplink_run", "test_store_truncated",
    "test_centre_pump_live", "test_uplink_https", "test_fuzz_drivers", "test_centre_demo",
    "test_store_leaves", "test_clock_run", "test_groundwater", "test_scan", "test_uplink_fork",
    "test_accounting_khead",
)


def _slow_rank(item: pytest.Item) -> int:
    name = item.path.stem
    return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_slow_rank)  # stable: within a file, and for the rest, collection order
    if config.getoption("--torture"):
        return
    skip = pytest.mark.skip(reason="a torture run: enable it with --torture")
    for item in items:
        if "torture" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def torture(request: pytest.FixtureRequest) -> bool:
    """Whether this run was started with --torture."""
    return bool(request.config.getoption("--torture"))
