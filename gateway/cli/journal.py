"""Log records to the systemd journal's native protocol, with structured fields.

When systemd connects stderr to the journal it sets $JOURNAL_STREAM to stderr's "device:inode"
(systemd.exec(5)); then each record goes as one datagram to the journal's socket instead, so that
it keeps its fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, CODE_FILE/LINE/FUNC, LOGGER (the
Python logger) and, where the code gave them, DEVICE, BUS and UPLINK (`journalctl DEVICE=
flow-meter`). The datagram is "KEY=value\\n" per field, or for a value holding a newline "KEY\\n",
its length as 64-bit little-endian, the value and "\\n" (systemd's native protocol,
https://systemd.io/JOURNAL_NATIVE_PROTOCOL/). A record the socket does not take (no journal,
too big for one datagram) is written to stderr as a plain "<N>" line instead.

Test seam: $WELLGATE_JOURNAL_SOCKET names another socket than /run/systemd/journal/socket.
"""

from __future__ import annotations

import logging
import os
import socket
import struct
from collections.abc import Mapping

JOURNAL_SOCKET = "/run/systemd/journal/socket"
SOCKET_ENV = "WELLGATE_JOURNAL_SOCKET"
IDENTIFIER = "wellgate"
STRUCTURED = (("device", "DEVICE"), ("bus", "BUS"), ("uplink", "UPLINK"))  # record attr, field
# syslog priorities (sd-daemon(3))
PRIORITIES = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
              logging.DEBUG: 7}


def priority(levelno: int) -> int:
    """The syslog priority of a logging level."""
    return next((value for level, value in PRIORITIES.items() if levelno >= level), 7)


def stderr_is_journal(environ: Mapping[str, str] = os.environ) -> bool:
    """True when $JOURNAL_STREAM names this process's stderr (not one inherited by accident)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        found = os.fstat(2)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (int(device), int(inode))


def encode(fields: list[tuple[str, str]]) -> bytes:
    """One native-protocol datagram of `fields`."""
    out = bytearray()
    for key, value in fields:
        data = value.encode("utf-8", "replace")
        if b"\n" in data:
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    return bytes(out)


class JournalHandler(logging.Handler):
    """Sends each record to the journal socket at `path`; `fallback` takes what it refuses."""

    def __init__(self, path: str, fallback: logging.Handler) -> None:
        super().__init__()
        self.path = path
        self.fallback = fallback
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def fields(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
        fields = [("MESSAGE", message), ("PRIORITY", str(priority(record.levelno))),
                  ("SYSLOG_IDENTIFIER", IDENTIFIER), ("LOGGER", record.name),
                  ("CODE_FILE", record.pathname), ("CODE_LINE", str(record.lineno)),
                  ("CODE_FUNC", record.funcName or "")]
        for attribute, field in STRUCTURED:
            value = getattr(record, attribute, None)
            if value is not None:
                fields.append((field, str(value)))
        return fields

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sock.sendto(encode(self.fields(record)), self.path)
        except OSError:  # no journal there, or too big for a datagram: a plain line instead
            self.fallback.handle(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.sock.close()
        super().close()


def journal_handler(fallback: logging.Handler,
                    environ: Mapping[str, str] = os.environ) -> JournalHandler | None:
    """The handler for the journal when stderr is the journal's and its socket is there."""
    path = environ.get(SOCKET_ENV) or JOURNAL_SOCKET
    if not stderr_is_journal(environ) or not os.path.exists(path):
        return None
    return JournalHandler(path, fallback)
