"""Simulated meters without I/O: profile points filled from the physics, units, totals, faults."""

import pytest

from drivers import registers
from gateway.simulator import SimDevice, SimulatedWell


def make_well(*devices, kind="rtu", **params):
    well = SimulatedWell(seed=11, time_scale=0, **params)
    well.add_line("bus", kind=kind, baud=9600)
    for device in devices:
        well.add_device("bus", device)
    return well


def test_power_is_served_in_the_unit_each_profile_states():
    well = make_well(
        SimDevice("sdm630", "eastron-sdm630", slave_id=1),  # W
        SimDevice("ddsu666", "chint-ddsu666", slave_id=2),  # kW
        SimDevice("dtsu666", "chint-dtsu666", slave_id=3),  # W with scale 0.1
    )
    snap = well.advance(60)
    assert snap.pump_on
    assert well.values("sdm630")["active_power"] == pytest.approx(snap.power_kw * 1000)
    assert well.values("ddsu666")["active_power"] == pytest.approx(snap.power_kw)
    assert well.values("dtsu666")["active_power"] == pytest.approx(snap.power_kw * 1000)


def test_scaled_registers_hold_the_unscaled_raw_value():
    # DTSU666 (shared/domain/meters.md): total active power 0x2012 float32 ×0.1 W: raw = W / 0.1.
    well = make_well(SimDevice("dtsu666", "chint-dtsu666", slave_id=3))
    snap = well.advance(60)
    words, served = well.meter("dtsu666").read_registers(3, 0x2012, 2, snap)
    raw = registers.decode(words, "float32", "ABCD")
    assert raw == pytest.approx(snap.power_kw * 1000 / 0.1, rel=1e-6)
    assert served["active_power"] == pytest.approx(snap.power_kw * 1000, rel=1e-6)


def test_currents_voltages_and_power_factor_agree_with_power():
    well = make_well(
        SimDevice("three", "eastron-sdm630", slave_id=1),
        SimDevice("single", "eastron-sdm120", slave_id=2),
    )
    snap = well.advance(120)
    three, single = well.values("three"), well.values("single")
    total = (
        sum(three[f"voltage_l{i}"] * three[f"current_l{i}"] for i in (1, 2, 3))
        * three["power_factor"]
    )
    assert total == pytest.approx(three["active_power"], rel=1e-9)
    phases = [three[f"active_power_l{i}"] for i in (1, 2, 3)]
    assert sum(phases) == pytest.approx(three["active_power"])
    for i, phase_power in enumerate(phases, start=1):
        volt_amps = three[f"voltage_l{i}"] * three[f"current_l{i}"]
        assert volt_amps * three["power_factor"] == pytest.approx(phase_power, rel=1e-9)
    one = single["voltage_l1"] * single["current_l1"] * single["power_factor"]
    assert one == pytest.approx(single["active_power"], rel=1e-9)
    assert single["frequency"] == pytest.approx(snap.frequency_hz)


def test_level_raw_value_and_decimal_point_register_agree():
    well = make_well(SimDevice("level", "qdy30a", slave_id=1))
    snap = well.advance(1000)
    words, served = well.meter("level").read_registers(3, 0, 7, snap)
    decimals = words[3]
    assert decimals == 2  # the most decimals that fit an i16 for a ~50 m column (×1.5 headroom)
    raw_level = registers.decode(words[4:5], "i16")
    assert raw_level == round(snap.level_m * 10**decimals)
    assert served["level"] == pytest.approx(snap.level_m, abs=0.006)
    assert served["decimal_point"] == 2
    assert served["unit_code"] == "mH2O"  # enum name of code 7, the level's metre unit
    assert served["baud_code"] == "9600"
    assert served["slave_address"] == 1


def test_writing_the_decimal_point_rescales_the_level():
    well = make_well(SimDevice("level", "qdy30a", slave_id=1))
    meter = well.meter("level")
    meter.write_registers(3, [1])
    snap = well.advance(10)
    words, served = meter.read_registers(3, 3, 2, snap)
    assert words[0] == 1
    assert registers.decode(words[1:2], "i16") == round(snap.level_m * 10)
    assert served["level"] == pytest.approx(snap.level_m, abs=0.06)


