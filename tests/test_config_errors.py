"""Broken gateway configs: each error names file, line, key path, value given, what is allowed."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.config import load_config
from gateway.errors import ConfigError
from gateway.profiles import BUILTIN_PROFILE_DIR

# A valid config; each case changes it by text replacement. Its lines, numbered for the cases:
#  1 [well]
#  2 id = "w1"
#  3
#  4 [[buses]]
#  5 name = "rs485-1"
#  6 type = "rtu"
#  7 port = "/dev/ttyUSB0"
#  8
#  9 [[devices]]
# 10 name = "flow-meter"
# 11 bus = "rs485-1"
# 12 model = "tuf-2000m"
# 13 slave_id = 1
BASE = """\
[well]
id = "w1"

[[buses]]
name = "rs485-1"
type = "rtu"
port = "/dev/ttyUSB0"

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
"""

SECOND_DEVICE = """
[[devices]]
name = "energy-meter"
bus = "rs485-1"
model = "chint-dtsu666"
slave_id = 2
"""  # appended: its header is line 15, name 16, bus 17, model 18, slave_id 19

BAUDS = "one of: 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200"
MODELS = ("one of: acrel-adw300, chint-ddsu666, chint-dtsu666, daviteq-mbrtu-tbd, dlt645-generic, "
          "eastron-sdm120, eastron-sdm630, modbus-relay, qdy30a, seeed-ectds10, supmea-ph8001, "
          "tuf-2000m, xintai-emf")
DLT645_METER = "'dlt645-generic' is a DL/T 645 meter"
MODBUS_METER = "'tuf-2000m' is a Modbus meter"


@dataclass
class Case:
    name: str
    changes: list[tuple[str, str]]  # (old, new) text replacements applied to BASE, in order
    expected: list[str]  # the whole error list, each after "<file>"
    append: str = ""
    extra_files: dict[str, str] = field(default_factory=dict)  # relative path -> text

    def text(self) -> str:
        text = BASE
        for old, new in self.changes:
            assert old in text, old
            text = text.replace(old, new, 1)
        return text + self.append


CASES = [
    Case("slave id as a string", [("slave_id = 1", 'slave_id = "1"')],
         [':13: devices[0].slave_id = "1": expected an integer 1..247']),
    Case("slave id 0", [("slave_id = 1", "slave_id = 0")],
         [":13: devices[0].slave_id = 0: expected an integer 1..247"]),
    Case("slave id 248", [("slave_id = 1", "slave_id = 248")],
         [":13: devices[0].slave_id = 248: expected an integer 1..247"]),
    Case("slave id not whole", [("slave_id = 1", "slave_id = 1.5")],
         [":13: devices[0].slave_id = 1.5: expected an integer 1..247"]),
    Case("baud not a standard rate", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nbaud = 9601')],
         [f":8: buses[0].baud = 9601: expected {BAUDS}"]),
    Case("baud below the range", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nbaud = 300')],
         [f":8: buses[0].baud = 300: expected {BAUDS}"]),
    Case("baud as a string", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nbaud = "9600"')],
         [f':8: buses[0].baud = "9600": expected {BAUDS}']),
    Case("parity letter", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nparity = "X"')],
         [':8: buses[0].parity = "X": expected one of: N, E, O']),
    Case("three stop bits", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nstop_bits = 3')],
         [":8: buses[0].stop_bits = 3: expected one of: 1, 2"]),
    Case("unknown model", [('"tuf-2000m"', '"tuf2000"')],
         [f":12: devices[0].model = \"tuf2000\": expected {MODELS}; did you mean 'tuf-2000m'?"]),
    Case("model in capitals", [('"tuf-2000m"', '"TUF-2000M"')],
         [f":12: devices[0].model = \"TUF-2000M\": expected {MODELS}; did you mean 'tuf-2000m'?"]),
    Case("duplicate slave id", [], [
        ":19: devices[1].slave_id = 1: expected a slave_id not used by another device on bus "
        "'rs485-1' (devices[0] has it)"],
         append=SECOND_DEVICE.replace("slave_id = 2", "slave_id = 1")),
    Case("missing bus", [('bus = "rs485-1"', 'bus = "rs485-2"')],
         [':11: devices[0].bus = "rs485-2": expected the name of a bus: rs485-1; '
          "did you mean 'rs485-1'?"]),
    Case("DL/T 645 meter on a Modbus RTU bus",
         [('"tuf-2000m"', '"dlt645-generic"'), ("slave_id = 1", 'address = "000000000001"')],
         [f':11: devices[0].bus = "rs485-1": expected a bus of type dlt645 ({DLT645_METER}); '
          "bus 'rs485-1' is of type rtu"]),
    Case("Modbus meter on a DL/T 645 bus", [('type = "rtu"', 'type = "dlt645"')],
         [f':11: devices[0].bus = "rs485-1": expected a bus of type rtu or tcp ({MODBUS_METER}); '
          "bus 'rs485-1' is of type dlt645"]),
    Case("serial bus without a port", [('port = "/dev/ttyUSB0"\n', "")],
         [':4: buses[0].port: missing; expected the serial port of this rtu bus, '
          'e.g. "/dev/ttyUSB0"']),
    Case("tcp bus without a host", [('type = "rtu"\nport = "/dev/ttyUSB0"', 'type = "tcp"')],
         [':4: buses[0].host: missing; expected the host of this tcp bus, e.g. "192.168.1.10"']),
    Case("serial port on a tcp bus", [('type = "rtu"', 'type = "tcp"\nhost = "10.0.0.2"')],
         [':8: buses[0].port = "/dev/ttyUSB0": expected no port on a tcp bus: give host and '
          "tcp_port (port is for serial buses)"]),
    Case("host on a serial bus", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nhost = "10.0.0.2"')],
         [':8: buses[0].host = "10.0.0.2": expected no host on a bus of type rtu '
          '(only type = "tcp" has one)']),
    Case("misspelt key", [("slave_id = 1", "sleve_id = 1")],
         [f":9: devices[0].slave_id: missing; expected an integer 1..247, the Modbus unit id "
          f"({MODBUS_METER})",
          ":13: devices[0].sleve_id: unknown key; expected one of: name, bus, model, slave_id, "
          "address, poll_interval, role, points; did you mean 'slave_id'?"]),
    Case("misspelt section", [], [
        ":15: acquisiton: unknown key; expected one of: profile_dirs, gateway, well, acquisition, "
        "store, buses, devices, uplinks, status; did you mean 'acquisition'?"],
         append="\n[acquisiton]\noffline_after = 3\n"),
    Case("TOML syntax error", [("slave_id = 1", "slave_id = ")],
         [":13:12: TOML syntax error: Invalid value"]),
    Case("DL/T 645 meter without an address",
         [('type = "rtu"', 'type = "dlt645"'), ('"tuf-2000m"', '"dlt645-generic"'),
          ("slave_id = 1\n", "")],
         [f':9: devices[0].address: missing; expected 12 digits as on the meter\'s nameplate, '
          f'e.g. "000000000001" ({DLT645_METER})']),
    Case("DL/T 645 address of 11 digits",
         [('type = "rtu"', 'type = "dlt645"'), ('"tuf-2000m"', '"dlt645-generic"'),
          ("slave_id = 1", 'address = "00000000001"')],
         [':13: devices[0].address = "00000000001": expected 12 digits as printed on the '
          'meter\'s nameplate, e.g. "000000000001"']),
    Case("slave id on a DL/T 645 meter",
         [('type = "rtu"', 'type = "dlt645"'), ('"tuf-2000m"', '"dlt645-generic"'),
          ("slave_id = 1", 'address = "000000000001"\nslave_id = 1')],
         [f":14: devices[0].slave_id = 1: expected no slave_id ({DLT645_METER}, addressed by "
          "its 12-digit address)"]),
    Case("address on a Modbus meter", [("slave_id = 1", 'slave_id = 1\naddress = "000000000001"')],
         [f':14: devices[0].address = "000000000001": expected no address ({MODBUS_METER}, '
          "addressed by slave_id)"]),
    Case("Modbus meter without a slave id", [("slave_id = 1\n", "")],
         [f":9: devices[0].slave_id: missing; expected an integer 1..247, the Modbus unit id "
          f"({MODBUS_METER})"]),
    Case("point the profile does not have", [("slave_id = 1", 'slave_id = 1\npoints = ["flow"]')],
         [':14: devices[0].points[0] = "flow": expected a point of \'tuf-2000m\': flow_rate, '
          "velocity, forward_total, reverse_total, net_total, error_code, step_and_signal_quality, "
          "totalizer_unit, totalizer_multiplier; did you mean 'flow_rate'?"]),
    Case("two devices with one name", [], [
        ':16: devices[1].name = "flow-meter": expected a name not already used by devices[0]'],
         append=SECOND_DEVICE.replace('"energy-meter"', '"flow-meter"')),
    Case("two buses with one name", [], [
        ':16: buses[1].name = "rs485-1": expected a name not already used by buses[0]'],
         append='\n[[buses]]\nname = "rs485-1"\ntype = "rtu"\nport = "/dev/ttyUSB1"\n'),
    Case("unknown time zone", [('id = "w1"', 'id = "w1"\ntimezone = "Beijing"')],
         [':3: well.timezone = "Beijing": expected an IANA time zone name, e.g. "Asia/Shanghai"']),
    Case("backoff that shrinks", [], [
        ":17: acquisition.backoff_max = 10.0: expected at least backoff_initial (60.0)"],
         append="\n[acquisition]\nbackoff_initial = 60.0\nbackoff_max = 10.0\n"),
    Case("no well", [('[well]\nid = "w1"\n', "")],
         [': well: missing; expected a [well] table with at least id = "..."']),
    Case("no devices", [('[[devices]]\nname = "flow-meter"\nbus = "rs485-1"\n'
                         'model = "tuf-2000m"\nslave_id = 1\n', "")],
         [": devices: missing; expected a list of at least one [[devices]] table"]),
    Case("inter-frame gap word", [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\ninter_frame_gap = "fast"')],
         [':8: buses[0].inter_frame_gap = "fast": expected "auto" (3.5 character times; '
          '1.75 ms above 19200 baud) or seconds 0..1']),
    Case("poll interval 0", [("slave_id = 1", "slave_id = 1\npoll_interval = 0")],
         [":14: devices[0].poll_interval = 0: expected seconds, 0.1..86400"]),
    Case("role that does not exist", [("slave_id = 1", 'slave_id = 1\nrole = "pump"')],
         [':14: devices[0].role = "pump": expected one of: flow, energy, level, relay, quality']),
    Case("profile folder that does not exist", [('[well]', 'profile_dirs = ["nowhere"]\n[well]')],
         [':1: profile_dirs[0] = "nowhere": expected an existing folder ({dir}/nowhere is not '
          "one)"]),
    Case("several errors at once",
         [('"/dev/ttyUSB0"', '"/dev/ttyUSB0"\nbaud = 9601'), ('"tuf-2000m"', '"tuf2000"')],
         [f":8: buses[0].baud = 9601: expected {BAUDS}",
          f":13: devices[0].model = \"tuf2000\": expected {MODELS}; did you mean 'tuf-2000m'?",
          ':17: devices[1].name = "flow-meter": expected a name not already used by devices[0]',
          ":20: devices[1].slave_id = 1: expected a slave_id not used by another device on bus "
          "'rs485-1' (devices[0] has it)",
          ':21: devices[1].poll_interval = "5s": expected seconds, 0.1..86400'],
         append=SECOND_DEVICE.replace('"energy-meter"', '"flow-meter"').replace(
             "slave_id = 2", 'slave_id = 1\npoll_interval = "5s"')),
]


def _site(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(case.text(), encoding="utf-8")
    for relative, text in case.extra_files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_broken_config_reports_every_error_precisely(tmp_path, case):
    path = _site(tmp_path, case)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    expected = [f"{path}{line.replace('{dir}', str(tmp_path))}" for line in case.expected]
    assert caught.value.errors == expected, case.text()


def test_there_are_at_least_twenty_cases():
    assert len(CASES) >= 20


def test_each_case_breaks_a_valid_config(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(BASE + SECOND_DEVICE, encoding="utf-8")
    assert [d.name for d in load_config(path).devices] == ["flow-meter", "energy-meter"]


def test_empty_file(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [
        f"{path}: the file is empty (expected a gateway config TOML file)"]


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.errors == [f"{path}: no such file (expected a gateway config TOML file)"]


def test_folder_instead_of_a_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.errors == [f"{tmp_path}: is a folder (expected a gateway config TOML file)"]


def test_broken_profile_in_profile_dirs_names_the_profile_file(tmp_path):
    folder = tmp_path / "profiles"
    folder.mkdir()
    text = (BUILTIN_PROFILE_DIR / "qdy30a.toml").read_text(encoding="utf-8")
    broken = folder / "qdy30a.toml"
    level_decimals = 'decimals_from = "decimal_point"'  # the first one is level's
    broken.write_text(text.replace(level_decimals, 'decimals_from = "decimals"', 1),
                      encoding="utf-8")
    site = tmp_path / "site.toml"
    site.write_text('profile_dirs = ["profiles"]\n' + BASE.replace('"tuf-2000m"', '"qdy30a"'),
                    encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(site)
    line = broken.read_text(encoding="utf-8").splitlines().index('decimals_from = "decimals"') + 1
    assert caught.value.errors == [
        f'{broken}:{line}: points[4].decimals_from = "decimals": expected another point of this '
        "profile with an integer type: slave_address, baud_code, unit_code, decimal_point, "
        "zero_point, full_scale"]


# --- the command line: `wellgate check-config` (gateway/cli.py) --------------------------------


def _check_config(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_check_config_prints_every_error_and_exits_2(tmp_path):
    case = next(case for case in CASES if case.name == "several errors at once")
    path = _site(tmp_path, case)
    result = _check_config(path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for line in case.expected:
        assert f"{path}{line}" in result.stderr


def test_check_config_of_a_missing_file_exits_2_without_traceback(tmp_path):
    result = _check_config(tmp_path / "nowhere.toml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{tmp_path / 'nowhere.toml'}: no such file" in result.stderr


def test_check_config_of_a_valid_file_prints_the_summary(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(BASE, encoding="utf-8")
    result = _check_config(path)
    assert result.returncode == 0, result.stderr
    assert "flow-meter" in result.stdout and "tuf-2000m" in result.stdout
