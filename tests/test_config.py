"""The gateway config: every example loads, defaults come from the schema, the helpers resolve."""

from __future__ import annotations

import re
import shutil
import textwrap
import typing
from pathlib import Path

import annotated_types
import pytest
from pydantic.fields import FieldInfo

import gateway.config as config_package
from gateway.config import (
    Dlt645Bus,
    GatewayConfig,
    HttpsUplink,
    MqttUplink,
    RtuBus,
    TcpBus,
    load_config,
    resolve_inter_frame_gap,
    summarize,
)
from gateway.config.fields import Section
from gateway.errors import ConfigError, Problem, find_line, format_problem
from gateway.profiles import BUILTIN_PROFILE_DIR, PROFILE_PATH_ENV

EXAMPLES = Path(__file__).resolve().parent.parent / "config" / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.toml"))


def _config(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


MINIMAL = """\
    [well]
    id = "w1"

    [[buses]]
    name = "rs485-1"
    type = "rtu"
    port = "/dev/ttyUSB0"

    [[buses]]
    name = "meter-645"
    type = "dlt645"
    port = "/dev/ttyUSB1"

    [[buses]]
    name = "tcp-1"
    type = "tcp"
    host = "192.168.1.10"

    [[devices]]
    name = "level"
    bus = "rs485-1"
    model = "qdy30a"
    slave_id = 1
    points = ["level"]

    [[devices]]
    name = "grid"
    bus = "meter-645"
    model = "dlt645-generic"
    address = "000000000001"

    [[devices]]
    name = "flow"
    bus = "tcp-1"
    model = "tuf-2000m"
    slave_id = 1
    role = "flow"
"""


@pytest.fixture
def minimal(tmp_path) -> GatewayConfig:
    return load_config(_config(tmp_path, MINIMAL))


def test_there_are_examples_of_each_bus_type():
    types = {bus.type for path in EXAMPLE_FILES for bus in load_config(path).buses}
    assert types == {"rtu", "tcp", "dlt645"}
    assert {"demo.toml", "single-well-sdm120.toml", "three-phase-dtsu666-tcp.toml"} <= {
        path.name for path in EXAMPLE_FILES
    }


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_example_config_validates_and_summarizes(path):
    config = load_config(path)
    assert config.source == path
    summary = summarize(config)
    for device in config.devices:
        assert device.name in summary and device.model in summary
    for bus in config.buses:
        assert f"bus {bus.name}:" in summary


def test_demo_is_the_simulated_well_of_the_issue():
    config = load_config(EXAMPLES / "demo.toml")
    rtu, dlt = config.bus("rs485-1"), config.bus("meter-645")
    assert (rtu.type, rtu.baud, rtu.line()) == ("rtu", 9600, "9600 8N1")
    assert (dlt.type, dlt.line()) == ("dlt645", "2400 8E1")
    assert rtu.port.startswith("sim://") and dlt.port.startswith("sim://")
    on_rtu = {(d.model, d.slave_id) for d in config.devices_on(rtu)}
    assert on_rtu == {("tuf-2000m", 1), ("chint-dtsu666", 2), ("qdy30a", 3), ("xintai-emf", 4)}
    assert [(d.model, d.address) for d in config.devices_on(dlt)] == [
        ("dlt645-generic", "000000000001")]


def test_defaults_come_from_the_schema(minimal):
    rtu, dlt, tcp = minimal.buses
    assert (rtu.baud, rtu.parity, rtu.stop_bits, rtu.bytesize) == (9600, "N", 1, 8)
    assert rtu.timeout == 0.5
    assert (dlt.baud, dlt.parity, dlt.timeout) == (2400, "E", 1.0)  # DL/T 645's usual 2400 8E1
    assert (tcp.tcp_port, tcp.timeout, tcp.retries) == (502, 1.0, 1)
    assert rtu.inter_frame_gap == "auto"
    assert (minimal.well.timezone, minimal.well.name) == ("Asia/Shanghai", "")
    acquisition = minimal.acquisition
    assert (acquisition.offline_after, acquisition.backoff_initial, acquisition.backoff_max) == (
        3, 5.0, 300.0)
    assert minimal.gateway.runtime_dir == "/run/wellgate"
    assert minimal.device("grid").poll_interval == 5.0


def test_a_bus_type_default_gives_way_to_the_config(tmp_path):
    text = MINIMAL.replace('type = "dlt645"', 'type = "dlt645"\n    baud = 9600\n    parity = "N"')
    dlt = load_config(_config(tmp_path, text)).bus("meter-645")
    assert dlt.line() == "9600 8N1"


def test_a_slave_id_may_repeat_on_another_bus(minimal):
    level, flow = minimal.device("level"), minimal.device("flow")
    assert level.bus != flow.bus and level.slave_id == flow.slave_id == 1


def test_device_profile_is_loaded_once(minimal):
    profile = minimal.device_profile("level")
    assert profile is minimal.device_profile(minimal.device("level"))
    assert profile.model.name == "qdy30a"


def test_effective_role_is_the_devices_or_else_the_profiles(tmp_path):
    text = MINIMAL.replace('role = "flow"', 'role = "relay"')
    config = load_config(_config(tmp_path, text))
    assert config.effective_role("flow") == "relay"
    assert config.effective_role("level") == "level"
    assert config.effective_role("grid") == "energy"


def test_effective_points_add_what_decimals_come_from(minimal):
    assert [p.name for p in minimal.effective_points("level")] == ["decimal_point", "level"]
    profile = minimal.device_profile("flow")
    assert minimal.effective_points("flow") == list(profile.points)  # no subset: all points


def test_profile_dirs_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "site" / "profiles").mkdir(parents=True)
    text = (BUILTIN_PROFILE_DIR / "qdy30a.toml").read_text(encoding="utf-8")
    custom = tmp_path / "site" / "profiles" / "well-level-x.toml"
    custom.write_text(text.replace('name = "qdy30a"', 'name = "well-level-x"'), encoding="utf-8")
    config_text = 'profile_dirs = ["profiles"]\n' + textwrap.dedent(MINIMAL).replace(
        'model = "qdy30a"', 'model = "well-level-x"')
    path = tmp_path / "site" / "site.toml"
    path.write_text(config_text, encoding="utf-8")
    config = load_config(path)
    assert config.profile_dirs == [tmp_path / "site" / "profiles"]
    assert config.device_profile("level").model.name == "well-level-x"


