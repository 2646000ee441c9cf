"""`wellgate simulate` on a site config as a process for a test: its ports by bus, then stopped."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

WELLGATE = [sys.executable, "-m", "gateway"]
DEMO = Path(__file__).resolve().parent.parent / "config" / "examples" / "demo.toml"


@contextlib.contextmanager
def simulated_lines(config: Path = DEMO, *options: str) -> Iterator[dict[str, str]]:
    """Run `wellgate simulate --config CONFIG [OPTIONS]` and yield its ready line's ports by bus
    (the first output line); the process is ended (SIGTERM, then SIGKILL) on the way out."""
    process = subprocess.Popen([*WELLGATE, "simulate", "--config", str(config), *options],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        assert ready["event"] == "ready", ready
        yield ready["lines"]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
