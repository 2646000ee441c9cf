"""Every configured uplink of a gateway, started and stopped together beside acquisition.

    uplinks = Uplinks.from_config(config)   # loads the gateway key; no uplinks: nothing runs
    task = asyncio.create_task(uplinks.run())
    ...
    uplinks.stop(); await task

While running, uplinks.snapshot() is what `wellgate status` shows of each destination (written
to <runtime_dir>/uplink.json by the daemon); the backlog itself comes from the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gateway.atomic_file import write_json_atomic
from gateway.config import GatewayConfig, Uplink
from gateway.store import DB_FILE
from gateway.store.errors import StoreError
from gateway.store.keys import load_private_key, load_public_key
from gateway.store.records import NewRecord
from gateway.uplink.centre_link import CentreLink
from gateway.uplink.centres import CENTRE_TYPES, centre_link
from gateway.uplink.engine import Limits, UplinkEngine
from gateway.uplink.https import HttpsTransport
from gateway.uplink.mqtt import MqttTransport
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import Transport, tls_context

log = logging.getLogger(__name__)
Submit = Callable[[NewRecord], None]

STATUS_FILE = "uplink.json"
CLOSE_WITHIN = 3.0  # s RunningUplinks.close() waits for the engines before cancelling them


def gateway_id(config: GatewayConfig, uplink: Uplink) -> str:
    return uplink.gateway_id or config.well.id


def make_transport(config: GatewayConfig, uplink: Uplink) -> Transport:
    def file(value: str | None) -> Path | None:
        return config.config_path(value) if value else None

    platform_key = None
    if uplink.platform_key is not None:
        try:
            platform_key = load_public_key(config.config_path(uplink.platform_key))
        except StoreError as exc:
            raise ValueError(f"platform_key: {exc}") from None
    if uplink.type == "https":
        context = tls_context(file(uplink.ca_file), file(uplink.client_cert),
                              file(uplink.client_key))
        return HttpsTransport(uplink.name, uplink.url or "", context, uplink.timeout,
                              platform_key)
    context = None
    if uplink.tls:
        context = tls_context(file(uplink.ca_file), file(uplink.client_cert),
                              file(uplink.client_key))
    return MqttTransport(uplink.name, uplink.host or "", uplink.port,
                         gateway_id(config, uplink), uplink.topic_prefix, uplink.timeout,
                         context, uplink.username, uplink.password, platform_key=platform_key)


def limits_of(uplink: Uplink) -> Limits:
    return Limits(uplink.batch_max_records, uplink.batch_max_kb * 1024, uplink.batch_max_age,
                  uplink.backoff_initial, uplink.backoff_max)


class Uplinks:
    def __init__(self, engines: list[UplinkEngine | CentreLink],
                 status_path: Path | None = None) -> None:
        self.engines = engines
        self.status_path = status_path

    @classmethod
    def from_config(cls, config: GatewayConfig, state_dir: Path | None = None,
                    runtime_dir: Path | None = None, submit: Submit | None = None) -> Uplinks:
        """Every configured uplink; `submit` takes the records of centres' commands."""
        state = Path(state_dir or config.gateway.state_dir)
        if not config.uplinks:
            return cls([])
        key = load_private_key(state)
        nonces = NonceSource(state)
        recipes = recipes_from_config(config)
        engines: list[UplinkEngine | CentreLink] = []
        for uplink in config.uplinks:
            if uplink.type in CENTRE_TYPES:
                engines.append(centre_link(config, uplink, state, submit))  # type: ignore[arg-type]
                continue
            if uplink.type == "mqtt" and uplink.platform_key is None:
                log.warning("uplink %s: no platform_key, so acks are taken unsigned: whoever may "
                            "publish on its ack topic can move its cursor (reserve the topic "
                            "to the platform in the broker's ACL)", uplink.name)
            try:
                transport = make_transport(config, uplink)
            except (OSError, ValueError) as exc:  # e.g. a CA file that cannot be read
                log.error("uplink %s not started: %s", uplink.name, exc)
                continue
            engines.append(UplinkEngine(
                uplink.name, transport, Outbox(state / DB_FILE), state / DB_FILE, key,
                gateway_id(config, uplink), nonces, recipes, limits_of(uplink)))
        runtime = Path(runtime_dir or config.gateway.runtime_dir)
        return cls(engines, runtime / STATUS_FILE)

    async def run(self, status_every: float = 5.0) -> None:
        """Run every engine until stop(); writes the status file every status_every seconds."""
        if not self.engines:
            return
        tasks = [asyncio.create_task(engine.run(), name=f"uplink-{engine.name}")
                 for engine in self.engines]
        try:
            while not all(task.done() for task in tasks):
                await asyncio.wait(tasks, timeout=status_every)
                self.write_status()
        finally:
            for engine in self.engines:
                engine.stop()
            try:
                await asyncio.gather(*tasks, return_exceptions=True)
            finally:
                for engine in self.engines:
                    engine.outbox.close()
                self.write_status()

    def stop(self) -> None:
        for engine in self.engines:
            engine.stop()

    def snapshot(self) -> dict[str, Any]:
        return {"written": time.time(),
                "uplinks": {engine.name: engine.status.as_dict() for engine in self.engines}}

    def write_status(self) -> None:
        if self.status_path is None:
            return
        try:
            write_json_atomic(self.status_path, self.snapshot())
        except OSError as exc:
            log.warning("cannot write the uplink status %s: %s", self.status_path, exc)


class RunningUplinks:
    """The uplinks of `wellgate run`, as one task beside acquisition."""

    def __init__(self, uplinks: Uplinks) -> None:
        self.uplinks = uplinks
        self.task = asyncio.create_task(uplinks.run(), name="uplinks")

    def stop(self) -> None:
        """Tell every engine to stop (a send in flight ends within engine.STOP_GRACE)."""
        self.uplinks.stop()

    async def close(self, timeout: float = CLOSE_WITHIN) -> None:
        """Stop and wait for the engines, cancelling them after `timeout` seconds (the status
        file is written either way)."""
        self.uplinks.stop()
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            log.warning("uplinks still busy %g s after stop: cancelled", timeout)
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start_uplinks(config: GatewayConfig, state_dir: Path, runtime_dir: Path,
                  submit: Submit | None = None) -> RunningUplinks | None:
    """Start every configured uplink (None when there are none); call from the running loop."""
    if not config.uplinks:
        return None
    return RunningUplinks(Uplinks.from_config(config, state_dir, runtime_dir, submit))


def read_status(runtime_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        return json.loads((Path(runtime_dir) / STATUS_FILE).read_text())
    return None
