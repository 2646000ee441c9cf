"""A fake systemd for the sd_notify tests: a Unix datagram socket that keeps what it receives."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from pathlib import Path

from uplink_support import wait_until


class FakeSystemd:
    """Binds `address` (a path, or "@name" in the abstract namespace) and records every message
    with the monotonic time it arrived, from a thread, until close()."""

    def __init__(self, address: str | Path) -> None:
        self.address = str(address)
        self.messages: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        name = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        self._sock.bind(name)
        self._sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.messages.append((time.monotonic(), data.decode()))

    def times(self, field: str, after: float = 0.0) -> list[float]:
        """When messages carrying `field` (a whole line, e.g. "WATCHDOG=1") arrived."""
        return [at for at, text in list(self.messages)
                if at >= after and field in text.split("\n")]

    def wait_for(self, field: str, timeout: float = 30.0, after: float = 0.0) -> float:
        wait_until(lambda: self.times(field, after), timeout, f"{field} from the gateway")
        return self.times(field, after)[0]

    def close(self) -> None:
        self._closed.set()
        self._thread.join(2)
        self._sock.close()


def gaps(times: list[float]) -> list[float]:
    """The time between one message and the next."""
    return [b - a for a, b in itertools.pairwise(times)]
