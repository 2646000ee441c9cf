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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.atomic_file import write_json_atomic
from gateway.config import GatewayConfig, Sl427Uplink, Sl651Uplink, Uplink
from gateway.store import DB_FILE
from gateway.store.errors import StoreError
from gateway.store.keys import load_private_key, load_public_key
from gateway.store.records import NewRecord
from gateway.uplink.engine import Limits, UplinkEngine
from gateway.uplink.nonce import NonceSource
from gateway.uplink.outbox import Outbox
from gateway.uplink.recipes import recipes_from_config
from gateway.uplink.transport import Transport, tls_context

# The transports (httpx for HTTPS, paho for MQTT) and the centres' protocols are imported when a
# destination of their type is made: a start pays only for what its [[uplinks]] use (issue 16).
if TYPE_CHECKING:
    from gateway.uplink.centre_link import CentreLink

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
        from gateway.uplink.https import HttpsTransport

        context = tls_context(file(uplink.ca_file), file(uplink.client_cert),
                              file(uplink.client_key))
        return HttpsTransport(uplink.name, uplink.url or "", context, uplink.timeout,
                              platform_key)
    from gateway.uplink.mqtt import MqttTransport

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


@dataclass
class UplinkChanges:
    """What a reload changed among the destinations, for the summary line."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


class Uplinks:
    """The engines of every destination; `apply()` takes a reloaded config's [[uplinks]]."""

    def __init__(self, engines: list[UplinkEngine | CentreLink],
                 status_path: Path | None = None, state_dir: Path | None = None,
                 submit: Submit | None = None) -> None:
        self.engines = engines
        self.submit = submit  # takes the records of centres' commands
        self.status_path = status_path
        self.state_dir = state_dir
        self.settings: dict[str, Uplink] = {}  # the table each engine was made from
        self._key: Any = None
        self._nonces: NonceSource | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self._stopped = asyncio.Event()

    @classmethod
    def from_config(cls, config: GatewayConfig, state_dir: Path | None = None,
                    runtime_dir: Path | None = None, submit: Submit | None = None) -> Uplinks:
        """Every configured uplink; `submit` takes the records of centres' commands."""
        state = Path(state_dir or config.gateway.state_dir)
        runtime = Path(runtime_dir or config.gateway.runtime_dir)
        uplinks = cls([], runtime / STATUS_FILE if config.uplinks else None, state, submit)
        if config.uplinks:
            recipes = recipes_from_config(config)
            for uplink in config.uplinks:
                engine = uplinks._engine(config, uplink, recipes)
                if engine is not None:
                    uplinks.engines.append(engine)
        return uplinks

    def _engine(self, config: GatewayConfig, uplink: Uplink,
                recipes: dict) -> UplinkEngine | CentreLink | None:
        """One destination's engine (None, logged, when its transport cannot be made)."""
        assert self.state_dir is not None
        if isinstance(uplink, (Sl427Uplink, Sl651Uplink)):  # a centre's own protocol
            from gateway.uplink.centres import centre_link

            self.settings[uplink.name] = uplink
            return centre_link(config, uplink, self.state_dir, self.submit)
        if self._key is None:  # one key and one nonce source for every engine, reloads too
            self._key = load_private_key(self.state_dir)
            self._nonces = NonceSource(self.state_dir)
        if uplink.type == "mqtt" and uplink.platform_key is None:
            log.warning("uplink %s: no platform_key, so acks are taken unsigned: whoever may "
                        "publish on its ack topic can move its cursor (reserve the topic "
                        "to the platform in the broker's ACL)", uplink.name)
        try:
            transport = make_transport(config, uplink)
        except (OSError, ValueError) as exc:  # e.g. a CA file that cannot be read
            log.error("uplink %s not started: %s", uplink.name, exc)
            return None
        self.settings[uplink.name] = uplink
        db = self.state_dir / DB_FILE
        engine = UplinkEngine(uplink.name, transport, Outbox(db), db, self._key,
                              gateway_id(config, uplink), self._nonces, recipes,
                              limits_of(uplink))
        engine.flaps.every = config.gateway.log_summary_s
        return engine

    def _start(self, engine: UplinkEngine | CentreLink) -> None:
        if self._stopped.is_set():  # a reload that ends after the stop: the engine ends at once
            engine.stop()
        self._tasks[engine.name] = asyncio.create_task(engine.run(), name=f"uplink-{engine.name}")

    async def _end(self, engine: UplinkEngine | CentreLink) -> None:
        """Stop one engine cleanly: a send in flight is dropped within its stop grace (it goes
        again from the cursor next time); its cursor stays in the store."""
        engine.stop()
        task = self._tasks.pop(engine.name, None)
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=CLOSE_WITHIN)
            if not done:
                log.warning("uplink %s still busy %g s after stop: cancelled", engine.name,
                            CLOSE_WITHIN)
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        engine.outbox.close()
        self.engines.remove(engine)

    async def apply(self, config: GatewayConfig) -> UplinkChanges:
        """Take a reloaded config: a destination removed stops, one added starts from its cursor
        in the store (0 for a name the store has never seen), one whose table changed is
        restarted; the others keep running, their recipes brought up to date."""
        changes = UplinkChanges()
        wanted = {uplink.name: uplink for uplink in config.uplinks}
        recipes = recipes_from_config(config)
        for engine in list(self.engines):
            if engine.name not in wanted:
                changes.removed.append(engine.name)
                await self._end(engine)
            elif wanted[engine.name] != self.settings.get(engine.name):
                changes.changed.append(engine.name)
                await self._end(engine)
            elif isinstance(engine, UplinkEngine):
                engine.recipes = recipes
        running = {engine.name for engine in self.engines}
        for uplink in config.uplinks:
            if uplink.name in running:
                continue
            if uplink.name not in changes.changed:
                changes.added.append(uplink.name)
            engine = self._engine(config, uplink, recipes)
            if engine is not None:
                self.engines.append(engine)
                self._start(engine)
        for name in changes.removed:
            self.settings.pop(name, None)
        if config.uplinks and self.status_path is None:
            self.status_path = Path(config.gateway.runtime_dir) / STATUS_FILE
        self.write_status()
        return changes

    async def run(self, status_every: float = 5.0) -> None:
        """Run every engine until stop(); writes the status file every status_every seconds."""
        for engine in self.engines:
            self._start(engine)
        try:
            while not self._stopped.is_set():
                stopped = asyncio.create_task(self._stopped.wait())
                try:
                    await asyncio.wait({stopped}, timeout=status_every)
                finally:
                    stopped.cancel()
                self.write_status()
        finally:
            for engine in self.engines:
                engine.stop()
            try:
                await asyncio.gather(*self._tasks.values(), return_exceptions=True)
            finally:
                for engine in self.engines:
                    engine.outbox.close()
                self.write_status()

    def stop(self, grace: float | None = None) -> None:
        """Stop every engine; a send in flight gets `grace` s (default: engine.STOP_GRACE)."""
        self._stopped.set()
        for engine in self.engines:
            if grace is None or not isinstance(engine, UplinkEngine):
                engine.stop()
            else:
                engine.stop(grace)

    async def drain(self, until: float) -> None:
        """A planned stop's last chance, once the store has committed everything: each engine
        sends what the store holds after its cursor and ends (UplinkEngine.drain; one that
        fails ends at once, keeping its cursor); returns when all have ended or at `until`
        (monotonic). Centre links are not drained: they stop as before (their reports go on
        their own schedule; the rest goes next start)."""
        tasks = []
        for engine in self.engines:
            task = self._tasks.get(engine.name)
            if isinstance(engine, UplinkEngine) and task is not None:
                engine.drain()
                tasks.append(task)
        left = until - time.monotonic()
        if tasks and left > 0:
            await asyncio.wait(tasks, timeout=left)

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

    async def drain(self, until: float) -> None:
        """Let every engine deliver what the store committed, until `until` (Uplinks.drain)."""
        await self.uplinks.drain(until)

    async def close(self, timeout: float = CLOSE_WITHIN, grace: float | None = None) -> None:
        """Stop and wait for the engines, cancelling them after `timeout` seconds (the status
        file is written either way); a send in flight gets `grace` s for its ack."""
        self.uplinks.stop(grace)
        done, _ = await asyncio.wait({self.task}, timeout=timeout)
        if not done:
            log.warning("uplinks still busy %g s after stop: cancelled", timeout)
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def start_uplinks(config: GatewayConfig, state_dir: Path, runtime_dir: Path,
                  submit: Submit | None = None) -> RunningUplinks:
    """Start every configured uplink (none may be: a reload may add some); call from the
    running loop. `submit` takes the records of centres' commands."""
    return RunningUplinks(Uplinks.from_config(config, state_dir, runtime_dir, submit))


def read_status(runtime_dir: Path) -> dict[str, Any] | None:
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        return json.loads((Path(runtime_dir) / STATUS_FILE).read_text())
    return None
