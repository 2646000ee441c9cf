"""Partial validation: what can be made of an invalid config, so the cross-field rules still run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from gateway.config.buses import BUS_MODELS, Device, bus_model
from gateway.config.fields import Name, Section
from gateway.config.rules import ConfigView
from gateway.config.schema import resolve_dirs
from gateway.config.sections import AcquisitionSection, WellSection


class BusIdentity(Section):
    """What the device rules need of a bus that lacks a required key (its port or host)."""

    model_config = ConfigDict(extra="ignore")
    name: Name
    type: str

    @classmethod
    def of(cls, table: Any) -> BusIdentity | None:
        try:
            found = cls.model_validate(table)
        except ValidationError:
            return None
        return found if found.type in BUS_MODELS else None


def salvage(model: type[BaseModel] | None, item: Any, context: dict[str, Any]) -> Any:
    """An item validated without the keys that have errors (their defaults stand in), or None."""
    if model is None:
        return None
    try:
        return model.model_validate(item, context=context)
    except ValidationError as exc:
        if not isinstance(item, dict):
            return None
        bad = {error["loc"][0] for error in exc.errors() if error["loc"]}
        try:
            return model.model_validate(
                {key: value for key, value in item.items() if key not in bad}, context=context
            )
        except ValidationError:
            return None


def _salvage_bus(table: Any, context: dict[str, Any]) -> Any:
    """A bus without its bad keys, or (missing a required key) its name and type only."""
    return salvage(bus_model(table), table, context) or BusIdentity.of(table)


def whole_well_and_devices(data: dict[str, Any], context: dict[str, Any]
                           ) -> tuple[WellSection, list[Device]] | None:
    """[well] and every device, when they validate as written (the accounting rules need both)."""
    try:
        well = WellSection.model_validate(data.get("well"), context=context)
        devices = [Device.model_validate(item, context=context) for item in data.get("devices")]
    except (ValidationError, TypeError):
        return None
    return well, devices


def _salvaged(items: Any, model_of: Callable[[Any], type[BaseModel] | None],
              context: dict[str, Any]) -> list[tuple[int, Any]]:
    """(index, item) of each item of a list of tables that could be salvaged."""
    items = items if isinstance(items, list) else []
    salvaged = [(i, salvage(model_of(item), item, context)) for i, item in enumerate(items)]
    return [(index, item) for index, item in salvaged if item is not None]


def partial_view(data: dict[str, Any], context: dict[str, Any]) -> ConfigView:
    """What can be made of an invalid config, so that cross-field rules still run on it: each bus
    and device without its bad keys (items whose name, type, bus or model is bad are left out)."""
    dirs = data.get("profile_dirs", [])
    dirs = dirs if isinstance(dirs, list) and all(isinstance(d, str) for d in dirs) else []
    buses = data.get("buses") if isinstance(data.get("buses"), list) else []
    names = [bus.get("name") for bus in buses if isinstance(bus, dict)]  # any type, even a table
    return ConfigView(
        buses=[(i, bus) for i, table in enumerate(buses)
               if (bus := _salvage_bus(table, context)) is not None],
        devices=_salvaged(data.get("devices"), lambda _: Device, context),
        acquisition=salvage(AcquisitionSection, data.get("acquisition", {}), context),
        profile_dirs=resolve_dirs([Path(d) for d in dirs], context["base_dir"]),
        written_dirs=dirs,
        bus_names={name for name in names if isinstance(name, str)},
    )
