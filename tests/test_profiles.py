"""Device profiles: built-in ones validate and name their sources; every cross-field rule bites."""

from __future__ import annotations

import copy
import json
import shutil
import tomllib
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.profiles import (
    BUILTIN_PROFILE_DIR,
    PROFILE_PATH_ENV,
    REGISTER_COUNTS,
    Dlt645Point,
    ModbusPoint,
    available_profiles,
    load_profile,
    load_profile_file,
)
from gateway.units import from_base, quantity_of

BUILTIN_FILES = sorted(BUILTIN_PROFILE_DIR.glob("*.toml"))
REQUIRED_MODELS = {  # the meters of shared/domain/meters.md that a well in Ordos is likely to have
    "eastron-sdm120", "eastron-sdm630", "chint-dtsu666", "chint-ddsu666", "acrel-adw300",
    "dlt645-generic", "tuf-2000m", "xintai-emf", "qdy30a",
}


def _toml_value(value: object) -> str:
    if isinstance(value, dict):
        pairs = (f"{json.dumps(key)} = {_toml_value(item)}" for key, item in value.items())
        return "{ " + ", ".join(pairs) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _dump(profile: dict) -> str:
    """A profile dict as TOML ([model], [defaults], [[points]] with inline tables)."""
    text = ""
    for table in ("model", "defaults"):
        if table in profile:
            text += f"[{table}]\n" + "".join(
                f"{key} = {_toml_value(value)}\n" for key, value in profile[table].items()
            )
    for point in profile.get("points", []):
        text += "[[points]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in point.items())
    return text


def _write(folder: Path, name: str, profile: dict) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(_dump(profile), encoding="utf-8")
    return path


def _base_modbus() -> dict:
    return {
        "model": {"name": "test-meter", "manufacturer": "Test", "description": "A test meter",
                  "protocol": "modbus", "role": "level", "source": "this test"},
        "defaults": {"baud": 9600, "slave_id": 1},
        "points": [
            {"name": "decimal_point", "function": 3, "address": 3, "type": "u16", "kind": "config"},
            {"name": "level", "function": 3, "address": 4, "type": "i16", "unit": "m",
             "decimals_from": "decimal_point"},
            {"name": "status", "function": 3, "address": 5, "type": "bits16",
             "flags": {"0": "low_battery"}},
            {"name": "flow", "function": 3, "address": 6, "type": "float32"},
        ],
    }


def _base_dlt645() -> dict:
    return {
        "model": {"name": "test-meter", "manufacturer": "Test", "description": "A test meter",
                  "protocol": "dlt645", "role": "energy", "source": "this test"},
        "defaults": {"baud": 2400, "parity": "E"},
        "points": [
            {"name": "import_energy", "di": "00010000", "length": 4, "decimals": 2,
             "unit": "kWh", "kind": "total"},
        ],
    }


# --- the built-in profiles ----------------------------------------------------------------------


def test_every_required_model_has_a_profile():
    assert {path.stem for path in BUILTIN_FILES} >= REQUIRED_MODELS


@pytest.mark.parametrize("path", BUILTIN_FILES, ids=lambda p: p.stem)
def test_builtin_profile_validates_and_names_its_source(path):
    profile = load_profile_file(path)
    assert profile.model.name == path.stem
    assert profile.model.source.strip()
    assert profile.model.unconfirmed, "every profile says what is still unconfirmed"
    assert any(point.kind == "total" for point in profile.points) or profile.model.role in (
        "level", "relay", "quality")


