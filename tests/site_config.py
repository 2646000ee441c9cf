"""A minimal valid site config for config tests, and loading it with an extra TOML fragment."""

from __future__ import annotations

import textwrap

import pytest

from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError

BASE = """\
[well]
id = "150602-0017"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "/dev/ttyUSB0"

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
"""


def load_site(tmp_path, extra: str = "") -> GatewayConfig:
    """BASE plus `extra` (dedented), written to tmp_path/site.toml and loaded."""
    path = tmp_path / "site.toml"
    path.write_text(BASE + textwrap.dedent(extra), encoding="utf-8")
    return load_config(path)


def site_errors(tmp_path, extra: str) -> list[str]:
    """The config errors of BASE plus `extra`, without their "file:line: " prefix."""
    with pytest.raises(ConfigError) as caught:
        load_site(tmp_path, extra)
    return [error.split(": ", 1)[1] for error in caught.value.errors]
