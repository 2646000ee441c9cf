"""Tables whose model is imported, and its validator built, only when a config file has one.

A gateway that has no [well.accounting], no [status] and no centre uplink never imports, nor
builds, those models: `lazy("gateway.config.status:StatusPageSection")` is a field type that
validates a table by calling the model when the table is there. Errors keep their key paths
(pydantic prefixes a nested ValidationError's locations), and gateway.errors finds each field's
description through `lazy_models()`, as it does through a plain annotation.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

from pydantic import BaseModel, GetCoreSchemaHandler
from pydantic_core import core_schema


def _import(path: str) -> type[BaseModel]:
    """The model named "package.module:Class"."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _validator(path: str) -> core_schema.CoreSchema:
    def validate(value: Any, info: core_schema.ValidationInfo) -> Any:
        return _import(path).model_validate(value, context=info.context)

    return core_schema.with_info_plain_validator_function(validate)


class LazyModel:
    """Field metadata: the table is validated by a model imported when first needed; with a
    `discriminator`, by the member its key names (a tagged union, each member built alone)."""

    def __init__(self, members: dict[str, str], discriminator: str | None = None,
                 nullable: bool = False) -> None:
        self.members = members  # tag -> "module:Class" (one entry when not a union)
        self.discriminator = discriminator
        self.nullable = nullable

    def lazy_models(self) -> list[type[BaseModel]]:
        """The models (imported now): for error messages, which need their fields."""
        return [_import(path) for path in self.members.values()]

    def __get_pydantic_core_schema__(self, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        if self.discriminator is None:
            schema = _validator(next(iter(self.members.values())))
        else:
            schema = core_schema.tagged_union_schema(
                {tag: _validator(path) for tag, path in self.members.items()},
                discriminator=self.discriminator)
        return core_schema.nullable_schema(schema) if self.nullable else schema


def lazy(path: str, *, nullable: bool = False) -> Any:
    """A field type: a table validated by the model at `path` ("module:Class")."""
    return Annotated[Any, LazyModel({"": path}, nullable=nullable)]


def lazy_union(members: dict[str, str], discriminator: str = "type") -> Any:
    """A field type: a table validated by the member model its `discriminator` key names."""
    return Annotated[Any, LazyModel(members, discriminator)]
