"""Exec a command under the seccomp filters systemd 252 (Debian 12, Raspberry Pi OS 12) makes of a
unit's SystemCallFilter=, SystemCallErrorNumber=, SystemCallArchitectures=native,
RestrictAddressFamilies= and MemoryDenyWriteExecute=yes, for the tests where systemd is not PID 1.

    /usr/bin/python3 unit_sandbox.py UNIT_FILE COMMAND [ARG...]

Run by Debian's python3 with its python3-seccomp (libseccomp's own bindings). The syscall groups
come from `systemd-analyze syscall-filter`, so the allow-list is the one systemd itself would
build on this machine. MemoryDenyWriteExecute is systemd 252's seccomp form: mmap with PROT_WRITE
and PROT_EXEC together, mprotect/pkey_mprotect adding PROT_EXEC and shmat with SHM_EXEC fail;
RestrictAddressFamilies= makes socket() of any other family fail with EAFNOSUPPORT.
"""

from __future__ import annotations

import errno
import mmap
import os
import socket
import subprocess
import sys

import seccomp

SHM_EXEC = 0o100000
# Added by systemd to every allow-list (systemd.exec(5), SystemCallFilter=).
IMPLICIT = ("execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn")
AF_LIMIT = 64  # above every address family number Linux has (AF_MAX is 46 in 6.x)


def syscall_groups() -> dict[str, list[str]]:
    """Every @group of `systemd-analyze syscall-filter` and its entries (names and @groups)."""
    text = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True,
                          check=True).stdout
    groups: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(entry: str, groups: dict[str, list[str]]) -> set[str]:
    """A syscall name, or the names a @group holds with its nested groups."""
    if not entry.startswith("@"):
        return {entry}
    names: set[str] = set()
    for item in groups[entry]:
        names |= expand(item, groups)
    return names


class UnitSettings:
    """What the filters are made of, read from the unit file."""

    def __init__(self, unit: str) -> None:
        groups = syscall_groups()
        self.allowed: set[str] = set()
        self.error = errno.EPERM
        self.mdwe = False
        self.families: set[int] | None = None  # None: any family
        has_filter = False
        with open(unit, encoding="utf-8") as f:
            for line in f:
                key, _, value = line.strip().partition("=")
                if key == "SystemCallFilter" and value.startswith("~"):
                    for entry in value[1:].split():
                        self.allowed -= expand(entry, groups)
                elif key == "SystemCallFilter":
                    has_filter = True
                    for entry in value.split():
                        self.allowed |= expand(entry, groups)
                elif key == "SystemCallErrorNumber":
                    self.error = getattr(errno, value)
                elif key == "MemoryDenyWriteExecute":
                    self.mdwe = value == "yes"
                elif key == "RestrictAddressFamilies":
                    self.families = {int(getattr(socket, name)) for name in value.split()}
        if not has_filter:
            raise SystemExit(f"{unit}: no SystemCallFilter= allow-list")
        self.allowed |= set(IMPLICIT)


def load_mdwe() -> None:
    """systemd 252's MemoryDenyWriteExecute= filter (the default lets everything else through)."""
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    wx = mmap.PROT_WRITE | mmap.PROT_EXEC
    f.add_rule(seccomp.ERRNO(errno.EPERM), "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, wx, wx))
    for call in ("mprotect", "pkey_mprotect"):
        f.add_rule(seccomp.ERRNO(errno.EPERM), call,
                   seccomp.Arg(2, seccomp.MASKED_EQ, mmap.PROT_EXEC, mmap.PROT_EXEC))
    f.add_rule(seccomp.ERRNO(errno.EPERM), "shmat",
               seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
    f.load()


def load_address_families(families: set[int]) -> None:
    """RestrictAddressFamilies=: socket() of a family not listed fails with EAFNOSUPPORT."""
    f = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    for family in range(AF_LIMIT):
        if family not in families:
            f.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket",
                       seccomp.Arg(0, seccomp.EQ, family))
    f.load()


def load_allow_list(allowed: set[str], error: int) -> None:
    """The SystemCallFilter= allow-list; the native architecture only (libseccomp's default)."""
    f = seccomp.SyscallFilter(defaction=seccomp.ERRNO(error))
    for name in sorted(allowed):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):  # a name this architecture has no such call for
            continue
    f.load()


def main() -> None:
    unit, command = sys.argv[1], sys.argv[2:]
    settings = UnitSettings(unit)
    if settings.mdwe:
        load_mdwe()
    if settings.families is not None:
        load_address_families(settings.families)
    load_allow_list(settings.allowed, settings.error)  # last: loading a filter is not allowed
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
