"""sd_notify: telling systemd over $NOTIFY_SOCKET that the gateway is ready, alive, reloading,
stopping.

The protocol is one datagram of newline-separated KEY=value lines to the Unix socket named in
$NOTIFY_SOCKET (a name starting with "@" is in the abstract namespace); nothing is sent when the
variable is unset. $WATCHDOG_USEC is the unit's WatchdogSec in microseconds; a $WATCHDOG_PID
naming another process means the watchdog is not ours (sd_watchdog_enabled(3), sd_notify(3)).
A reload is RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in µs> when it starts and READY=1
when it is done (systemd's reload protocol, sd_notify(3)). Sending never raises into the caller:
a failure is logged once, then only at DEBUG.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

log = logging.getLogger(__name__)


class Notifier:
    """Sends sd_notify messages to one address; does nothing without one."""

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        self.address = address or None
        self.watchdog = watchdog  # seconds systemd waits for WATCHDOG=1, or None
        self._failed = False
        self.was_ready = False  # READY=1 has been sent: a reload may say RELOADING=1

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Notifier:
        """The notifier systemd asked for: $NOTIFY_SOCKET, $WATCHDOG_USEC, $WATCHDOG_PID."""
        return cls(environ.get("NOTIFY_SOCKET"), watchdog_interval(environ))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send KEY=value fields as one message; True when it was sent."""
        if self.address is None:
            return False
        message = "\n".join(fields).encode()
        address = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)  # a full queue costs this message, never the event loop
                sock.sendto(message, address)
        except (OSError, ValueError) as exc:
            level = logging.DEBUG if self._failed else logging.WARNING
            log.log(level, "cannot notify systemd at NOTIFY_SOCKET=%s (%s); sent %r",
                    self.address, exc, fields[0] if fields else "")
            self._failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        self.was_ready = True
        return self.send("READY=1", f"STATUS={status}")

    def reloading(self, status: str = "reloading") -> bool:
        """A reload starts (READY=1 ends it); MONOTONIC_USEC is when, on CLOCK_MONOTONIC."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}", f"STATUS={status}")

    def alive(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, status: str) -> bool:
        return self.send(f"STATUS={status}")

    def stopping(self, status: str = "stopping") -> bool:
        return self.send("STOPPING=1", f"STATUS={status}")


def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
    """Seconds systemd's watchdog waits for WATCHDOG=1, or None when there is no watchdog for
    this process (unset, not a positive integer, or $WATCHDOG_PID names another process)."""
    usec = environ.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = environ.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        value = 0
    if value <= 0:
        log.warning("WATCHDOG_USEC=%r is not a positive number of microseconds: no watchdog",
                    usec)
        return None
    return value / 1_000_000
