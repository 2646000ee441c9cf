"""The demo's delivery to a centre station: the centre simulator (`wellgate platform center`) as
a local process, the gateway's SL/T 427-2021 or SL 651-2014 (HEX) uplink to it with report
periods of a few seconds, and one real-time and one clock query from the centre midway; every
frame exchanged is shown on the screen and, with --frames FILE, written to FILE as `up HEX` or
`down HEX`, a line each."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from gateway.config import GatewayConfig, Sl427Uplink, Sl651Uplink
from gateway.uplink.centre_link import CentreLink
from gateway.uplink.centres import centre_link

UPLINK_NAME = "centre"
REPORT_PERIOD = 2.0  # s: a 25 s run exchanges about ten reports
DEMO_POLL = 2.0  # s: the demo's devices are polled this often while it reports to a centre
COUNTY, STATION_427, STATION_651 = "150602", 17, "0015060017"
PASSWORD = "1234"
POINTS = {"flow": "flow-meter/flow_rate", "volume": "flow-meter/forward_total",
          "energy": "pump-energy/import_energy", "water_level": "well-level/level",
          "pump_power": "pump-energy/active_power"}
QUERIES = ("query_realtime", "query_clock")  # the centre asks these midway
START_TIMEOUT = 30.0
DRAIN_TIMEOUT = 15.0
SHOWN_FRAMES = 4


def centre_uplink(protocol: str, port: int) -> Sl427Uplink | Sl651Uplink:
    common: dict[str, Any] = {
        "name": UPLINK_NAME, "host": "127.0.0.1", "port": port, "points": POINTS,
        "report_period": REPORT_PERIOD, "keepalive_period": 10.0, "ack_timeout": 2.0,
        "backoff_initial": 0.5, "backoff_max": 2.0, "password": PASSWORD}
    if protocol == "sl427":
        return Sl427Uplink.model_validate({**common, "type": "sl427",
                                           "edition": "SL/T 427-2021", "county": COUNTY,
                                           "station": STATION_427})
    return Sl651Uplink.model_validate({**common, "type": "sl651", "station": STATION_651})


def demo_polling(config: GatewayConfig) -> GatewayConfig:
    """The demo config with its devices polled every DEMO_POLL seconds (at most)."""
    devices = [device.model_copy(update={"poll_interval": min(device.poll_interval, DEMO_POLL)})
               for device in config.devices]
    return config.model_copy(update={"devices": devices})


class CentreDelivery:
    """The centre simulator process and the uplink to it (the demo's DemoDelivery's interface)."""

    def __init__(self, config: GatewayConfig, folder: Path, protocol: str,
                 frames_file: Path | None) -> None:
        self.config = config
        self.folder = folder
        self.protocol = protocol
        self.db = folder / f"centre-{protocol}.db"
        self.log_file = folder / "centre.log"
        self.frames_out: IO[str] | None = (open(frames_file, "w", encoding="ascii")  # noqa: SIM115
                                           if frames_file is not None else None)
        self.recent: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.link: CentreLink | None = None
        self.task: asyncio.Task[None] | None = None
        self.answers: list[str] = []
        self._lock = threading.Lock()
        self._asked = False
        self._started = 0.0

    # --- the centre simulator --------------------------------------------------------------

    def _start_centre(self) -> int:
        """(thread) Start the simulator and read its ready line; its port."""
        with open(self.log_file, "w", encoding="utf-8") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "platform", "center", "--protocol",
                 self.protocol, "--port", "0", "--db", str(self.db), "--password", PASSWORD],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        ready = json.loads(line) if line.strip() else {}
        if ready.get("event") != "ready":
            raise RuntimeError(f"the centre simulator did not start (log: {self.log_file})")
        return int(ready["port"])

    def _ask(self, command: str) -> None:
        """(thread) Have the centre send `command` to the station; note its answer."""
        if self.process is None or self.process.stdin is None or self.process.stdout is None:
            return
        station = f"{COUNTY}/{STATION_427}" if self.protocol == "sl427" else STATION_651
        self.process.stdin.write(json.dumps({"cmd": "send", "station": station,
                                             "command": command, "timeout": 5}) + "\n")
        self.process.stdin.flush()
        reply = json.loads(self.process.stdout.readline() or "{}")
        result = reply.get("result") if reply.get("ok") else reply.get("error")
        self.answers.append(f"{command}: {json.dumps(result, ensure_ascii=False)[:150]}")

    def frame(self, direction: str, data: bytes) -> None:
        """Every frame the uplink sends ("up") or takes ("down")."""
        text = f"{direction} {data.hex().upper()}"
        with self._lock:
            if self.frames_out is not None:
                self.frames_out.write(text + "\n")
                self.frames_out.flush()
            self.recent = [*self.recent[-(SHOWN_FRAMES - 1):], text]

    # --- the demo's delivery interface -----------------------------------------------------

    async def start(self, demo_started: float, submit: Any = None) -> None:
        port = await asyncio.to_thread(self._start_centre)
        uplink = centre_uplink(self.protocol, port)
        self.config = self.config.model_copy(update={"uplinks": [uplink]})
        self.link = centre_link(self.config, uplink, self.folder, submit, self.frame)
        self.task = asyncio.create_task(self.link.run())
        self._started = demo_started

    def state_key(self) -> tuple[str, bool]:
        status = self.link.status if self.link is not None else None
        if not self._asked and time.monotonic() - self._started > 12.0:
            self._asked = True
            threading.Thread(target=lambda: [self._ask(q) for q in QUERIES], daemon=True,
                             name="centre-queries").start()
        return ("UP" if status and status.connected else "DOWN",
                bool(status and status.state == "backing off"))

    def lines(self) -> list[str]:
        status = self.link.status if self.link is not None else None
        name = "SL/T 427-2021" if self.protocol == "sl427" else "SL 651-2014 (HEX)"
        if status is None:
            return [f"centre: {name} simulator starting"]
        lines = [f"centre: {name} simulator on 127.0.0.1:{self.link.settings.port}, "  # type: ignore[union-attr]
                 f"{'connected' if status.connected else 'not connected'}, {status.state}; "
                 f"reports acknowledged {status.reports} (cursor seq {status.acked_seq}), "
                 f"frames up {status.frames_up} / down {status.frames_down}, resends "
                 f"{status.resends}, centre commands {status.commands}",
                 f"centre holds: {self.centre_reports()} report frames"]
        with self._lock:
            lines += [f"  {text[:110]}{'…' if len(text) > 110 else ''}" for text in self.recent]
        lines += [f"  centre asked {answer}" for answer in self.answers]
        return lines

    def centre_reports(self) -> int:
        import sqlite3
        with contextlib.suppress(sqlite3.Error), sqlite3.connect(self.db, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM reports WHERE duplicate = 0")
                       .fetchone()[0])
        return 0

    async def finish(self, last_seq: int | None) -> bool:
        """Wait until the centre acknowledged reports up to the store's end (True) or
        DRAIN_TIMEOUT passed (False), then stop the uplink."""
        delivered = False
        if self.link is not None:
            deadline = time.monotonic() + DRAIN_TIMEOUT
            while time.monotonic() < deadline:
                backlog = await asyncio.to_thread(self.link.outbox.backlog, UPLINK_NAME)
                if backlog.last_seq and self.link.status.acked_seq >= backlog.last_seq:
                    delivered = True
                    break
                await asyncio.sleep(0.3)
            self.link.stop()
        if self.task is not None:
            await asyncio.wait({self.task}, timeout=5.0)
        return delivered

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.frames_out is not None:
            self.frames_out.close()

    def done_line(self, delivered: bool) -> str:
        return ("every reading committed this run was reported to the centre and acknowledged"
                if delivered else f"NOT every reading was acknowledged by the centre within "
                f"{DRAIN_TIMEOUT:.0f} s (centre log: {self.log_file})")

