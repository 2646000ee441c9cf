"""bench/peer_compare.py's own arithmetic: values counted in ThingsBoard gateway telemetry messages
(the format of its gateway MQTT API, written out by hand here) and the wellgate ÷ peer ratios.
No peer is installed or run here; the bench itself does that."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "peer_compare", Path(__file__).resolve().parent.parent / "bench" / "peer_compare.py")
peer_compare = importlib.util.module_from_spec(SPEC)
sys.modules["peer_compare"] = peer_compare  # its dataclasses look their module up there
SPEC.loader.exec_module(peer_compare)


def test_values_are_counted_per_device_with_and_without_timestamps() -> None:
    message = json.dumps({
        "Device A": [{"ts": 1483228800000, "values": {"temperature": 42, "humidity": 80}},
                     {"ts": 1483228801000, "values": {"temperature": 43.5}}],
        "Device B": [{"ts": 1483228800000, "values": {"voltage": 230.1, "ok": True,
                                                      "note": "text"}}],
        "Device C": [{"temperature": 41}],
    }).encode()
    assert peer_compare.count_telemetry(message) == {"Device A": 3, "Device B": 1, "Device C": 1}


def test_what_is_not_telemetry_counts_nothing() -> None:
    assert peer_compare.count_telemetry(b"not json") == {}
    assert peer_compare.count_telemetry(b"[1, 2]") == {}
    assert peer_compare.count_telemetry(b'{"Device A": ["x", 3]}') == {}


def result(gateway: str, cpu: float, rss: float, delivered: int, workload: str = "tcp"):
    return peer_compare.Result(1, workload, gateway, 60.0, cpu, rss, delivered, 2880, 0)


def test_ratios_are_wellgate_over_peer_summed_over_rounds() -> None:
    results = [result("wellgate", 2.0, 60.0, 2000), result("wellgate", 4.0, 64.0, 2000),
               result("ThingsBoard", 9.0, 80.0, 1000), result("ThingsBoard", 11.0, 100.0, 1500)]
    ratio = peer_compare.ratios(results)["tcp"]
    # CPU per value: (6 / 4000) / (20 / 2500) = 0.1875; peak RSS 64 / 100; values 4000 / 2500
    assert math.isclose(ratio["cpu_per_value"], 0.1875)
    assert math.isclose(ratio["peak_rss"], 0.64)
    assert math.isclose(ratio["delivered"], 1.6)


def test_a_peer_that_delivered_nothing_gives_no_cpu_ratio() -> None:
    ratio = peer_compare.ratios([result("wellgate", 2.0, 60.0, 2000),
                                 result("ThingsBoard", 9.0, 80.0, 0)])["tcp"]
    assert math.isnan(ratio["cpu_per_value"]) and math.isnan(ratio["delivered"])


def test_the_cpu_of_a_child_that_lived_between_two_samples_counts() -> None:
    # Found (issue 16, steady-state CPU): the tree's CPU was the sum of what each process had
    # used when last seen, so a child that started and was reaped between two samples (the
    # baseline's `ldconfig -p`, twice a second) counted nothing. A parent that runs busy
    # children between the two samples: the tree's CPU includes theirs (its cutime, cstime).
    import subprocess

    busy = "import time\nend = time.process_time() + 0.15\nwhile time.process_time() < end: pass"
    parent = ("import os, subprocess, sys\n"
              f"for _ in range(4): subprocess.run([sys.executable, '-c', {busy!r}])\n"
              "t = os.times(); print(t.children_user + t.children_system, flush=True)\n"
              "sys.stdin.read()\n")
    process = subprocess.Popen([sys.executable, "-c", parent], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        meter = peer_compare.TreeMeter(process.pid)
        meter.sample()
        children = float(process.stdout.readline())  # every child has run and been reaped
        meter.sample()
    finally:
        process.stdin.close()
        process.wait(10)
    assert children >= 0.5  # 4 × 0.15 s, at the clock tick's resolution
    assert meter.cpu_seconds >= children
