"""[[uplinks]] of type sl427 and sl651: the example validates, and each wrong setting is reported
with file, line, key path, the value given and what is allowed (exit 2, nothing started)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import Sl427Uplink, Sl651Uplink, load_config
from gateway.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "examples" / \
    "city-and-county-centres.toml"
TEXT = EXAMPLE.read_text(encoding="utf-8")


def test_the_example_has_one_centre_of_each_protocol():
    config = load_config(EXAMPLE)
    city, county = config.uplinks
    assert isinstance(city, Sl427Uplink) and isinstance(county, Sl651Uplink)
    assert (city.edition, city.type_table, city.word_order, city.max_resends) == (
        "SL/T 427-2021", "SL/T 427-2021", "little", 3)
    assert (county.volume_identifier, county.energy_identifier, county.max_resends) == (
        "FF01", "FF02", 2)
    assert city.points.mapped()["volume"] == "flow-meter/forward_total"


@pytest.mark.parametrize(("old", "new", "message"), [
    ('edition = "SL/T 427-2021"', 'edition = "SZY206"',
     'uplinks[0].edition = "SZY206": expected "SL/T 427-2021" (7-byte time tag) or '
     '"SZY206-2016" (5-byte time tag)'),
    ('county = "150602"', 'county = "15060"',
     'uplinks[0].county = "15060": expected 6 digits (GB/T 2260), e.g. "150602"'),
    ("max_resends = 3", "max_resends = 4",
     "uplinks[0].max_resends = 4: expected resends of an unacknowledged frame, 0..3"),
    ('word_order = "little"', 'word_order = "middle"',
     'uplinks[0].word_order = "middle": expected "little" (the standard\'s low byte first) '
     'or "big"'),
    ('energy_identifier = "FF02"', 'energy_identifier = "FF01"',
     'uplinks[1].energy_identifier = "FF01": expected an identifier other than '
     'volume_identifier (FF01)'),
    ('volume_identifier = "FF01"', 'volume_identifier = "0E"',
     'uplinks[1].volume_identifier = "0E": expected the user-defined identifier agreed for '
     'cumulative volume, "FF00".."FFFF"'),
    ('station_class = "groundwater"', 'station_class = "groundwater"\ncounty = "150602"',
     'uplinks[1].county = "150602": expected no county on an sl651 uplink (it is for '
     'type = "sl427")'),
    ('water_level = "well-level/level"', 'water_level = "well-level/levl"',
     "did you mean 'level'?"),
])
def test_a_wrong_setting_names_file_key_value_and_what_is_allowed(tmp_path, old, new, message):
    path = tmp_path / "site.toml"
    assert old in TEXT
    path.write_text(TEXT.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    text = "\n".join(error.value.errors)
    assert message in text and str(path) in text, text


def test_at_most_four_centres_and_check_config_exits_2(tmp_path):
    county = TEXT[TEXT.index('[[uplinks]]\nname = "county"'):]
    extra = "".join(county.replace('name = "county"', f'name = "county{n}"')
                    for n in range(4))
    path = tmp_path / "site.toml"
    path.write_text(TEXT + "\n" + extra, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "gateway", "check-config", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert ('uplinks[4] = "county2": expected at most 4 sl427/sl651 uplinks (this is centre 5)'
            in done.stderr), done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_accepts_the_example_and_names_each_centres_station():
    # found by commissioning a centre: check-config died with AttributeError ('Sl427Uplink'
    # object has no attribute 'platform_key') on any sl427/sl651 uplink
    done = subprocess.run([sys.executable, "-m", "gateway", "check-config", str(EXAMPLE)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("uplink city: sl427 centre centre.city.example:6001, station 150602/17, a report "
            "each 300 s") in done.stdout
    assert "uplink county: sl651 centre centre.county.example:6002, station 0015060217" in (
        done.stdout)