def test_decimal_point_can_be_fixed_by_settings():
    well = make_well(SimDevice("level", "qdy30a", slave_id=1, settings={"decimal_point": 1}))
    snap = well.advance(10)
    words, _ = well.meter("level").read_registers(3, 3, 2, snap)
    assert words == [1, round(snap.level_m * 10)]


def test_read_only_registers_refuse_writes():
    from gateway.simulator.device import SlaveFault

    well = make_well(SimDevice("level", "qdy30a", slave_id=1))
    with pytest.raises(SlaveFault, match="level"):
        well.meter("level").write_registers(4, [123])


def test_totals_grow_with_the_physics_from_each_meters_own_start():
    well = make_well(
        SimDevice("energy", "eastron-sdm630", slave_id=1),
        SimDevice("flow", "tuf-2000m", slave_id=2),
        SimDevice("acrel", "acrel-adw300", slave_id=3),
    )
    first, e0, f0, a0 = (
        well.snapshot(),
        well.values("energy"),
        well.values("flow"),
        well.values("acrel"),
    )
    last = well.advance(5400)
    e1, f1, a1 = well.values("energy"), well.values("flow"), well.values("acrel")
    pumped_kwh = last.energy_kwh - first.energy_kwh
    pumped_m3 = last.volume_m3 - first.volume_m3
    assert pumped_kwh > 5
    assert e1["import_energy"] - e0["import_energy"] == pytest.approx(pumped_kwh)
    assert a1["import_energy"] - a0["import_energy"] == pytest.approx(pumped_kwh)
    assert f1["forward_total"] - f0["forward_total"] == pytest.approx(pumped_m3)
    assert f1["net_total"] == pytest.approx(f1["forward_total"] - f1["reverse_total"])
    assert e1["total_energy"] == pytest.approx(e1["import_energy"] + e1["export_energy"])
    assert e0["import_energy"] != a0["import_energy"]  # meters were installed at different times


def test_flow_meter_reads_power_times_k():
    well = make_well(
        SimDevice("energy", "chint-ddsu666", slave_id=1),
        SimDevice("flow", "xintai-emf", slave_id=2),
    )
    snap = well.advance(1500)
    flow, power = well.values("flow")["flow_rate"], well.values("energy")["active_power"]
    assert flow == pytest.approx(power * 367.1 * 0.45 / snap.head_m, rel=1e-3)


def test_rollover_jumps_near_the_register_width_and_wraps():
    # Acrel ADW300 import energy: i32 × 0.01 kWh → wraps at 2^31 × 0.01 = 21474836.48 kWh.
    well = make_well(SimDevice("acrel", "acrel-adw300", slave_id=1))
    well.inject("acrel", "rollover", point="import_energy", margin=2.0)
    assert well.values("acrel")["import_energy"] == pytest.approx(21474836.48 - 2.0)
    well.advance(1800)  # 7.5 kWh pumped
    after = well.values("acrel")["import_energy"]
    assert 0 < after < 6
    words, _ = well.meter("acrel").read_registers(3, 62, 2, well.snapshot())
    assert registers.decode(words, "i32") == round(after * 100)


def test_rollover_uses_the_profile_rollover_value():
    # dlt645-generic: rollover = 999999.99 kWh (its largest value) → wraps to 0 at 1,000,000.00.
    well = make_well(SimDevice("grid", "dlt645-generic", address="000000000001"), kind="dlt645")
    well.inject("grid", "rollover", point="import_energy", margin=0.5)
    assert well.values("grid")["import_energy"] == pytest.approx(999999.5)
    well.advance(600)
    assert 0 < well.values("grid")["import_energy"] < 1.0
    assert well.values("grid")["export_energy"] < 999000  # only the named point jumped


