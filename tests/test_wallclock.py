"""The kernel's clock flag (adjtimex) as gateway/wallclock.py reads it, without a process spawn."""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess

from gateway import wallclock


def test_asking_the_kernel_for_the_clock_flag_starts_no_process(monkeypatch):
    # Found as a short-lived child of `wellgate run` every second: ctypes.util.find_library("c")
    # runs `ldconfig -p` at each call, and the flag is asked once a second or more.
    by_name = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    expected = by_name.adjtimex(ctypes.create_string_buffer(512))  # the flag, found the old way
    monkeypatch.setattr(wallclock._seam, "path", None)
    wallclock._libc.cache_clear()

    def no_process(*args, **kwargs):
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    for _ in range(3):
        synchronised, how = wallclock.kernel_synchronised()
        assert synchronised == (0 if expected == wallclock.TIME_ERROR else 1), how
