"""`wellgate calibrate` against the simulated well: a reference flow meter on the bus, readings
arriving in the store while the command watches; it recovers the simulator's k (and η) within the
uncertainty it states, stores it as the next coefficient version, and refuses a run in which the
pump stopped, saying so."""

from __future__ import annotations

import re
import threading
import time

import pytest
from accounting_support import POINTS, SimulatedFeed, site, stored
from click.testing import CliRunner

from gateway.accounting.service import AccountingRoom
from gateway.cli import cli

REFERENCE = """
[[devices]]
name = "clamp-on"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 5
poll_interval = 10.0
"""
CALIBRATION = """
[well.accounting.calibration]
reference_device = "clamp-on"
runs_required = 2
"""
WITH_REFERENCE = {**POINTS, "clamp-on": ("forward_total",)}


def ok_clock():
    return 1, "test clock"


class Pumping:
    """Feeds the store in the background: the well pumps without a stop, 60 simulated seconds
    at a time, as a gateway would commit them (optionally stopping the pump for a while)."""

    def __init__(self, feed: SimulatedFeed, stop_at: float | None = None,
                 stop_for: float = 0.0) -> None:
        self.feed, self.stop_at, self.stop_for = feed, stop_at, stop_for
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._done.is_set():
            t = self.feed.t
            if self.stop_at is not None and self.stop_at <= t < self.stop_at + self.stop_for:
                self.feed.well.set_pump(False)
            elif self.stop_at is not None and t >= self.stop_at + self.stop_for:
                self.feed.well.set_pump(None)
            self.feed.run(60, every=10)
            time.sleep(0.005)

    def __enter__(self) -> Pumping:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(10)


@pytest.fixture
def steady(tmp_path):
    """3 h of pumping (drawdown settled at equilibrium) before the calibration starts."""
    path = tmp_path / "site.toml"
    config = site(tmp_path, REFERENCE + CALIBRATION)
    feed = SimulatedFeed(config, points=WITH_REFERENCE, on_seconds=1e9, off_seconds=0)
    feed.run(3 * 3600, every=10)
    yield path, feed
    feed.close()


def test_calibration_recovers_the_simulators_coefficient_within_its_uncertainty(steady):
    path, feed = steady
    with Pumping(feed):
        result = CliRunner().invoke(cli, ["calibrate", "--config", str(path), "--yes"],
                                    catch_exceptions=False)
    out = result.output
    assert result.exit_code == 0, out
    truth = feed.well.snapshot()
    assert re.search(r"run 1 accepted: k = [\d.]+ ± [\d.]+ m³/kWh", out)
    assert re.search(r"run 2 accepted", out)
    found = re.search(r"result: k = ([\d.]+) ± ([\d.]+) m³/kWh.*η = ([\d.]+) ± ([\d.]+) "
                      r"at H_cal ([\d.]+) m", out)
    assert found, out
    k, u, eta, eta_u, head = map(float, found.groups())
    assert abs(k - truth.coefficient_m3_per_kwh) <= u  # within the stated uncertainty
    assert 0.005 < u / k < 0.03  # about 1.6 %: two meters of ±1 % class, steady runs
    assert abs(eta - 0.45) <= eta_u
    assert head == pytest.approx(truth.head_m, abs=0.05)
    assert "stored as coefficient version 2" in out  # version 1 is the config's
    stored_records = stored(feed.state_dir, "coefficient")
    assert len(stored_records) == 1
    coefficient = stored_records[0].data["coefficient"]
    assert (coefficient["version"], coefficient["method"]) == (2, "calibration")
    assert coefficient["value_m3_per_kwh"] == pytest.approx(k, abs=1e-4)
    assert coefficient["uncertainty_m3_per_kwh"] == pytest.approx(u, abs=1e-4)
    assert len(stored_records[0].data["runs"]) == 2
    # the accounting room takes it up as the well's coefficient version 2
    room = AccountingRoom.from_config(feed.config, feed.sink, clock_probe=ok_clock)
    room.step()
    assert [c["version"] for c in room.engine.stored_coefficients] == [2]
    assert room.engine.book.valid_at(time.time()).version == 2
    # check-config shows it (as found, it showed only the config's version 1)
    checked = CliRunner().invoke(cli, ["check-config", str(path)], catch_exceptions=False)
    assert (f"stored coefficient (wellgate calibrate): v2 "
            f"{coefficient['value_m3_per_kwh']:.4f} ± {coefficient['uncertainty_m3_per_kwh']:.4f}"
            " m³/kWh, valid from ") in checked.output, checked.output


def test_a_run_in_which_the_pump_stopped_is_refused_with_the_reason(steady):
    path, feed = steady
    with Pumping(feed, stop_at=feed.t + 600, stop_for=300):
        result = CliRunner().invoke(
            cli, ["calibrate", "--config", str(path), "--runs", "1"], input="n\n",
            catch_exceptions=False)
    out = result.output
    assert re.search(r"run 1 refused: pump not running throughout: part \d+ of 10 drew "
                     r"[\d.]+ kW, below [\d.]+ kW", out), out
    assert "run 2 accepted" in out  # the next run, with the pump back on
    assert "store it as coefficient version 2, valid from now? [y/N]: n\nnot stored" in out
    assert result.exit_code == 1
    assert stored(feed.state_dir, "coefficient") == []  # not confirmed: nothing stored


def test_a_run_shorter_than_the_config_allows_or_no_reference_is_refused(tmp_path):
    path = tmp_path / "site.toml"
    site(tmp_path, REFERENCE + CALIBRATION)
    result = CliRunner().invoke(cli, ["calibrate", "--config", str(path), "--duration", "600"])
    assert result.exit_code == 2
    assert "--duration 600 s is shorter than the 1800 s a run must last" in result.output
    site(tmp_path)
    result = CliRunner().invoke(cli, ["calibrate", "--config", str(path)])
    assert result.exit_code == 2
    assert "set [well.accounting.calibration] reference_device" in result.output