def test_reset_sets_totals_to_zero_and_they_count_again():
    well = make_well(SimDevice("flow", "tuf-2000m", slave_id=1))
    well.advance(100)
    well.inject("flow", "reset")
    values = well.values("flow")
    assert values["forward_total"] == pytest.approx(0.0, abs=1e-9)
    assert values["reverse_total"] == pytest.approx(0.0, abs=1e-9)
    snap0 = well.snapshot()
    snap1 = well.advance(600)
    assert well.values("flow")["forward_total"] == pytest.approx(snap1.volume_m3 - snap0.volume_m3)


def test_empty_pipe_zeroes_flow_freezes_the_total_and_flags_it():
    well = make_well(
        SimDevice("emf", "xintai-emf", slave_id=1), SimDevice("tuf", "tuf-2000m", slave_id=2)
    )
    well.advance(60)
    before = well.values("emf")
    assert before["pipe_status"] == 0xAA and before["flow_rate"] > 0  # 0x00AA: full (meters.md)
    well.inject("emf", "empty_pipe")
    well.inject("tuf", "empty_pipe")
    snap = well.advance(600)
    assert snap.pump_on
    during = well.values("emf")
    assert during["pipe_status"] == 0x55 and during["flow_rate"] == 0.0
    assert during["forward_total"] == pytest.approx(before["forward_total"], abs=1.0)
    tuf = well.values("tuf")
    assert tuf["error_code"] == 1 << 3  # bit 3 pipe_empty in the TUF-2000M profile
    assert tuf["flow_rate"] == 0.0 and tuf["velocity"] == 0.0
    frozen = well.values("emf")["forward_total"]
    well.clear("emf", "empty_pipe")
    assert well.values("emf")["forward_total"] == pytest.approx(frozen)  # no jump when it refills
    snap0 = well.snapshot()
    snap1 = well.advance(300)
    assert well.values("emf")["forward_total"] - frozen == pytest.approx(
        snap1.volume_m3 - snap0.volume_m3
    )


def test_points_without_physics_get_fixed_plausible_values():
    well = make_well(SimDevice("tuf", "tuf-2000m", slave_id=1))
    values = well.values("tuf")
    assert values["totalizer_multiplier"] == 3  # ×1, so accumulator + fraction is the total
    assert values["totalizer_unit"] == 0  # m³
    assert values["step_and_signal_quality"] == 85
    well.advance(1234)
    assert well.values("tuf")["totalizer_multiplier"] == 3


def test_reading_outside_the_map_is_an_illegal_data_address():
    from gateway.simulator.device import SlaveFault

    well = make_well(SimDevice("sdm", "eastron-sdm120", slave_id=1))
    meter = well.meter("sdm")
    with pytest.raises(SlaveFault) as refused:
        meter.read_registers(4, 0x0158, 2, well.snapshot())
    assert refused.value.code == 2
    with pytest.raises(SlaveFault) as wrong_function:
        meter.read_registers(3, 0, 2, well.snapshot())
    assert wrong_function.value.code == 1
    # Gaps inside the map read as zero, as the meter answers any register in its block.
    words, served = meter.read_registers(4, 0, 8, well.snapshot())
    assert words[2:6] == [0, 0, 0, 0]
    assert set(served) == {"voltage_l1", "current_l1"}


def test_device_configuration_mistakes_name_the_value():
    well = make_well()
    with pytest.raises(ValueError, match=r"slave_id must be 1\.\.247, got 0"):
        well.add_device("bus", SimDevice("x", "eastron-sdm120", slave_id=0))
    with pytest.raises(ValueError, match="speaks dlt645"):
        well.add_device("bus", SimDevice("y", "dlt645-generic", address="000000000001"))
    with pytest.raises(ValueError, match=r"settings name points .*'no_such_point'"):
        well.add_device(
            "bus", SimDevice("z", "eastron-sdm120", slave_id=1, settings={"no_such_point": 1})
        )
    with pytest.raises(KeyError, match="no device profile named 'sdm9000'"):
        well.add_device("bus", SimDevice("w", "sdm9000", slave_id=1))
    with pytest.raises(ValueError, match="unknown fault 'fire'"):
        well.add_device("bus", SimDevice("ok", "eastron-sdm120", slave_id=1))
        well.inject("ok", "fire")