def test_a_profile_on_the_env_path_can_be_picked(tmp_path, monkeypatch):
    folder = tmp_path / "more"
    folder.mkdir()
    shutil.copy(BUILTIN_PROFILE_DIR / "eastron-sdm120.toml", folder / "eastron-sdm120.toml")
    (folder / "my-meter.toml").write_text(
        (folder / "eastron-sdm120.toml").read_text(encoding="utf-8").replace(
            'name = "eastron-sdm120"', 'name = "my-meter"'), encoding="utf-8")
    monkeypatch.setenv(PROFILE_PATH_ENV, str(folder))
    config = load_config(_config(tmp_path, MINIMAL.replace('model = "tuf-2000m"',
                                                           'model = "my-meter"')))
    assert config.device_profile("flow").model.manufacturer == "Eastron"


# The rule of Modbus over serial line V1.02 (2.5.1.1), computed here independently: 3.5 characters
# of 11 bits, and a fixed 1.75 ms above 19200 baud.
GAP_VECTORS = [
    (1200, 3.5 * 11 / 1200),
    (2400, 3.5 * 11 / 2400),
    (9600, 0.0040104166),
    (19200, 3.5 * 11 / 19200),
    (38400, 0.00175),
    (115200, 0.00175),
]


@pytest.mark.parametrize(("baud", "seconds"), GAP_VECTORS)
def test_auto_inter_frame_gap(minimal, baud, seconds):
    bus = minimal.bus("rs485-1").model_copy(update={"baud": baud})
    assert resolve_inter_frame_gap(bus) == pytest.approx(seconds, rel=1e-6)


def test_given_inter_frame_gap_wins_and_tcp_has_none(tmp_path):
    text = MINIMAL.replace('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\n    inter_frame_gap = 0.01')
    config = load_config(_config(tmp_path, text))
    assert resolve_inter_frame_gap(config.bus("rs485-1")) == 0.01
    assert resolve_inter_frame_gap(config.bus("tcp-1")) == 0.0


def test_with_ports_replaces_only_the_named_buses(minimal):
    moved = minimal.with_ports({"rs485-1": "sim://rtu"})
    assert moved.bus("rs485-1").port == "sim://rtu"
    assert moved.bus("meter-645").port == "/dev/ttyUSB1"
    assert minimal.bus("rs485-1").port == "/dev/ttyUSB0"  # the original is unchanged
    assert moved.device_profile("level") is minimal.device_profile("level")
    with pytest.raises(KeyError, match="no bus named 'nope'"):
        minimal.with_ports({"nope": "/dev/null"})


def test_lookups_name_what_exists(minimal):
    with pytest.raises(KeyError, match="devices: level, grid, flow"):
        minimal.device("pump")
    with pytest.raises(KeyError, match="buses: rs485-1, meter-645, tcp-1"):
        minimal.bus("rs485-9")


