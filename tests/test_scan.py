"""`wellgate scan` against the simulated well: meters found at their own baud, the right profile
ranked first, DL/T 645 addresses read back, and the judging rules the ranking rests on."""

import asyncio
import json
import subprocess
import sys

import pytest

from drivers import modbus_rtu
from gateway.acquisition.transport import ModbusTransport
from gateway.profiles import ModbusPoint
from gateway.readings import QUALITY_GOOD, QUALITY_INVALID, Reading
from gateway.scan import (
    IMPLAUSIBLE,
    NEUTRAL,
    PLAUSIBLE,
    Match,
    best_matches,
    judge,
    modbus_profiles,
    parse_bauds,
    parse_ids,
    parse_parities,
    run_scan,
)
from gateway.simulator import SimDevice, SimulatedWell, ThreadRunner

METERS = {1: "tuf-2000m", 2: "chint-dtsu666", 3: "qdy30a"}  # slave id -> model, at 9600 baud
METER_645 = "210045678912"
FAST = ["--timeout", "0.1"]  # a simulated meter answers within a few ms
RANK_FIELDS = ("profile", "points", "plausible", "implausible", "blocks", "blocks_read")
rank = Match.rank


@pytest.fixture(scope="module")
def bus():
    """One 9600-baud Modbus line with three meters and one 2400-baud DL/T 645 line."""
    well = SimulatedWell(seed=5, time_scale=0)
    well.add_line("rs485-1", kind="rtu", baud=9600)
    well.add_line("meter-645", kind="dlt645", baud=2400)
    for slave, model in METERS.items():
        well.add_device("rs485-1", SimDevice(f"{model}-{slave}", model, slave_id=slave))
    well.add_device("meter-645", SimDevice("grid-meter", "dlt645-generic", address=METER_645))
    with ThreadRunner(well) as runner:
        ports = runner.start()
        yield well, runner, ports


def scan(port, bauds, ids, dlt645=False, parities=("N",)):
    return asyncio.run(run_scan(port, list(bauds), list(parities), ids, 0.1, dlt645, True))


def assert_three_meters_at_9600(found):
    assert [(f["protocol"], f["baud"], f["parity"], f["slave_id"]) for f in found] == [
        ("modbus", 9600, "N", slave) for slave in METERS
    ]
    for hit in found:
        best = hit["matches"][0]
        assert best["profile"] == METERS[hit["slave_id"]], hit["matches"]
        assert best["fits"] and best["plausible"] > 0
        ranks = [rank(Match(**{k: m[k] for k in RANK_FIELDS})) for m in hit["matches"]]
        assert all(other < ranks[0] for other in ranks[1:]), hit["matches"]  # no tie for first


@pytest.mark.parametrize("pump_on", [True, False], ids=["pump-running", "pump-stopped"])
def test_scan_finds_each_meter_once_at_its_baud_with_its_profile_first(bus, capsys, pump_on):
    well, runner, ports = bus
    runner.call(well.set_pump, pump_on)  # a stopped pump reads 0: less evidence, same ranking
    status = scan(ports["rs485-1"], [2400, 9600], parse_ids("1-5"))
    assert status == 0
    assert_three_meters_at_9600(json.loads(capsys.readouterr().out))
    assert well.stats("rs485-1")["wrong_speed_bytes"] > 0  # the 2400-baud sweep reached nobody


def test_wellgate_scan_json_as_a_process(bus):
    _, _, ports = bus
    command = [sys.executable, "-m", "gateway", "scan", "--port", ports["rs485-1"],
               "--bauds", "2400,9600", "--parities", "N", "--ids", "1-5", "--no-dlt645",
               "--json", *FAST]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert_three_meters_at_9600(json.loads(done.stdout))


def test_scan_names_each_meter_and_its_profile_in_words(bus, capsys):
    _, _, ports = bus
    status = asyncio.run(run_scan(ports["rs485-1"], [9600], ["N"], [1, 2, 3], 0.1, False, False))
    out = capsys.readouterr().out
    assert status == 0
    for slave, model in METERS.items():
        line = next(line for line in out.splitlines() if line.startswith(f"id {slave} at "))
        assert line.startswith(f"id {slave} at 9600 8N1: answers"), line
        assert f"matches {model}," in line, line
        assert f'model = "{model}"\nslave_id = {slave}' in out


