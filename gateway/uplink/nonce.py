"""Batch nonces that only grow, across restarts: reserved in blocks in <state_dir>/uplink.nonce.

The receiver refuses a batch whose nonce is not above the last one it accepted (a replay), so a
restarted gateway must never reuse one. The file holds the first nonce not yet reserved; a
process reserves RESERVE nonces at a time (one small fsync'd write per RESERVE batches, not per
batch) and starts after the reservation a crash left behind, so a nonce is never issued twice.
The file is the gateway's alone: written 0600 whatever the umask, narrowed at start if wider.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from gateway.store.lost import NONCE_FILE
from gateway.store.modes import STATE_FILE_MODE, narrow, open_private

__all__ = ["NONCE_FILE", "RESERVE", "NonceSource"]
RESERVE = 1024


class NonceSource:
    """Thread-safe; one per gateway process, shared by every destination."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / NONCE_FILE
        narrow(self.path, STATE_FILE_MODE)
        self._lock = threading.Lock()
        self._next = self._read()
        self._reserved = self._next

    def _read(self) -> int:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return 1
        try:
            return max(1, int(text))
        except ValueError:
            raise ValueError(f"{self.path} holds {text[:40]!r}; expected the next batch nonce, "
                             "a whole number") from None

    def _reserve(self, upto: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{upto}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        self._reserved = upto

    def next(self) -> int:
        with self._lock:
            if self._next >= self._reserved:
                self._reserve(self._next + RESERVE)
            nonce = self._next
            self._next += 1
            return nonce

    def skip_past(self, nonce: int) -> None:
        """Issue only nonces above `nonce` from now on (the receiver saw a higher one)."""
        with self._lock:
            self._next = max(self._next, nonce + 1)