def test_summary_lists_buses_devices_models_and_intervals(minimal):
    summary = summarize(minimal)
    assert "3 bus(es), 3 device(s), models: dlt645-generic, qdy30a, tuf-2000m" in summary
    assert "bus rs485-1: rtu /dev/ttyUSB0 9600 8N1, gap 4.01 ms" in summary
    assert "bus tcp-1: tcp 192.168.1.10:502" in summary
    assert "address 000000000001" in summary
    assert "every 5 s, 2 points" in summary  # the level subset plus its decimal_point


# --- the line locator ---------------------------------------------------------------------------

LOCATOR_TEXT = """\
profile_dirs = ["x"]
[well]
id = "w1"

[[buses]]
name = "a"
'baud' = 9600

[[buses]]
name = "b"

[[devices]]
name = "d"
points = ["p", "q"]

[devices.flags]
"3" = "x"
"""

LOCATOR_CASES = [
    (("profile_dirs", 0), 1),
    (("well", "id"), 3),
    (("well", "timezone"), 2),  # a missing key: the line of its table
    (("buses", 0, "baud"), 7),  # a quoted key
    (("buses", 1, "name"), 10),
    (("buses", 1, "port"), 9),
    (("devices", 0, "points", 1), 14),
    (("devices", 0, "flags", "3"), 17),  # a [table] inside the latest [[devices]]
    (("devices", 0, "flags", "4"), 16),
    (("acquisition", "offline_after"), None),  # neither the key nor its table is written
]


@pytest.mark.parametrize(("loc", "line"), LOCATOR_CASES)
def test_find_line(loc, line):
    assert find_line(LOCATOR_TEXT, loc) == line


def test_problem_without_a_line_still_names_the_file():
    problem = Problem(("acquisition", "offline_after"), "an integer 1..1000", 0)
    assert format_problem(problem, "site.toml", LOCATOR_TEXT) == (
        "site.toml: acquisition.offline_after = 0: expected an integer 1..1000")


def test_config_error_lists_every_error():
    error = ConfigError(["a.toml:1: first", "a.toml:2: second"])
    assert str(error) == "a.toml:1: first\na.toml:2: second"
    assert error.errors == ["a.toml:1: first", "a.toml:2: second"]


# --- the schema itself --------------------------------------------------------------------------

BOUND_TYPES = (annotated_types.Ge, annotated_types.Gt, annotated_types.Le, annotated_types.Lt)
NUMBER = r"(0x[0-9A-F]+|-?\d+(?:\.\d+)?)"
# Checked by a validator whose bound its text shares (buses.MAX_INTER_FRAME_GAP), not by Field.
VALIDATOR_BOUNDS = {"inter_frame_gap"}


def _schema_models() -> list[type[Section]]:
    found = (getattr(config_package, name) for name in config_package.__all__)
    return [value for value in found if isinstance(value, type) and issubclass(value, Section)]


def _bounds(metadata: list, annotation) -> dict[str, float]:
    """A field's bounds, or (a list field) its items' bounds."""
    bounds = {type(item).__name__.lower(): float(getattr(item, type(item).__name__.lower()))
              for item in metadata if isinstance(item, BOUND_TYPES)}
    for arg in typing.get_args(annotation):
        inner = [item for info in typing.get_args(arg)[1:] if isinstance(info, FieldInfo)
                 for item in info.metadata]
        bounds = bounds or _bounds(inner, None)
    return bounds


def _number(text: str) -> float:
    return float(int(text, 16)) if text.startswith("0x") else float(text)


def _bounds_said(text: str) -> dict[str, float]:
    said: dict[str, float] = {}
    if found := re.search(NUMBER + r"\.\." + NUMBER, text):
        said |= {"ge": _number(found[1]), "le": _number(found[2])}
    for words, key in (("more than", "gt"), ("at least", "ge"), ("at most", "le"),
                       ("less than", "lt")):
        if found := re.search(words + " " + NUMBER, text):
            said[key] = _number(found[1])
    return said


@pytest.mark.parametrize("model", _schema_models(), ids=lambda model: model.__name__)
def test_a_range_in_a_help_text_is_the_fields_bounds(model):
    for name, field in model.model_fields.items():
        if name in VALIDATOR_BOUNDS:
            continue
        said = _bounds_said(field.description or "")
        bounds = _bounds(field.metadata, field.annotation)
        assert said == bounds or not said, f"{model.__name__}.{name}: {field.description!r}"


def test_keys_of_another_type_are_that_types_keys():
    for family in ((RtuBus, TcpBus, Dlt645Bus), (HttpsUplink, MqttUplink)):
        for model in family:
            others = {key for other in family if other is not model for key in other.model_fields}
            for key in model.OTHER_TYPE_KEYS:
                assert key not in model.model_fields and key in others, (model.__name__, key)
