"""Who holds a serial port: the processes with it open, found in /proc (as `fuser` does)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Holder:
    """A process that has the port open."""

    pid: int
    command: str  # its command line, as `ps` shows it

    def __str__(self) -> str:
        return f"PID {self.pid} ({self.command})"


def _command(pid: int) -> str:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:120]


def _pty_index(path: str) -> int | None:
    """N for /dev/pts/N, else None."""
    head, _, number = path.rpartition("/")
    return int(number) if head == "/dev/pts" and number.isdigit() else None


def _far_end(proc: Path, pid: int, fds: list[Path], index: int) -> bool:
    """Whether the process holds the master side of pty `index`: it is the other end of the
    line (the simulated well, a socat), not a second program on it. A kernel that does not say
    which pty a master is counts any master."""
    for fd in fds:
        try:
            if os.readlink(fd) not in ("/dev/ptmx", "/dev/pts/ptmx"):
                continue
            info = (proc / str(pid) / "fdinfo" / fd.name).read_text()
        except OSError:
            continue
        tty = [line.split()[1] for line in info.splitlines() if line.startswith("tty-index:")]
        if not tty or int(tty[0]) == index:
            return True
    return False


def holders(port: str, proc: Path = PROC) -> list[Holder]:
    """The other processes that have `port` open (this process, and for a pty the process at its
    master end, left out); [] when none, when the port is not a local file, or when /proc cannot
    be read."""
    try:
        target = os.path.realpath(port)
        target_stat = os.stat(target)
    except OSError:
        return []
    found = []
    own = os.getpid()
    try:
        pids = [int(entry.name) for entry in proc.iterdir() if entry.name.isdigit()]
    except OSError:
        return []
    for pid in pids:
        if pid == own:
            continue
        try:
            fds = list((proc / str(pid) / "fd").iterdir())
        except OSError:  # gone, or another user's process we may not look into
            continue
        for fd in fds:
            try:
                opened = os.stat(fd)
            except OSError:
                continue
            if (opened.st_dev, opened.st_ino) == (target_stat.st_dev, target_stat.st_ino):
                index = _pty_index(target)
                if index is None or not _far_end(proc, pid, fds, index):
                    found.append(Holder(pid, _command(pid)))
                break
    return found


def busy_message(port: str) -> str | None:
    """": held by PID n (command)…; stop it first" when another process has `port` open, else
    None."""
    held = holders(port)
    if not held:
        return None
    return (f": held by {', '.join(map(str, held))}; two programs on one RS-485 line garble "
            "each other's frames: stop the other first (e.g. `systemctl stop wellgate`)")
