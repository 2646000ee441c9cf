"""Helpers for the centre simulator's tests: the simulator as a real process, and a hand-made
station client on a real TCP socket that builds and reads frames with the drivers' codecs."""

from __future__ import annotations

import json
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from gateway.platform.centre.db import CentreDb

WELLGATE = [sys.executable, "-m", "gateway"]
DRIVER_CHECKS = Path(__file__).resolve().parent / "drivers"  # the drivers' vector tables
if str(DRIVER_CHECKS) not in sys.path:
    sys.path.insert(0, str(DRIVER_CHECKS))


class CentreProcess:
    """`wellgate platform center` started with --port 0; its ready line, control channel, db."""

    def __init__(self, tmp_path: Path, protocol: str, *options: str) -> None:
        self.db_path = tmp_path / f"centre-{protocol}.db"
        self.process = subprocess.Popen(
            [*WELLGATE, "platform", "center", "--protocol", protocol, "--port", "0", "--db",
             str(self.db_path), *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = json.loads(self._line(30))
        assert self.ready["event"] == "ready", self.ready
        self.port = int(self.ready["port"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def _line(self, timeout: float) -> str:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from the centre in {timeout} s; stderr so far: "
                                 f"{self._stderr()}") from None

    def _stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        return self.process.stderr.read()

    def control(self, command: dict[str, Any], timeout: float = 15) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return json.loads(self._line(timeout))

    def ok(self, command: dict[str, Any], timeout: float = 15) -> Any:
        reply = self.control(command, timeout)
        assert reply["ok"], reply
        return reply["result"]

    def db(self) -> CentreDb:
        return CentreDb(self.db_path, create=False)

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self.control({"cmd": "stop"}, timeout=10)
                self.process.wait(10)
            except (AssertionError, OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> CentreProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Station:
    """A station's TCP connection: send frames, take whole frames back (find: the driver's)."""

    def __init__(self, port: int, find: Any) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.find = find
        self.buffer = bytearray()

    def send(self, frame: bytes) -> None:
        self.sock.sendall(frame)

    def _fill(self, deadline: float) -> bool:
        """Read once before the deadline; False when the time is up or the peer closed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return False
        if not data:
            raise ConnectionResetError("the centre closed the connection")
        self.buffer += data
        return True

    def receive(self, timeout: float = 5) -> bytes | None:
        """The next whole frame from the centre (stray bytes before it dropped); None if none
        came in time."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(self.buffer)
            if found is not None:
                start, end = found
                frame = bytes(self.buffer[start:end])
                del self.buffer[:end]
                return frame
            if not self._fill(deadline):
                return None

    def raw(self, size: int, timeout: float = 5) -> bytes:
        """At least `size` bytes as they came (for stray bytes)."""
        deadline = time.monotonic() + timeout
        while len(self.buffer) < size and self._fill(deadline):
            pass
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def closed_by_peer(self, timeout: float = 5) -> bool:
        """True when the centre closes the connection within the timeout."""
        deadline = time.monotonic() + timeout
        try:
            while self._fill(deadline):
                pass
        except (ConnectionResetError, ConnectionAbortedError):
            return True
        return False

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Station:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def post(centre: CentreProcess, command: dict[str, Any]) -> None:
    """Write a control command without waiting for its answer (a `send` waits for the station,
    which the test plays after this)."""
    assert centre.process.stdin is not None
    centre.process.stdin.write(json.dumps(command) + "\n")
    centre.process.stdin.flush()


def answer(centre: CentreProcess, timeout: float = 15) -> dict[str, Any]:
    """The next control answer line."""
    return json.loads(centre._line(timeout))
