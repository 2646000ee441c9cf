"""The demo's delivery to a platform: a local reference receiver (HTTPS), the gateway's uplink to
it, and an outage in the middle of the run, so the screen shows the backlog growing while the
receiver is down and draining when it is back, and at the end every record delivered once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from gateway.config import GatewayConfig, HttpsUplink
from gateway.platform.local import LocalPlatform, receiver_available
from gateway.store.keys import public_pem
from gateway.uplink.service import RunningUplinks, start_uplinks
from gateway.uplink.status import format_status, uplink_status

UPLINK_NAME = "city"
OUTAGE_SHARE = (0.35, 0.65)  # of a --seconds run: the receiver is down in between
OUTAGE_DEFAULT = (20.0, 35.0)  # seconds after the start, for a run until Ctrl-C
MIN_RUN_FOR_OUTAGE = 20.0  # shorter runs show delivery without an outage
DRAIN_TIMEOUT = 20.0  # s: at the end, how long to wait for the last records to be acknowledged


def outage_window(seconds: float | None) -> tuple[float, float] | None:
    """When the demo takes its receiver down, in seconds after the start (None: not at all)."""
    if seconds is None:
        return OUTAGE_DEFAULT
    if seconds < MIN_RUN_FOR_OUTAGE:
        return None
    return seconds * OUTAGE_SHARE[0], seconds * OUTAGE_SHARE[1]


class DemoDelivery:
    """A local receiver and the uplink to it; `config` is the demo's config with that uplink."""

    def __init__(self, config: GatewayConfig, folder: Path, public_key_pem: bytes,
                 seconds: float | None) -> None:
        self.platform = LocalPlatform(folder / "platform", config.well.id, public_key_pem)
        uplink = HttpsUplink(name=UPLINK_NAME, type="https", url=self.platform.url,
                             ca_file=str(self.platform.ca_file),
                             platform_key=str(self.platform.ack_public_file),
                             batch_max_age=1.0, timeout=10.0,
                             backoff_initial=0.5, backoff_max=2.0)
        gateway = config.gateway.model_copy(update={"runtime_dir": str(folder / "run"),
                                                    "state_dir": str(folder)})
        self.config = config.model_copy(update={"uplinks": [uplink], "gateway": gateway})
        self.state_dir = folder
        self.outage = outage_window(seconds)
        self.uplinks: RunningUplinks | None = None
        self._started = 0.0
        self._cancel = threading.Event()
        self._outage_thread: threading.Thread | None = None

    @classmethod
    def for_demo(cls, config: GatewayConfig, folder: Path, key, seconds: float | None,
                 wanted: bool) -> tuple[DemoDelivery | None, str]:
        """The delivery, or None and why not."""
        if not wanted:
            return None, "delivery: off (--no-uplink)"
        if not receiver_available():
            return None, ("delivery: off (the reference receiver needs the platform extra: "
                          "pip install 'wellgate[platform]')")
        return cls(config, folder, public_pem(key.public_key()), seconds), ""

    async def start(self, demo_started: float) -> None:
        """Start the receiver (waits until it listens) and the uplink; call from the loop. The
        outage is timed from `demo_started` (time.monotonic())."""
        await asyncio.to_thread(self.platform.start)
        self.uplinks = start_uplinks(self.config, self.state_dir, Path(self.config.gateway
                                                                          .runtime_dir))
        self._started = demo_started
        if self.outage is not None:
            self._outage_thread = threading.Thread(target=self._run_outage, name="demo-outage",
                                                   daemon=True)
            self._outage_thread.start()

    def _run_outage(self) -> None:
        """(thread) Take the receiver down for the outage window, then bring it back."""
        assert self.outage is not None
        down_at, up_at = (self._started + t for t in self.outage)
        if self._cancel.wait(max(0.0, down_at - time.monotonic())):
            return
        self.platform.stop(kill=True)
        self._cancel.wait(max(0.0, up_at - time.monotonic()))
        self.platform.start()

    @property
    def receiver_state(self) -> str:
        return "UP" if self.platform.running else "DOWN"

    def state_key(self) -> tuple[str, bool]:
        """What a log of the demo shows a new screen for: the receiver up or down, and the
        uplink backing off after a failure or not."""
        failing = self.uplinks is not None and any(
            engine.status.state == "backing off" for engine in self.uplinks.uplinks.engines)
        return self.receiver_state, failing

    def lines(self) -> list[str]:
        """The receiver's state, the uplink's backlog and last success/error, and what the
        receiver has stored."""
        state = self.receiver_state
        plan = ""
        if self.outage is not None:
            plan = (f" (demo outage {self.outage[0]:.0f}-{self.outage[1]:.0f} s, the receiver "
                    "killed: the gateway keeps every record and catches up after)")
        live = self.uplinks.uplinks.snapshot() if self.uplinks is not None else None
        lines = [f"platform: local receiver {self.platform.url} {state}{plan}",
                 format_status(uplink_status(self.config, live=live))]
        report = self.platform.report()
        if report is None or report.acked_seq is None:
            lines.append("platform has stored: nothing yet")
        else:
            gaps = ", ".join(f"{a}..{b}" for a, b in report.gaps) or "none"
            lines.append(f"platform has stored: {report.records} records, seq "
                         f"{report.first_seq}..{report.acked_seq}, each verified (signature, "
                         f"chain); gaps: {gaps}; refused batches: {report.rejected}")
        return lines

    async def finish(self, last_seq: int | None) -> bool:
        """End the outage, wait until the receiver acknowledged `last_seq` (True) or
        DRAIN_TIMEOUT passed (False), then stop the uplink."""
        self._cancel.set()
        if self._outage_thread is not None:
            await asyncio.to_thread(self._outage_thread.join)
        if not self.platform.running:
            await asyncio.to_thread(self.platform.start)
        delivered = False
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while last_seq and time.monotonic() < deadline:
            report = self.platform.report()
            if report is not None and (report.acked_seq or 0) >= last_seq:
                delivered = True
                break
            await asyncio.sleep(0.2)
        if self.uplinks is not None:
            await self.uplinks.close()
        return delivered

    def close(self) -> None:
        self._cancel.set()
        self.platform.close()
