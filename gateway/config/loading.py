"""load_config: read the TOML file, validate it, run the cross-field rules, report every error."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from gateway.config.buses import Device
from gateway.config.rules import CONFIG_RULES, ConfigView
from gateway.config.schema import GatewayConfig
from gateway.config.sections import WellSection
from gateway.errors import (
    ConfigError,
    Problem,
    find_line,
    format_problem,
    problems_from_validation_error,
    read_toml,
)
from gateway.profiles import Profile


def _accounting_problems(well: WellSection, devices: list[Device],
                         view: ConfigView) -> list[Problem]:
    """The rules across [well.accounting], [well.pump_control] and the devices (none to check,
    and their module not imported, without accounting and with pump control off)."""
    if well.accounting is None and not well.pump_control.enabled:
        return []
    from gateway.config.accounting_rules import accounting_problems

    by_name = {device.name: device for device in devices}

    def profile(name: str) -> Profile | None:
        return view.profiles.get(by_name[name].model)

    def points_of(name: str) -> list[str] | None:
        found = profile(name)
        return None if found is None else (by_name[name].points or found.point_names)

    def role_of(name: str) -> str | None:
        found = profile(name)
        return by_name[name].role or (found.model.role if found is not None else None)

    return list(accounting_problems(well, by_name, points_of, role_of))


def load_config(path: Path | str) -> GatewayConfig:
    """Read and validate a gateway config; ConfigError lists every problem with file and line."""
    path = Path(path)
    text, data = read_toml(path, "gateway config")
    context = {"base_dir": path.resolve().parent}
    problems: list[Problem] = []
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(data, context=context)
    except ValidationError as exc:
        problems += problems_from_validation_error(exc, GatewayConfig)
    if config is not None:
        view = ConfigView(
            buses=list(enumerate(config.buses)), devices=list(enumerate(config.devices)),
            acquisition=config.acquisition, profile_dirs=config.profile_dirs,
            written_dirs=data.get("profile_dirs", []),
            bus_names={bus.name for bus in config.buses},
        )
        whole: tuple[WellSection, list[Device]] | None = (config.well, config.devices)
    else:  # an invalid file: what validates of it still goes through the rules
        from gateway.config.salvage import partial_view, whole_well_and_devices

        view = partial_view(data, context)
        whole = whole_well_and_devices(data, context)
    problems += [problem for rule in CONFIG_RULES for problem in rule(view)]
    if whole is not None:
        problems += _accounting_problems(*whole, view)
    first_per_key = {problem.loc: problem for problem in reversed(problems)}
    problems = [problem for problem in problems if first_per_key[problem.loc] is problem]
    problems.sort(key=lambda problem: find_line(text, problem.loc) or 0)
    messages = [format_problem(problem, path, text) for problem in problems]
    messages += view.profiles.errors
    if messages or config is None:
        raise ConfigError(messages)
    config._source = path
    config._profiles = dict(view.profiles.loaded)
    return config
