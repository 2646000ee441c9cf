"""The whole config file, GatewayConfig: its tables, and the lookups the rooms use on it."""

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from gateway.config.buses import Bus, Device
from gateway.config.fields import Section, table
from gateway.config.lazy import lazy
from gateway.config.sections import AcquisitionSection, GatewaySection, WellSection
from gateway.config.store import StoreSection
from gateway.config.uplinks import Uplink
from gateway.errors import Problem, rules_error
from gateway.profiles import Point, Profile, load_profile

CENTRE_TYPES = ("sl427", "sl651")  # their rules (gateway.config.centres) run only when present

if TYPE_CHECKING:
    from gateway.config.status import StatusPageSection

    StatusTable = StatusPageSection | None
else:  # imported and built only for a config that has the table
    StatusTable = lazy("gateway.config.status:StatusPageSection", nullable=True)


def resolve_dirs(value: list[Path], base_dir: Path | None) -> list[Path]:
    """Folders relative to the config file's folder (`base_dir`), made absolute."""
    if base_dir is None:
        return value
    return [path if path.is_absolute() else (base_dir / path).resolve() for path in value]


class GatewayConfig(Section):
    """The whole gateway config; load_config() also checks the cross-field rules (CONFIG_RULES)."""

    profile_dirs: list[Path] = Field(
        default=[],
        description="a list of folder paths (relative to the config file), searched before "
        "$WELLGATE_PROFILE_PATH and the built-in profiles",
    )
    gateway: GatewaySection = table("a [gateway] table (runtime_dir, state_dir, log_summary_s)")
    well: WellSection = Field(description='a [well] table with at least id = "..."')
    acquisition: AcquisitionSection = table(
        "an [acquisition] table (offline_after, backoff_initial, backoff_max)")
    store: StoreSection = table(
        "a [store] table (commit_interval, commit_max, buffer_max, retention_days, "
        "free_space_floor_mb, thin_keep_interval)")
    buses: list[Bus] = Field(min_length=1, description="a list of at least one [[buses]] table")
    devices: list[Device] = Field(
        min_length=1, description="a list of at least one [[devices]] table"
    )
    uplinks: list[Uplink] = Field(
        default=[],
        description="a list of [[uplinks]] tables (none: the store keeps everything locally)",
    )
    status: StatusTable = Field(
        default=None, description="a [status] table (listen, token_file; none: no status page)"
    )

    _source: Path | None = PrivateAttr(default=None)
    _profiles: dict[str, Profile] = PrivateAttr(default_factory=dict)

    @field_validator("profile_dirs", mode="before")
    @classmethod
    def _strings_are_paths(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [Path(item) if isinstance(item, str) else item for item in value]
        return value

    @field_validator("profile_dirs")
    @classmethod
    def _relative_to_config(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return resolve_dirs(value, (info.context or {}).get("base_dir"))

    @field_validator("uplinks")
    @classmethod
    def _uplink_names_unique(cls, value: list[Uplink]) -> list[Uplink]:
        first: dict[str, int] = {}
        problems = []
        for index, uplink in enumerate(value):
            if uplink.name in first:
                problems.append(Problem((index, "name"), f"a name not already used by "
                                        f"uplinks[{first[uplink.name]}]", uplink.name))
            first.setdefault(uplink.name, index)
        if any(uplink.type in CENTRE_TYPES for uplink in value):
            from gateway.config.centres import centres_at_most

            problems += centres_at_most(value)
        if problems:
            raise rules_error(problems)
        return value

    @model_validator(mode="after")
    def _centre_points_exist(self) -> Self:
        if not any(uplink.type in CENTRE_TYPES for uplink in self.uplinks):
            return self
        from gateway.config.centres import centre_points_exist

        problems = list(centre_points_exist(self))
        if problems:
            raise rules_error(problems)
        return self

    def config_path(self, value: str) -> Path:
        """A file named in the config, relative to the config file's folder."""
        path = Path(value)
        if path.is_absolute() or self._source is None:
            return path
        return self._source.resolve().parent / path

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from."""
        return self._source

    def bus(self, name: str) -> Bus:
        for bus in self.buses:
            if bus.name == name:
                return bus
        raise KeyError(f"no bus named {name!r}; buses: {', '.join(b.name for b in self.buses)}")

    def device(self, name: str) -> Device:
        for device in self.devices:
            if device.name == name:
                return device
        names = ", ".join(d.name for d in self.devices)
        raise KeyError(f"no device named {name!r}; devices: {names}")

    def devices_on(self, bus: Bus | str) -> list[Device]:
        name = bus if isinstance(bus, str) else bus.name
        return [device for device in self.devices if device.bus == name]

    def device_profile(self, device: Device | str) -> Profile:
        """The profile of a device's model (loaded once, then cached)."""
        model = self.device(device).model if isinstance(device, str) else device.model
        if model not in self._profiles:
            self._profiles[model] = load_profile(model, self.profile_dirs)
        return self._profiles[model]

    def effective_role(self, device: Device | str) -> str:
        """The device's role: its own `role`, else its profile's."""
        device = self.device(device) if isinstance(device, str) else device
        return device.role or self.device_profile(device).model.role

    def effective_points(self, device: Device | str) -> list[Point]:
        """The points to read, in profile order: the `points` subset (all when empty) plus the
        points the chosen ones take their decimals from."""
        device = self.device(device) if isinstance(device, str) else device
        profile = self.device_profile(device)
        wanted = set(device.points or profile.point_names)
        wanted |= {getattr(profile.point(name), "decimals_from", None) for name in wanted} - {None}
        return [point for point in profile.points if point.name in wanted]

    def with_ports(self, ports: dict[str, str]) -> Self:
        """A copy with the named buses' serial ports replaced (the demo, tests, `probe --port`)."""
        for name in ports:
            self.bus(name)
        buses = [
            bus.model_copy(update={"port": ports[bus.name]}) if bus.name in ports else bus
            for bus in self.buses
        ]
        return self.model_copy(update={"buses": buses})
