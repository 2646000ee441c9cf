"""Suite-wide options: `pytest --torture` also runs the long tests marked `torture`."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--torture", action="store_true", default=False,
                     help="also run the long tests marked torture (e.g. 500 SIGKILL/restart "
                          "cycles of the store); minutes, not seconds")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
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
