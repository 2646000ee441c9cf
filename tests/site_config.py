"""A minimal valid site config for config tests, loading it with an extra TOML fragment, and
the site config a process test writes for `wellgate run` (site_toml)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

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


# --- a whole site for a process test -------------------------------------------------------------

Table = Mapping[str, object]


def rtu_bus(port: object, **settings: object) -> dict[str, object]:
    """The Modbus RTU bus rs485-1 on `port`, with `settings` (timeout, retries, ...)."""
    return {"name": "rs485-1", "type": "rtu", "port": str(port), **settings}


def flow_meter(**settings: object) -> dict[str, object]:
    """The TUF-2000M flow meter at slave 1 on rs485-1, with `settings` (poll_interval, ...)."""
    return {"name": "flow-meter", "bus": "rs485-1", "model": "tuf-2000m", "slave_id": 1,
            **settings}


def site_toml(folder: Path, *, well: str, store: Table, buses: Iterable[Table],
              devices: Iterable[Table], acquisition: Table | None = None,
              uplinks: Iterable[Table] = ()) -> str:
    """The TOML of a site whose runtime and state dirs are folder/run and folder/state."""
    parts = [_table("[well]", {"id": well}),
             _table("[gateway]", {"runtime_dir": f"{folder}/run", "state_dir": f"{folder}/state"}),
             _table("[store]", store)]
    if acquisition is not None:
        parts.append(_table("[acquisition]", acquisition))
    parts += [_table("[[buses]]", bus) for bus in buses]
    parts += [_table("[[devices]]", device) for device in devices]
    parts += [_table("[[uplinks]]", uplink) for uplink in uplinks]
    return "\n".join(parts)


def _table(header: str, values: Table) -> str:
    return "".join([header + "\n"] + [f"{key} = {_value(value)}\n"
                                         for key, value in values.items()])


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"a site_toml value must be a bool, number, string, path or list; "
                    f"got {value!r}")