# Facts the domain notes (shared/domain/meters.md, protocols.md) and the open implementations
# cited in each profile's `source` fix for particular profiles.
METERS = "shared/domain/meters.md"
PROTOCOLS = "shared/domain/protocols.md"
ESPHOME_645 = "chinawrj/esphome-component-dlt645 dlt645.cpp"
SPEC_FACTS = [
    # (model, point, attribute, value, where the fact comes from)
    ("tuf-2000m", "forward_total", "address", 0x0008,
     METERS + ": positive accumulator 0x0008 int32 + fraction 0x000A float"),
    ("tuf-2000m", "forward_total", "type", "long_fraction", METERS + ": accumulator + fraction"),
    ("tuf-2000m", "forward_total", "order", "CDAB", METERS + ": word order CDAB"),
    ("tuf-2000m", "forward_total", "kind", "total", "docs/points.md"),
    ("tuf-2000m", "error_code", "type", "bits16", METERS + ": error code 0x0047 (bit field)"),
    ("tuf-2000m", "error_code", "address", 0x0047, METERS + ": error code 0x0047"),
    ("xintai-emf", "pipe_status", "enum", {"85": "empty", "170": "full"},
     METERS + ": pipe status 0x0055 empty, 0x00AA full"),
    ("xintai-emf", "pipe_status", "address", 0x0007, METERS),
    ("qdy30a", "level", "decimals_from", "decimal_point",
     METERS + ": value = raw / 10^decimals, decimal point in 0x0003"),
    ("qdy30a", "level", "address", 0x0004, METERS),
    ("chint-dtsu666", "import_energy", "address", 0x401E, METERS + " (two sources)"),
    ("eastron-sdm120", "import_energy", "address", 0x0048, METERS),
    ("acrel-adw300", "import_energy", "scale", 0.01, METERS + ": int32 x0.01 kWh"),
    ("dlt645-generic", "import_energy", "di", "00010000", PROTOCOLS),
    ("dlt645-generic", "export_energy", "di", "00020000", PROTOCOLS + ": 00 02 00 00 reverse"),
    ("dlt645-generic", "voltage_l1", "di", "02010100", ESPHOME_645 + ": XXX.X V"),
    ("dlt645-generic", "voltage_l1", "decimals", 1, ESPHOME_645 + ": XXX.X V"),
    ("dlt645-generic", "current_l1", "signed", True, ESPHOME_645 + ": XXX.XXX A signed"),
    ("dlt645-generic", "active_power", "decimals", 4, ESPHOME_645 + ": XX.XXXX kW"),
    ("dlt645-generic", "frequency", "di", "02800002", ESPHOME_645 + ": XX.XX Hz"),
]


@pytest.mark.parametrize(("model", "point", "attribute", "value", "source"), SPEC_FACTS)
def test_profile_holds_the_specified_fact(model, point, attribute, value, source):
    assert getattr(load_profile(model).point(point), attribute) == value, source


def test_tuf_error_bits_are_the_published_ones():
    flags = load_profile("tuf-2000m").point("error_code").flags
    assert flags["0"] == "no_received_signal" and flags["3"] == "pipe_empty"
    assert "13" not in flags  # reserved
    assert {int(bit) for bit in flags} <= set(range(16))


def test_dtsu666_says_its_energy_register_is_unresolved():
    unconfirmed = " ".join(load_profile("chint-dtsu666").model.unconfirmed)
    assert "0x401E" in unconfirmed and "0x4000" in unconfirmed and "0x101E" in unconfirmed


def test_dlt645_generic_defaults_to_2400_8e1_without_slave_id():
    defaults = load_profile("dlt645-generic").defaults
    assert (defaults.baud, defaults.parity, defaults.stop_bits, defaults.slave_id) == (
        2400, "E", 1, None)


# Decode vectors marked "checked" in shared/domain/meters.md, decoded with each profile's word
# order; meters.md prints the values rounded, so the tolerance is half its last digit.
DECODE_VECTORS = [
    ("tuf-2000m", "flow_rate", "806B4212", 36.625, 0.0005),
    ("xintai-emf", "flow_rate", "1E850B3F", 0.545, 0.0005),
    ("eastron-sdm120", "voltage_l1", "43663334", 230.2, 0.05),
]


@pytest.mark.parametrize(("model", "point", "wire", "expected", "tolerance"), DECODE_VECTORS)
def test_profile_word_order_decodes_the_checked_vector(model, point, wire, expected, tolerance):
    registers = pytest.importorskip("drivers.registers")
    spec = load_profile(model).point(point)
    raw = bytes.fromhex(wire)
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    assert registers.decode(words, spec.type, spec.order) == pytest.approx(expected, abs=tolerance)


def test_register_counts_agree_with_the_driver():
    registers = pytest.importorskip("drivers.registers")
    for type_name, count in REGISTER_COUNTS.items():
        assert registers.register_count(type_name) == count, type_name


def test_point_helpers():
    profile = load_profile("tuf-2000m")
    point = profile.point("forward_total")
    assert isinstance(point, ModbusPoint)
    assert (point.register_count, point.end) == (4, 0x000C)
    assert isinstance(load_profile("dlt645-generic").points[0], Dlt645Point)
    with pytest.raises(KeyError, match="no point 'nope'"):
        profile.point("nope")


# --- adding profiles without code ---------------------------------------------------------------


def test_profile_from_env_path_is_available(tmp_path, monkeypatch):
    shutil.copy(BUILTIN_PROFILE_DIR / "qdy30a.toml", tmp_path / "qdy30a.toml")
    data = _base_modbus()
    data["model"]["name"] = "my-level"
    _write(tmp_path, "my-level", data)
    monkeypatch.setenv(PROFILE_PATH_ENV, str(tmp_path))
    found = available_profiles()
    assert found["my-level"] == tmp_path / "my-level.toml"
    assert found["qdy30a"] == tmp_path / "qdy30a.toml"  # searched before the built-in folder
    assert load_profile("my-level").model.role == "level"


