"""What an install gets: pyproject's requirements, pinned, and enough on a bare system.

constraints.txt pins the whole tested tree (./dev setup and a field install use it); every
requirement in pyproject.toml must be pinned there at a version its range allows, so that the
pins and the declared ranges cannot drift apart. The well's time zone must load from the declared
tzdata package on a system without a zoneinfo database.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt line {line!r}: expected NAME==VERSION"
        pins[canonicalize_name(name)] = Version(version)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        found += [Requirement(text) for text in extra if not text.startswith("wellgate")]
    return found


def test_every_requirement_is_pinned_within_its_range():
    pins = _pins()
    for requirement in _requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement}")


def test_sqlite_utils_pin_has_the_migrations_module():
    assert _pins()["sqlite-utils"] >= Version("4.0")
    import sqlite_utils.migrations  # noqa: F401  (the store's schema is built on it)


def test_the_wells_zone_loads_without_a_system_zoneinfo_database(tmp_path):
    """PYTHONTZPATH empty: zoneinfo then finds only the tzdata package (as on a bare system)."""
    code = ("import zoneinfo, datetime; z = zoneinfo.ZoneInfo('Asia/Shanghai'); "
            "print(datetime.datetime(2026, 12, 31, 16, tzinfo=datetime.UTC).astimezone(z))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONTZPATH": "", "PATH": "/usr/bin:/bin"}, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2027-01-01 00:00:00+08:00"
