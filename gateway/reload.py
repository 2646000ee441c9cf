"""SIGHUP: the config file read again, checked, and what changed applied to the running gateway.

A config that fails to check is refused, logged with every error, and the gateway goes on with
the config it has. So is one that changes a setting the running process cannot take
(RESTART_ONLY: where the store and key live, the well's id, the store writer's settings): the
message names each such key. Otherwise the store's writer and key stay open; a bus whose table
changed is restarted while the other buses poll on untouched; a device added, removed or changed
is taken on or dropped on its bus, the devices that stay keeping their schedule; a destination
removed stops cleanly and one added starts from its cursor in the store; the accounting room is
restarted from its checkpoint when its plan changed. One line then says what changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.acquisition.service import Acquisition
from gateway.config import GatewayConfig, load_config
from gateway.errors import ConfigError
from gateway.readings import ReadingSink
from gateway.store import StoreSink

if TYPE_CHECKING:  # the rooms are imported where a config runs them (a start waits for none)
    from gateway.accounting.plan import AccountingPlan
    from gateway.accounting.service import AccountingRoom
    from gateway.uplink.service import RunningUplinks

log = logging.getLogger(__name__)
summary_log = logging.getLogger("wellgate")  # the start/stop lines' logger: INFO whatever -v says

RESTART_ONLY = ("gateway.state_dir", "gateway.runtime_dir", "well.id", "store")
# (gateway.log_summary_s is taken live: by the pollers now, by each uplink when it is restarted)
FLUSH_TIMEOUT = 5.0  # s: committing what waits before the accounting room is restarted


@dataclass
class Running:
    """The parts of a running gateway that a reload may change."""

    config: GatewayConfig
    acquisition: Acquisition
    sink: ReadingSink
    uplinks: RunningUplinks | None
    accounting: AccountingRoom | None
    owns_accounting: bool  # started by the daemon (a room passed in by the demo is left alone)


def _restart_only(config: GatewayConfig) -> dict[str, Any]:
    """The settings RESTART_ONLY names, as plain data."""
    return {"gateway": config.gateway.model_dump(mode="json"), "well": {"id": config.well.id},
            "store": config.store.model_dump(mode="json")}


def _at(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def restart_only_changes(old: GatewayConfig, new: GatewayConfig) -> list[str]:
    """The key paths, among RESTART_ONLY, whose value differs between two configs."""
    before, after = _restart_only(old), _restart_only(new)
    found = []
    for path in RESTART_ONLY:
        a, b = _at(before, path), _at(after, path)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            found += [f"{path}.{key}" for key in sorted(set(a) | set(b))
                      if a.get(key) != b.get(key)]
        else:
            found.append(path)
    return found


def accounting_plan(config: GatewayConfig) -> AccountingPlan | None:
    from gateway.accounting.plan import build_plan

    return None if config.well.accounting is None else build_plan(config)


async def reload_config(running: Running, path: Path | str) -> bool:
    """Read `path` again and apply it to `running`; False (logged) when it is refused."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        summary_log.error("reload of %s refused, the running config stays: %s", path,
                          "; ".join(exc.errors) or str(exc))
        return False
    stuck = restart_only_changes(running.config, config)
    if stuck:
        summary_log.error("reload of %s refused, the running config stays: %s cannot change "
                          "while the gateway runs; restart it to apply (systemctl restart "
                          "wellgate)", path, ", ".join(stuck))
        return False
    said = []
    buses = await running.acquisition.apply(config)
    for label, names in (("devices added", buses.devices_added),
                         ("devices removed", buses.devices_removed),
                         ("devices changed", buses.devices_changed),
                         ("buses restarted", buses.buses_restarted)):
        if names:
            said.append(f"{label}: {', '.join(names)}")
    if buses.policy_changed:
        said.append("offline policy changed")
    if running.uplinks is None and config.uplinks and isinstance(running.sink, StoreSink):
        from gateway.uplink.service import start_uplinks  # a gateway that started without any

        running.uplinks = start_uplinks(config, running.sink.state_dir,
                                        Path(config.gateway.runtime_dir),
                                        running.sink.append_record)
        said.append(f"uplinks added: {', '.join(uplink.name for uplink in config.uplinks)}")
        running.sink.set_destinations([uplink.name for uplink in config.uplinks])
    elif running.uplinks is not None:
        uplinks = await running.uplinks.uplinks.apply(config)
        for label, names in (("uplinks added", uplinks.added),
                             ("uplinks removed", uplinks.removed),
                             ("uplinks changed", uplinks.changed)):
            if names:
                said.append(f"{label}: {', '.join(names)}")
        if isinstance(running.sink, StoreSink):
            running.sink.set_destinations([uplink.name for uplink in config.uplinks])
    if await _apply_accounting(running, config):
        said.append("accounting restarted from its checkpoint")
    running.config = config
    summary_log.info("reloaded %s: %s", path, "; ".join(said) if said else "nothing changed")
    return True


async def _apply_accounting(running: Running, config: GatewayConfig) -> bool:
    """Restart the accounting room when its plan changed: the old one accounts what is
    committed and writes its checkpoint (as at a stop), the new one resumes from it."""
    if not running.owns_accounting or not isinstance(running.sink, StoreSink):
        return False
    if accounting_plan(running.config) == accounting_plan(config):
        return False
    if running.accounting is not None:
        running.accounting.note_health(running.acquisition.board)
        await asyncio.to_thread(running.sink.flush, FLUSH_TIMEOUT)
        await asyncio.to_thread(running.accounting.close)
        await asyncio.to_thread(running.sink.flush, FLUSH_TIMEOUT)
    from gateway.accounting.service import start_accounting

    running.accounting = start_accounting(config, running.sink)
    return True