def test_extra_folder_comes_before_env_and_builtin(tmp_path, monkeypatch):
    extra, env = tmp_path / "extra", tmp_path / "env"
    extra.mkdir()
    env.mkdir()
    for folder in (extra, env):
        shutil.copy(BUILTIN_PROFILE_DIR / "qdy30a.toml", folder / "qdy30a.toml")
    monkeypatch.setenv(PROFILE_PATH_ENV, str(env))
    assert available_profiles([extra])["qdy30a"] == extra / "qdy30a.toml"


def test_unknown_profile_name_lists_what_is_available():
    with pytest.raises(KeyError, match=r"available: .*tuf-2000m"):
        load_profile("no-such-meter")


# --- cross-field rules: a valid base profile, one change, the message it must produce ----------


def _point(data: dict, name: str) -> dict:
    return next(point for point in data["points"] if point["name"] == name)


def _set(path: tuple, value: object):
    """A change that sets data[table][key], or a key of the point named path[1]."""
    def change(data: dict) -> None:
        if path[0] == "points":
            _point(data, path[1])[path[2]] = value
        else:
            data[path[0]][path[1]] = value
    return change


def _append(point: dict):
    return lambda data: data["points"].append(point)


RULE_CASES = [
    # (case, base, change, *expected (line, message after "file:")): lines counted in _dump's layout
    ("decimals_from names no point", _base_modbus,
     _set(("points", "level", "decimals_from"), "decimals"),
     (23, 'points[1].decimals_from = "decimals": expected another point of this profile with an '
          "integer type: decimal_point")),
    ("decimals_from names a float point", _base_modbus,
     _set(("points", "level", "decimals_from"), "flow"),
     (23, "points[1].decimals_from = \"flow\": expected a point of an integer type; 'flow' is "
          "float32")),
    ("string without length", _base_modbus, _set(("points", "flow", "type"), "string"),
     (30, "points[3].length: missing; expected the string's length in registers, 1..125")),
    ("length on a number", _base_modbus, _set(("points", "flow", "length"), 2),
     (35, 'points[3].length = 2: expected no length for a float32 (only type = "string" has one)')),
    ("flags on a number", _base_modbus, _set(("points", "flow", "flags"), {"0": "x"}),
     (35, "points[3].flags = {'0': 'x'}: expected no flags for a float32 (only bits16 and bits32 "
          "have them)")),
    ("flag bit beyond the width", _base_modbus,
     _set(("points", "status", "flags"), {"16": "overflow"}),
     (29, 'points[2].flags.16 = "16": expected a bit number 0..15 as the key')),
    ("enum on a float", _base_modbus, _set(("points", "flow", "enum"), {"1": "on"}),
     (35, "points[3].enum = {'1': 'on'}: expected no enum for a float32 (only integer types have "
          "one)")),
    ("total that is a string", _base_modbus,
     _append({"name": "serial", "function": 3, "address": 20, "type": "string", "length": 4,
              "kind": "total"}),
     (39, 'points[4].type = "string": expected a numeric type for a totaliser (kind = "total"), '
          "not a string or bits")),
    ("rollover on an instant value", _base_modbus,
     _set(("points", "flow", "rollover"), 99999.0),
     (35, "points[3].rollover = 99999.0: expected no rollover for kind = 'instant' (only "
          "totalisers wrap)")),
    ("overlapping registers", _base_modbus,
     _append({"name": "flow_low", "function": 3, "address": 7, "type": "u16"}),
     (38, "points[4].address = 7: expected registers not already read by points[3] 'flow' "
          "(0x0006..0x0007, function 3); if intended, set overlaps = 'flow'")),
    ("overlaps names no point", _base_modbus,
     _append({"name": "flow_low", "function": 3, "address": 7, "type": "u16",
              "overlaps": "flw"}),
     (38, 'points[4].address = 7: expected registers not already read by points[3] \'flow\' '
          "(0x0006..0x0007, function 3); if intended, set overlaps = 'flow'"),
     (40, 'points[4].overlaps = "flw": expected the name of another point of this profile: '
          "decimal_point, level, status, flow")),
    ("DL/T 645 point in a Modbus profile", _base_modbus,
     _append({"name": "import_energy", "di": "00010000", "length": 4, "decimals": 2,
              "kind": "total", "unit": "kWh"}),
     (37, 'points[4].di = "00010000": expected no DL/T 645 point in a Modbus profile: give '
          "function, address and type")),
    ("Modbus point in a DL/T 645 profile", _base_dlt645,
     _append({"name": "flow", "function": 3, "address": 0, "type": "u16"}),
     (21, "points[1].address = 0: expected no Modbus point in a DL/T 645 profile: give di, length "
          "and decimals")),
    ("two points with one name", _base_modbus,
     _append({"name": "flow", "function": 3, "address": 40, "type": "u16"}),
     (36, 'points[4].name = "flow": expected a name not already used by points[3]')),
    ("canonical name with another kind", _base_dlt645,
     _set(("points", "import_energy", "kind"), "instant"),
     (17, "points[0].kind = \"instant\": expected 'total': 'import_energy' is a canonical name "
          "(docs/points.md)")),
    ("slave id in a DL/T 645 profile", _base_dlt645, _set(("defaults", "slave_id"), 1),
     (11, "defaults.slave_id = 1: expected no slave_id: DL/T 645 meters are addressed by their "
          "12-digit address")),
    ("one DI twice", _base_dlt645,
     _append({"name": "import_again", "di": "00010000", "length": 4, "decimals": 2,
              "kind": "total"}),
     (20, 'points[1].di = "00010000": expected a DI not already read by points[0]')),
    ("decimals out of range", _base_dlt645,
     _set(("points", "import_energy", "decimals"), 7),
     (15, "points[0].decimals = 7: expected an integer 0..6")),
    ("decimals that fill every digit", _base_dlt645,
     _append({"name": "voltage_l1", "di": "02010100", "length": 1, "decimals": 2,
              "unit": "V"}),
     (22, "points[1].decimals = 2: expected fewer decimals than the 2 BCD digits of 1 byte(s)")),
    ("unknown key in a point", _base_modbus, _set(("points", "flow", "adress"), 6),
     (35, "points[3].adress: unknown key; expected one of: name, function, address, type, order, "
          "length, unit, scale, offset, decimals_from, kind, flags, enum, rollover, resolution, "
          "plausible, overlaps, description; did you mean 'address'?")),
    ("baud that is not a standard rate", _base_modbus, _set(("defaults", "baud"), 9601),
     (9, "defaults.baud = 9601: expected one of: 1200, 2400, 4800, 9600, 19200, 38400, 57600, "
         "115200")),
    ("zero scale", _base_modbus, _set(("points", "flow", "scale"), 0.0),
     (35, "points[3].scale = 0.0: expected a number other than 0")),
    ("readable gap that ends before it starts", _base_modbus,
     _set(("defaults", "readable_gaps"), [{"function": 3, "first": 10, "last": 2}]),
     (11, "defaults.readable_gaps[0] = {'function': 3, 'first': 10, 'last': 2}: expected a list "
          "of tables {function = 3 or 4, first = address, last = address >= first}")),
    ("readable gap on a write function", _base_modbus,
     _set(("defaults", "readable_gaps"), [{"function": 6, "first": 0, "last": 2}]),
     (11, "defaults.readable_gaps[0].function = 6: expected 3 (holding registers) or 4 (input "
          "registers)")),
]


