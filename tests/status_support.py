"""A real `wellgate run` with [status] against the simulator process, for the status page's
tests and docs/make_screenshot.py: the site's three meters, accounting with an allocation, an
MQTT uplink whose broker is down (so that it has a backlog and an error to show)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from accounting_support import write_site
from uplink_support import free_port

WELLGATE = [sys.executable, "-m", "gateway"]
TOKEN = "f3a9c2e41b7d4a0e9c5b8d2f6a1e7c30"
EXTRA = """
[well.accounting.allocation]
annual_m3 = 20000
thresholds_percent = [80, 100]

[status]
listen = "127.0.0.1:{port}"
token_file = "status.token"

[[uplinks]]
name = "county"
type = "mqtt"
host = "127.0.0.1"
port = {broker}
tls = false
insecure_unsigned_acks = true
batch_max_age = 0.5
backoff_initial = 1.0
timeout = 2.0
"""


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    """condition()'s first truthy result, polled every 0.1 s; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


class StatusSite:
    """The simulator and the gateway as processes; stop() ends both (SIGTERM, then SIGKILL)."""

    def __init__(self, folder: Path, time_scale: float = 1.0) -> None:
        self.folder = folder
        self.port = free_port()
        extra = EXTRA.format(port=self.port, broker=free_port())
        self.simulator = subprocess.Popen(
            [*WELLGATE, "simulate", "--config",
             str(write_site(folder, extra, name="simulated.toml")),
             "--time-scale", str(time_scale)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.gateway: subprocess.Popen[str] | None = None
        ready = json.loads(self.simulator.stdout.readline())
        self.config = write_site(folder, extra, port=ready["lines"]["rs485-1"], poll=0.5,
                                 interval=10)
        self.config.chmod(0o600)
        token = folder / "status.token"
        token.write_text(TOKEN + "\n", encoding="utf-8")
        token.chmod(0o600)
        subprocess.run([*WELLGATE, "init", "--config", str(self.config)], check=True,
                       capture_output=True, timeout=60)
        self.log = open(folder / "gateway.log", "w")  # noqa: SIM115 (closed in stop)
        self.gateway = subprocess.Popen([*WELLGATE, "run", "-v", "--config", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"

    def command(self, **command: Any) -> Any:
        """One control command to the simulator, and its answer."""
        assert self.simulator.stdin is not None and self.simulator.stdout is not None
        self.simulator.stdin.write(json.dumps(command) + "\n")
        self.simulator.stdin.flush()
        answer = json.loads(self.simulator.stdout.readline())
        assert answer["ok"], answer
        return answer["result"]

    def get(self, path: str, token: str | None = TOKEN, **options: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.get(self.url + path, headers=headers, timeout=10, **options)

    def status(self) -> dict[str, Any]:
        response = self.get("/api/status")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_serving(self, timeout: float = 60.0) -> None:
        """Until the page answers and every meter has a value and accounting a checkpoint."""
        def ready() -> bool:
            assert self.gateway is not None and self.gateway.poll() is None, self.log_text()
            try:
                data = self.status()
            except httpx.HTTPError:
                return False
            return (data["water"] is not None and all(
                meter["state"] == "online" and meter["values"][0]["value"] is not None
                for meter in data["meters"]))
        wait_for(ready, timeout, "the status page with every meter online and a checkpoint")

    def log_text(self) -> str:
        return (self.folder / "gateway.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in (self.gateway, self.simulator):
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        self.log.close()


CHROMIUM = "/usr/bin/chromium"  # Debian's package; never a browser downloaded by playwright
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
PHONE = {"width": 390, "height": 844}  # CSS pixels of a common phone


def launch_chromium(playwright: Any) -> Any:
    """Headless Debian chromium under playwright (a fresh temporary profile each launch)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)
