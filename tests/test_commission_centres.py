"""The centres `wellgate commission` writes: the report's points picked from the meters' roles,
the [[uplinks]] tables the config loader takes back, each station address read back from the
uplink's first frame (SZY206-2016's short time tag too; a county code with a leading zero kept),
and a password that is never repeated in an error."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.commission import Site, site_toml
from gateway.commission_centres import (
    frame_address,
    parse_spec,
    read_password_file,
    registration_centres,
    report_points,
)
from gateway.config import load_config
from gateway.scan_report import BusChoice, DeviceChoice

DEVICES = {"flow-1": "flow", "energy-2": "energy", "flow-4": "flow"}
POINTS = {"flow-1": ["forward_total", "flow_rate", "velocity"],
          "energy-2": ["import_energy", "active_power", "voltage_l1"],
          "flow-4": ["forward_total", "flow_rate"]}


def test_the_report_takes_the_accounting_meters_points_and_leaves_out_what_none_reads():
    chosen = {"flow": "flow-4", "energy": None, "level": None}
    assert report_points(DEVICES, chosen, POINTS) == {
        "flow": "flow-4/flow_rate", "volume": "flow-4/forward_total",
        "energy": "energy-2/import_energy", "pump_power": "energy-2/active_power"}
    assert report_points({"energy-2": "energy"}, {}, {"energy-2": ["import_energy"]}) == {
        "energy": "energy-2/import_energy"}


def test_written_centres_load_back_and_each_address_is_read_from_its_own_frame(tmp_path):
    secret = tmp_path / "city.password"
    secret.write_text("4321\n")
    city = parse_spec(f"sl427,127.0.0.1:6001,county=050381,station=60000,edition=SZY206-2016,"
                      f"name=city,password-file={secret},report_period=120", 1)
    county = parse_spec("sl651,127.0.0.1:6002,station=0000000001,centre_address=255,"
                        "station_class=pump_station", 2)
    for centre in (city, county):
        centre.points = {"volume": "flow-1/forward_total"}
    bus = BusChoice("rs485-1", "rtu", "/dev/ttyUSB0", 9600, "N",
                    [DeviceChoice("flow-1", "tuf-2000m", 1)])
    path = tmp_path / "site.toml"
    path.write_text(site_toml(Site("150602-0017", "Asia/Shanghai", str(tmp_path / "s"),
                                   str(tmp_path / "r"), [bus], None, [city, county]), "test"))
    config = load_config(path)
    loaded_city, loaded_county = config.uplinks
    assert (loaded_city.edition, loaded_city.county, loaded_city.station, loaded_city.password,
            loaded_city.report_period) == ("SZY206-2016", "050381", 60000, "4321", 120.0)
    assert (loaded_county.centre_address, loaded_county.station_class,
            loaded_county.password) == (255, "pump_station", "0000")
    centres = registration_centres(config, "SHA256:ab")
    assert [(c["name"], c["station_address"], c["centre"]) for c in centres] == [
        ("city", "050381/60000", "127.0.0.1:6001"), ("centre-2", "0000000001", "127.0.0.1:6002")]
    assert frame_address(loaded_city, ZoneInfo("Asia/Shanghai")) == "050381/60000"


@pytest.mark.parametrize(("protocol", "text", "expected"), [
    ("sl427", "12a4", "is not 4 digits (key 1, then key 2) (4 character(s))"),
    ("sl651", "12G4", "is not 4 hex digits (4 character(s))"),
    ("sl651", "", "is not 4 hex digits (0 character(s))"),
])
def test_a_wrong_password_file_says_why_without_repeating_it(tmp_path, protocol, text,
                                                             expected):
    secret = Path(tmp_path / "pw")
    secret.write_text(text + "\n")
    with pytest.raises(ValueError, match=r"in .*pw " + expected.replace("(", r"\(").replace(
            ")", r"\)")) as error:
        read_password_file(protocol, secret)
    assert not text or text not in str(error.value)