@pytest.mark.parametrize("case", RULE_CASES, ids=[case[0] for case in RULE_CASES])
def test_profile_rule_reports_file_line_path_value_and_what_is_allowed(tmp_path, case):
    _, base, change, *expected = case
    data = base()
    change(data)
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    assert caught.value.errors == [f"{path}:{line}: {message}" for line, message in expected]


def test_intended_overlap_is_allowed(tmp_path):
    data = _base_modbus()
    data["points"].append({"name": "flow_low", "function": 3, "address": 7, "type": "u16",
                           "overlaps": "flow"})
    assert load_profile_file(_write(tmp_path, "test-meter", data)).point("flow_low").overlaps


def test_same_registers_on_another_function_do_not_overlap(tmp_path):
    data = _base_modbus()
    data["points"].append({"name": "flow_input", "function": 4, "address": 6, "type": "float32"})
    load_profile_file(_write(tmp_path, "test-meter", data))


def test_base_profiles_of_the_rule_cases_are_valid(tmp_path):
    for base in (_base_modbus, _base_dlt645):
        load_profile_file(_write(tmp_path, "test-meter", base()))


def test_file_name_must_equal_model_name(tmp_path):
    path = _write(tmp_path, "other-name", _base_modbus())
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    assert caught.value.errors == [
        f'{path}:2: model.name = "test-meter": expected the file\'s name without .toml, '
        "'other-name' (installers pick a model by its file name)"
    ]


