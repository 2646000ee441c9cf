"""The cross-field rules of buses, devices and profiles: small named functions over a ConfigView."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.config.buses import Bus, Device
from gateway.config.fields import backoff_grows
from gateway.config.sections import AcquisitionSection
from gateway.errors import ConfigError, Problem, did_you_mean, one_of
from gateway.profiles import Profile, available_profiles, load_profile_file


class ProfileCatalog:
    """The profiles a config can pick, each loaded once; load errors are kept, not raised."""

    def __init__(self, dirs: list[Path]) -> None:
        self.paths = available_profiles(dirs)
        self.loaded: dict[str, Profile] = {}
        self.errors: list[str] = []
        self._failed: set[str] = set()

    def get(self, name: str) -> Profile | None:
        if name not in self.loaded and name in self.paths and name not in self._failed:
            try:
                self.loaded[name] = load_profile_file(self.paths[name])
            except ConfigError as exc:
                self._failed.add(name)
                self.errors += exc.errors
        return self.loaded.get(name)


@dataclass
class ConfigView:
    """What validated of a config (all of it, or the sections and items that did)."""

    buses: list[tuple[int, Bus]]
    devices: list[tuple[int, Device]]
    acquisition: AcquisitionSection | None
    profile_dirs: list[Path]  # resolved against the config file's folder
    written_dirs: list[str]  # the same, as written in the file
    bus_names: set[str]  # every bus name written, even of a bus that did not validate
    profiles: ProfileCatalog = field(init=False)

    def __post_init__(self) -> None:
        self.profiles = ProfileCatalog(self.profile_dirs)

    def bus(self, name: str) -> Bus | None:
        return next((bus for _, bus in self.buses if bus.name == name), None)


ConfigRule = Callable[[ConfigView], Iterator[Problem]]


def profile_dirs_exist(view: ConfigView) -> Iterator[Problem]:
    for index, (folder, written) in enumerate(zip(view.profile_dirs, view.written_dirs,
                                                  strict=True)):
        if not folder.is_dir():
            expected = f"an existing folder ({folder} is not one)"
            yield Problem(("profile_dirs", index), expected, written)


def backoff_max_not_below_initial(view: ConfigView) -> Iterator[Problem]:
    acquisition = view.acquisition
    if acquisition is not None:
        for problem in backoff_grows(acquisition.backoff_initial, acquisition.backoff_max):
            yield replace(problem, loc=("acquisition", *problem.loc))


def _unique(items: list[tuple[int, Any]], section: str, key: str) -> Iterator[Problem]:
    first: dict[Any, int] = {}
    for index, item in items:
        value = getattr(item, key)
        if value in first:
            expected = f"a {key} not already used by {section}[{first[value]}]"
            yield Problem((section, index, key), expected, value)
        first.setdefault(value, index)


def bus_names_unique(view: ConfigView) -> Iterator[Problem]:
    yield from _unique(view.buses, "buses", "name")


def device_names_unique(view: ConfigView) -> Iterator[Problem]:
    yield from _unique(view.devices, "devices", "name")


def device_bus_exists(view: ConfigView) -> Iterator[Problem]:
    names = sorted(view.bus_names)
    for index, device in view.devices:
        if device.bus not in view.bus_names:
            expected = f"the name of a bus: {', '.join(names)}" if names else "the name of a bus"
            hint = did_you_mean(device.bus, names)
            yield Problem(("devices", index, "bus"), expected, device.bus, hint)


def device_model_exists(view: ConfigView) -> Iterator[Problem]:
    names = sorted(view.profiles.paths)
    for index, device in view.devices:
        if device.model not in view.profiles.paths:
            hint = did_you_mean(device.model, names)
            yield Problem(("devices", index, "model"), one_of(names), device.model, hint)


def device_fits_its_protocol(view: ConfigView) -> Iterator[Problem]:
    for index, device in view.devices:
        profile = view.profiles.get(device.model)
        if profile is None:
            continue
        loc = ("devices", index)
        modbus = profile.model.protocol == "modbus"
        meter = f"{device.model!r} is a {'Modbus' if modbus else 'DL/T 645'} meter"
        bus = view.bus(device.bus)
        bus_types = ("rtu", "tcp") if modbus else ("dlt645",)
        if bus is not None and bus.type not in bus_types:
            expected = (f"a bus of type {' or '.join(bus_types)} ({meter}); "
                        f"bus {bus.name!r} is of type {bus.type}")
            yield Problem((*loc, "bus"), expected, device.bus)
        if modbus and device.slave_id is None:
            yield Problem((*loc, "slave_id"), f"an integer 1..247, the Modbus unit id ({meter})")
        if modbus and device.address is not None:
            expected = f"no address ({meter}, addressed by slave_id)"
            yield Problem((*loc, "address"), expected, device.address)
        if not modbus and device.address is None:
            expected = f'12 digits as on the meter\'s nameplate, e.g. "000000000001" ({meter})'
            yield Problem((*loc, "address"), expected)
        if not modbus and device.slave_id is not None:
            expected = f"no slave_id ({meter}, addressed by its 12-digit address)"
            yield Problem((*loc, "slave_id"), expected, device.slave_id)


def device_ids_unique_per_bus(view: ConfigView) -> Iterator[Problem]:
    for key in ("slave_id", "address"):
        first: dict[tuple[str, Any], int] = {}
        for index, device in view.devices:
            value = getattr(device, key)
            if value is None:
                continue
            if (device.bus, value) in first:
                other = first[(device.bus, value)]
                expected = (f"a {key} not used by another device on bus {device.bus!r} "
                            f"(devices[{other}] has it)")
                yield Problem(("devices", index, key), expected, value)
            first.setdefault((device.bus, value), index)


def device_points_exist(view: ConfigView) -> Iterator[Problem]:
    for index, device in view.devices:
        profile = view.profiles.get(device.model)
        if profile is None:
            continue
        names = profile.point_names
        seen: set[str] = set()
        for position, name in enumerate(device.points):
            loc = ("devices", index, "points", position)
            if name not in names:
                expected = f"a point of {device.model!r}: {', '.join(names)}"
                yield Problem(loc, expected, name, did_you_mean(name, names))
            elif name in seen:
                yield Problem(loc, "each point name once", name)
            seen.add(name)


CONFIG_RULES: tuple[ConfigRule, ...] = (
    profile_dirs_exist,
    backoff_max_not_below_initial,
    bus_names_unique,
    device_names_unique,
    device_bus_exists,
    device_model_exists,
    device_fits_its_protocol,
    device_ids_unique_per_bus,
    device_points_exist,
)