@pytest.mark.parametrize("bauds", [[1200, 2400, 9600], [2400]], ids=["three-bauds", "one-baud"])
def test_scan_reads_the_dlt645_meters_address_at_its_baud_only(bus, capsys, bauds):
    _, _, ports = bus
    status = scan(ports["meter-645"], bauds, [1], dlt645=True)
    found = json.loads(capsys.readouterr().out)
    assert status == 0
    assert [(f["protocol"], f["baud"], f["address"]) for f in found] == [
        ("dlt645", 2400, METER_645)
    ]
    assert found[0]["matches"][0]["profile"] == "dlt645-generic"


def test_a_parity_the_pty_refuses_does_not_stop_the_scan(bus, capsys):
    _, _, ports = bus
    status = scan(ports["rs485-1"], [9600], [1, 2, 3], parities=("N", "E"))
    found = json.loads(capsys.readouterr().out)
    assert status == 0
    assert {f["slave_id"] for f in found} == set(METERS)  # at N (and at E where a pty takes it)


def test_nothing_answering_exits_1_with_a_hint(bus, capsys):
    _, _, ports = bus
    status = asyncio.run(run_scan(ports["rs485-1"], [4800], ["N"], [1, 2], 0.1, False, False))
    captured = capsys.readouterr()
    assert status == 1
    assert "nothing answered" in captured.err and captured.out == ""


@pytest.mark.parametrize("pump_on", [True, False], ids=["pump-running", "pump-stopped"])
def test_every_modbus_profile_ranks_first_on_its_own_meter(pump_on):
    """Each Modbus profile as a simulated meter: its own map must come first, not a lookalike
    (SDM120 vs SDM630 share addresses; QDY30A's registers 0-6 lie inside TUF-2000M's map)."""
    profiles = modbus_profiles()
    well = SimulatedWell(seed=1, time_scale=0)
    well.add_line("all", kind="rtu", baud=9600)
    ids = {slave: name for slave, name in enumerate(profiles, 1)}
    for slave, name in ids.items():
        well.add_device("all", SimDevice(name, name, slave_id=slave))

    async def rank_all(port):
        transport = ModbusTransport.serial(port, 9600, "N", 1, 8, 0.1,
                                           modbus_rtu.silent_interval(9600))
        await transport.open()
        try:
            return {slave: await best_matches(transport, slave, profiles) for slave in ids}
        finally:
            await transport.close()

    with ThreadRunner(well) as runner:
        port = runner.start()["all"]
        runner.call(well.set_pump, pump_on)
        ranked = asyncio.run(rank_all(port))
    for slave, name in ids.items():
        assert ranked[slave][0].profile == name, (name, ranked[slave])
        assert ranked[slave][0].fits


# --- judging one point: each rule with the case it is for ----------------------------------------

def point(**fields):
    return ModbusPoint(**{"name": "x", "function": 3, "address": 0, "type": "u16", **fields})


def reading(value, raw=(1,), quality=QUALITY_GOOD):
    return Reading("meter", "x", value, "", tuple(raw), 0.0, 0.0, quality)


