"""Water-quality probe profiles (issue 15): each loads, names its source and what is unconfirmed,
decodes a probe's published reply, and a value outside the profile's plausibility limits is an
invalid reading (stored, never used as a number). Limits are checked when a profile loads."""

from __future__ import annotations

import textwrap

import pytest

from drivers import modbus_rtu
from gateway.acquisition.decode import ModbusDecoder
from gateway.errors import ConfigError
from gateway.profiles import load_profile, load_profile_file
from gateway.readings import QUALITY_GOOD, QUALITY_INVALID
from gateway.units import from_base

PROBES = {"seeed-ectds10": {"conductivity", "tds", "salinity", "water_temperature"},
          "supmea-ph8001": {"ph", "water_temperature"},
          "daviteq-mbrtu-tbd": {"turbidity", "water_temperature"}}


@pytest.mark.parametrize("name", sorted(PROBES))
def test_each_probe_names_its_source_its_doubts_and_limits(name):
    profile = load_profile(name)
    assert profile.model.role == "quality" and profile.model.source and profile.model.unconfirmed
    limited = {p.name for p in profile.points if p.plausible is not None}
    assert limited == PROBES[name]


def test_the_turbidity_probes_published_exchange_decodes_to_9_1_ntu():
    # Daviteq's guide: request 01 03 01 01 00 01 D4 36, reply 01 03 02 00 5B F9 BF = 9.1 NTU
    # (0x005B = 91, value x10). Both CRCs are the guide's; the request is what our driver builds.
    profile = load_profile("daviteq-mbrtu-tbd")
    turbidity = profile.point("turbidity")
    request = modbus_rtu.build_read_request(1, turbidity.function, turbidity.address, 1)
    assert bytes(request) == bytes.fromhex("01 03 01 01 00 01 D4 36")
    words = modbus_rtu.parse_read_response(bytes.fromhex("01 03 02 00 5B F9 BF"), 1, 3, 1)
    (reading,) = ModbusDecoder("tbd", [turbidity]).decode({"turbidity": list(words)}, 0.0, 0.0)
    assert (reading.value, reading.unit, reading.quality) == (pytest.approx(9.1), "NTU",
                                                              QUALITY_GOOD)


@pytest.mark.parametrize(("name", "point", "raw", "value", "quality"), [
    # pH u16 × 0.01: 712 → 7.12 pH; 1500 → 15.00 pH, beyond [0, 14]: invalid
    ("supmea-ph8001", "ph", 712, 7.12, QUALITY_GOOD),
    ("supmea-ph8001", "ph", 1500, 15.0, QUALITY_INVALID),
    # temperature i16 × 0.01: 0xFC18 = −1000 → −10.00 °C, within [−40, 80]; 0x2328 = 9000 →
    # 90.00 °C, beyond it
    ("seeed-ectds10", "water_temperature", 0xFC18, -10.0, QUALITY_GOOD),
    ("seeed-ectds10", "water_temperature", 0x2328, 90.0, QUALITY_INVALID),
    # conductivity u16 µS/cm: 20000 is the range's end (good), 20001 is not
    ("seeed-ectds10", "conductivity", 20000, 20000, QUALITY_GOOD),
    ("seeed-ectds10", "conductivity", 20001, 20001, QUALITY_INVALID),
])
def test_a_value_beyond_the_limits_is_invalid_but_kept(name, point, raw, value, quality):
    p = load_profile(name).point(point)
    (reading,) = ModbusDecoder(name, [p]).decode({point: [raw]}, 0.0, 0.0)
    assert reading.value == pytest.approx(value) and reading.quality == quality
    assert reading.raw == (raw,)  # the registers are stored as read either way


PROBE = """\
[model]
name = "probe"
manufacturer = "x"
description = "x"
protocol = "modbus"
role = "quality"
source = "test"
unconfirmed = ["all"]

[[points]]
name = "ph"
function = 3
address = 1
type = "u16"
scale = 0.01
unit = "pH"
{extra}
"""


@pytest.mark.parametrize(("extra", "expected"), [
    ("plausible = [14, 0]", "probe.toml:17: points[0].plausible = [14.0, 0.0]: expected [low, "
                            "high]: two finite numbers, low below high"),
    ("plausible = [0]", "probe.toml:17: points[0].plausible = [0]: expected [low, high] in the "
                        "point's unit"),
    ('unit = "pH units"', "points[0].unit = \"pH units\": expected a unit of acidity (case "
                          "matters): 'pH'"),
])
def test_limits_and_units_are_checked_when_the_profile_loads(tmp_path, extra, expected):
    path = tmp_path / "probe.toml"
    text = PROBE.format(extra=extra)
    if extra.startswith("unit"):
        text = text.replace('unit = "pH"\n', "")
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_profile_file(path)
    assert any(expected in e for e in error.value.errors), error.value.errors


def test_the_new_units_convert_from_their_base():
    assert from_base(1500.0, "mS/cm") == pytest.approx(1.5)  # 1500 µS/cm
    assert from_base(0.25, "g/L") == pytest.approx(0.00025)  # 0.25 mg/L
    assert from_base(0.2, "mV") == pytest.approx(200.0)  # 0.2 V
