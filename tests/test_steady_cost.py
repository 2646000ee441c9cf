"""What the running gateway must not do per poll or per second (issue 16: steady-state CPU).

Each test reproduces a steady-state cost found by profiling `wellgate run` on the peer
workloads (bench/steady_cpu.py) and fails if it comes back."""

from __future__ import annotations

import subprocess

import pytest

from gateway import wallclock


@pytest.fixture
def spawned(monkeypatch) -> list:
    """Every process started through subprocess.Popen while the test runs (they still run)."""
    calls: list = []
    real = subprocess.Popen

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            calls.append(args[0] if args else kwargs.get("args"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", Counting)
    return calls


def test_the_kernels_clock_flag_is_read_without_starting_a_process(spawned) -> None:
    # Found: every kernel_synchronised() (twice a second in `wellgate run`: the pollers'
    # ClockState and the daemon's ClockWatch) looked libc up by name with
    # ctypes.util.find_library, which runs `ldconfig -p` in a child process and parses its
    # output with a regex: ~40 % of the gateway's steady CPU on the TCP workload.
    first = wallclock.kernel_synchronised()
    assert first[0] in (0, 1), first  # adjtimex answered, as on any Linux
    spawned.clear()  # loading the library once may ask the loader's cache on a non-glibc system
    state = wallclock.ClockState(every=0.0)  # asks the kernel at every call
    for _ in range(20):
        state.unsynchronised()
        assert wallclock.kernel_synchronised()[0] == first[0]
    assert spawned == []
