"""Simulator additions for accounting: a meter's points frozen (a stuck totaliser, a dead
power reading), the well's parameters changed mid-run (a lower water table, a worn pump), and
a relay module whose coil stops the pump (FC 1/5), unless its contact is welded."""

from __future__ import annotations

import pytest

from gateway.simulator import SimulatedWell
from gateway.simulator.device import SimDevice


def well() -> SimulatedWell:
    w = SimulatedWell(seed=3, time_scale=0)
    w.add_line("rs485-1")
    w.add_device("rs485-1", SimDevice("flow-meter", "tuf-2000m", slave_id=1))
    w.add_device("rs485-1", SimDevice("pump-energy", "chint-dtsu666", slave_id=2))
    return w


def test_a_frozen_totaliser_stands_still_then_goes_on_from_where_it_stood():
    w = well()
    w.advance(60)
    w.inject("flow-meter", "freeze", points="forward_total")
    held = w.values("flow-meter")["forward_total"]
    pumped_before = w.snapshot().volume_m3
    w.advance(600)
    assert w.values("flow-meter")["forward_total"] == held
    assert w.values("flow-meter")["flow_rate"] > 20  # the rate says water moves
    lost = w.snapshot().volume_m3 - pumped_before
    w.clear("flow-meter", "freeze")
    assert w.values("flow-meter")["forward_total"] == pytest.approx(held, abs=1e-9)
    w.advance(60)
    grown = w.snapshot().volume_m3 - pumped_before - lost
    assert w.values("flow-meter")["forward_total"] == pytest.approx(held + grown, abs=1e-6)
    assert w.faults("flow-meter") == {}


def test_freeze_with_values_makes_a_dead_power_reading():
    w = well()
    w.advance(60)
    w.inject("pump-energy", "freeze", points=["active_power", "import_energy"],
             values={"active_power": 0.0})
    energy = w.values("pump-energy")["import_energy"]
    w.advance(300)
    values = w.values("pump-energy")
    assert values["active_power"] == 0.0 and values["import_energy"] == energy
    assert w.snapshot().power_kw > 7  # the pump itself still draws power
    assert w.faults("pump-energy")["freeze"]["points"] == ["active_power", "import_energy"]


@pytest.mark.parametrize(("params", "message"), [
    ({}, "freeze: points must be a point name or a list of them, got None"),
    ({"points": ["level"]}, "device 'flow-meter' has no point(s) ['level']"),
    ({"points": ["flow_rate"], "values": {"velocity": 0}},
     "freeze: values must map some of ['flow_rate'] to numbers"),
])
def test_freeze_refuses_what_it_cannot_do(params, message):
    with pytest.raises(ValueError) as caught:
        well().inject("flow-meter", "freeze", **params)
    assert message in str(caught.value)


def test_changed_parameters_apply_from_now_and_totals_stay_continuous():
    w = well()
    before = w.advance(1200)
    after = w.set_params(static_depth_m=38.0, efficiency=0.40)
    assert after.volume_m3 == before.volume_m3 and after.energy_kwh == before.energy_kwh
    assert after.depth_to_water_m == pytest.approx(before.depth_to_water_m + 8.0)
    assert after.coefficient_m3_per_kwh == pytest.approx(
        367.1 * 0.40 / after.head_m, rel=1e-3)
    with pytest.raises(ValueError, match="unknown well parameter"):
        w.set_params(depth=3.0)


def test_a_relay_modules_coil_stops_the_pump_unless_its_contact_is_welded():
    from drivers import modbus_rtu
    from gateway.simulator.device import ILLEGAL_DATA_ADDRESS, ILLEGAL_FUNCTION, SlaveFault
    from gateway.simulator.modbus_slave import modbus_reply

    w = well()
    w.add_device("rs485-1", SimDevice("relay", "modbus-relay", slave_id=9))
    w.wire_relay("relay", coil=2)
    w.advance(60)
    assert w.snapshot().pump_on
    write = modbus_rtu.build_write_single_coil(9, 2, True)
    reply, _ = modbus_reply(w.meter("relay"), write, w.snapshot())
    assert reply == write  # FC 5 echoes the request
    assert not w.snapshot().pump_on and w.snapshot().power_kw == 0.0
    read = modbus_rtu.build_read_request(9, modbus_rtu.READ_COILS, 0, 8)
    reply, _ = modbus_reply(w.meter("relay"), read, w.snapshot())
    assert modbus_rtu.parse_read_response(reply, 9, modbus_rtu.READ_COILS, 8) == [
        False, False, True, False, False, False, False, False]
    modbus_reply(w.meter("relay"), modbus_rtu.build_write_single_coil(9, 2, False),
                 w.snapshot())
    assert w.snapshot().pump_on  # back to its duty cycle
    w.inject("relay", "welded")
    modbus_reply(w.meter("relay"), write, w.snapshot())
    assert w.meter("relay").coils[2] is True and w.snapshot().pump_on  # taken, not acted on
    for device, frame, code in (
            ("flow-meter", modbus_rtu.build_write_single_coil(1, 0, True), ILLEGAL_FUNCTION),
            ("relay", modbus_rtu.build_write_single_coil(9, 8, True), ILLEGAL_DATA_ADDRESS)):
        with pytest.raises(SlaveFault) as refused:
            modbus_reply(w.meter(device), frame, w.snapshot())
        assert refused.value.code == code