def test_several_problems_are_reported_together(tmp_path):
    data = _base_modbus()
    data["defaults"]["parity"] = "X"
    _point(data, "flow")["function"] = 6
    _point(data, "level")["decimals_from"] = "nothing"
    data["model"]["name"] = "wrong"
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    errors = caught.value.errors
    assert len(errors) == 3, errors  # field errors first; rules run once fields are valid
    assert any("defaults.parity = \"X\": expected one of: N, E, O" in e for e in errors)
    assert any("points[3].function = 6: expected 3 (holding registers) or 4" in e for e in errors)
    assert any("model.name = \"wrong\"" in e for e in errors)


def test_profile_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[model]\nname = "broken"\nrole = \n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    assert caught.value.errors[0].startswith(f"{path}:3:")
    assert "TOML syntax error" in caught.value.errors[0]


def test_builtin_profiles_round_trip_through_the_test_writer(tmp_path):
    # The writer used by the rule cases keeps a real profile valid, so the cases test the rules.
    data = tomllib.loads((BUILTIN_PROFILE_DIR / "tuf-2000m.toml").read_text(encoding="utf-8"))
    reloaded = load_profile_file(_write(tmp_path, "tuf-2000m", copy.deepcopy(data)))
    assert reloaded == load_profile("tuf-2000m")


# --- units: a fixed list per quantity, checked when a profile loads -------------------------------
ENERGY_UNITS = "'kWh', 'Wh', 'MWh'"


@pytest.mark.parametrize("unit", ["gal", "GJ", "kwh", "m^3", "KWH"])
def test_an_energy_total_in_a_unit_not_listed_is_refused_naming_the_allowed_ones(tmp_path, unit):
    # before: lower-cased and looked up, a missing unit counted with factor 1 (1 GJ as 1 kWh)
    data = _base_dlt645()
    _set(("points", "import_energy", "unit"), unit)(data)
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    assert caught.value.errors == [
        f'{path}:16: points[0].unit = "{unit}": expected a unit of energy (case matters): '
        f"{ENERGY_UNITS}"]


@pytest.mark.parametrize(("name", "unit", "allowed"), [
    ("active_power", "mW", "'W', 'kW', 'MW'"),  # milliwatt is not megawatt
    ("forward_total", "gal", "'m3', 'm³', 'L', 'l', 't'"),
    ("forward_total", "m^3", "'m3', 'm³', 'L', 'l', 't'"),
    ("voltage_l2", "kWh", "'V', 'kV', 'mV'"),
])
def test_a_canonical_point_takes_a_unit_of_its_quantity(tmp_path, name, unit, allowed):
    data = _base_modbus()
    data["points"].append({"name": name, "function": 4, "address": 20, "type": "float32",
                           "unit": unit, **({"kind": "total"} if name.endswith("total") else {})})
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    [error] = caught.value.errors
    assert error.endswith(f'points[4].unit = "{unit}": expected a unit of '
                          f"{quantity_of(allowed.split(',')[0].strip(chr(39)))} (case matters): "
                          f"{allowed}")


def test_any_other_point_takes_a_listed_unit_and_the_error_lists_them(tmp_path):
    data = _base_modbus()
    _set(("points", "flow", "unit"), "furlong")(data)
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    [error] = caught.value.errors
    assert 'points[3].unit = "furlong": expected a known unit (case matters): volume' in error
    assert "power 'W', 'kW', 'MW'" in error and "energy 'kWh', 'Wh', 'MWh'" in error


def test_units_convert_with_their_case_and_unknown_ones_raise():
    assert from_base(1.5, "kW") == 1.5 and from_base(1.5, "W") == 1500.0
    assert from_base(1.5, "MW") == pytest.approx(0.0015)
    assert from_base(2.0, "m³/h") == from_base(2.0, "m3/h") == 2.0
    assert from_base(1.0, "L") == 1000.0
    with pytest.raises(ValueError, match=r"unit 'mW' is not known; expected a known unit"):
        from_base(1.0, "mW")
    with pytest.raises(ValueError, match=r"unit 'gal' is not known"):
        from_base(1.0, "gal")


def test_a_resolution_is_for_totalisers_only(tmp_path):
    data = _base_modbus()
    _set(("points", "flow", "resolution"), 0.01)(data)
    path = _write(tmp_path, "test-meter", data)
    with pytest.raises(ConfigError) as caught:
        load_profile_file(path)
    assert caught.value.errors == [f"{path}:35: points[3].resolution = 0.01: expected no "
                                   "resolution for kind = 'instant' (only totalisers have one)"]