JUDGEMENTS = [
    # (why, point fields, reading, slave, verdict)
    ("all-zero registers say nothing: unmapped registers read 0",
     dict(name="voltage_l1", type="float32", unit="V"), reading(0.0, (0, 0)), 1, NEUTRAL),
    ("a mains voltage", dict(name="voltage_l1", type="float32", unit="V"),
     reading(229.8, (0x4365, 0xCCCD)), 1, PLAUSIBLE),
    ("a float crumb is another type's bits", dict(name="flow_rate", type="float32", unit="m3/h"),
     reading(3.1e-39, (0, 0x2200)), 1, IMPLAUSIBLE),
    ("a frequency outside 45..65 Hz", dict(name="frequency", type="float32", unit="Hz"),
     reading(1234.5), 1, IMPLAUSIBLE),
    ("kW range applied to a point in W", dict(name="active_power", type="i32", unit="W"),
     reading(250_000_000.0), 1, IMPLAUSIBLE),
    ("u16 x 0.01 A cannot leave the current range: no evidence",
     dict(name="current_l1", scale=0.01, unit="A"), reading(312.5), 1, NEUTRAL),
    ("the address register must hold the id asked", dict(name="slave_address"),
     reading(7), 3, IMPLAUSIBLE),
    ("the address register holding the id asked", dict(name="slave_address"),
     reading(3, (3,)), 3, PLAUSIBLE),
    ("an enum value the profile names", dict(name="baud_code", enum={"3": "9600"}),
     reading("9600", (3,)), 1, PLAUSIBLE),
    ("an enum value the profile does not name (the decoder marks it invalid)",
     dict(name="baud_code", enum={"3": "9600"}), reading(17, (17,), QUALITY_INVALID), 1,
     IMPLAUSIBLE),
    ("bits the profile does not name", dict(name="error_code", type="bits16",
                                            flags={"0": "empty pipe"}),
     reading(0x0100, (0x0100,)), 1, IMPLAUSIBLE),
    ("a named bit", dict(name="error_code", type="bits16", flags={"0": "empty pipe"}),
     reading(1), 1, NEUTRAL),
    ("an integer with no range known", dict(name="totalizer_multiplier"), reading(3, (3,)), 1,
     NEUTRAL),
]


@pytest.mark.parametrize("why, fields, given, slave, verdict", JUDGEMENTS,
                         ids=[row[0] for row in JUDGEMENTS])
def test_judge(why, fields, given, slave, verdict):
    assert judge(point(**fields), given, slave) == verdict


def test_ranking_prefers_a_fitting_map_then_more_evidence_then_the_smaller_map():
    refused_block = Match("refused", points=8, plausible=8, implausible=0, blocks=2, blocks_read=1)
    contradicted = Match("contradicted", points=8, plausible=8, implausible=1, blocks=1,
                         blocks_read=1)
    big = Match("big", points=15, plausible=6, implausible=0, blocks=3, blocks_read=3)
    small = Match("small", points=8, plausible=6, implausible=0, blocks=2, blocks_read=2)
    strong = Match("strong", points=15, plausible=7, implausible=0, blocks=3, blocks_read=3)
    ranked = sorted([refused_block, contradicted, big, small, strong], key=Match.rank,
                    reverse=True)
    assert [m.profile for m in ranked] == ["strong", "small", "big", "refused", "contradicted"]
    assert (strong.score, contradicted.score, refused_block.fits) == (0.47, 0.88, False)


@pytest.mark.parametrize("text, ids", [("1-5,9", [1, 2, 3, 4, 5, 9]), ("247", [247]),
                                       (" 3 , 1-2 ", [3, 1, 2])])
def test_parse_ids(text, ids):
    assert parse_ids(text) == ids


@pytest.mark.parametrize("text, message", [("5-1", "'5-1'"), ("0-3", "'0-3'"), ("a", "'a'"),
                                           (",", "no ids")])
def test_parse_ids_says_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_ids(text)


def test_parse_bauds_and_parities():
    assert parse_bauds("9600, 2400,") == [9600, 2400]
    assert parse_parities("n,E") == ["N", "E"]
    with pytest.raises(ValueError, match=r"standard rates .* got '9601'"):
        parse_bauds("9600,9601")
    with pytest.raises(ValueError, match=r"N, E, O .* got 'N,X'"):
        parse_parities("N,X")


@pytest.mark.parametrize("option, value", [("--parities", "X"), ("--bauds", "fast"),
                                           ("--ids", "0-3")])
def test_wellgate_scan_rejects_bad_options_with_exit_2(option, value):
    command = [sys.executable, "-m", "gateway", "scan", "--port", "/dev/ttyUSB9", option, value]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert f"Invalid value for {option}" in done.stderr and repr(value) in done.stderr
    assert "Traceback" not in done.stderr
