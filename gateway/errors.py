"""Config errors: each message names the file, line, key path, value given and what is allowed."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Discriminator, Tag, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

# The pydantic error type a model validator raises to hand over a list of Problem (in ctx).
RULES_ERROR = "cross_field_rules"
# The errors of a key-discriminated union whose key is missing or names no member.
UNION_TAG_ERRORS = ("union_tag_invalid", "union_tag_not_found")

Loc = tuple[str | int, ...]


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class ConfigError(Exception):
    """A config or profile file that cannot be used; `.errors` holds one message per problem."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__(self.errors)

    def __str__(self) -> str:
        return "\n".join(self.errors)


@dataclass(frozen=True)
class Problem:
    """One thing wrong at one key path, before it is given a file and line."""

    loc: Loc
    expected: str  # what is allowed, phrased to follow "expected"
    value: Any = MISSING  # the value given (MISSING when the key is absent)
    hint: str = ""  # e.g. "did you mean 'tuf-2000m'?"
    unknown_key: bool = False

    def describe(self) -> str:
        """The message without file and line: `path = value: expected ...; hint`."""
        path = key_path(self.loc)
        if self.unknown_key:
            text = f"{path}: unknown key; expected {self.expected}"
        elif self.value is MISSING:
            text = f"{path}: missing; expected {self.expected}"
        elif self.loc and self.loc[-1] in SECRET_FIELDS:
            text = f"{path} = {HIDDEN}: expected {self.expected}"
        else:
            text = f"{path} = {format_value(self.value)}: expected {self.expected}"
        return f"{text}; {self.hint}" if self.hint else text


def key_path(loc: Loc) -> str:
    """('devices', 2, 'slave_id') -> 'devices[2].slave_id'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


SECRET_FIELDS = ("password", "secret", "token", "api_key")  # config fields that hold a secret
HIDDEN = "(hidden)"  # what an error message shows of a secret's value


def hide_secrets(value: Any) -> Any:
    """`value` with every secret field's value (in tables, at any depth) replaced by HIDDEN."""
    if isinstance(value, dict):
        return {key: HIDDEN if key in SECRET_FIELDS else hide_secrets(item)
                for key, item in value.items()}
    if isinstance(value, list):
        return [hide_secrets(item) for item in value]
    return value


def format_value(value: Any, limit: int = 60) -> str:
    """A value as it would be written in TOML, shortened; a secret inside it is hidden."""
    value = hide_secrets(value)
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def one_of(choices: Iterable[Any]) -> str:
    return "one of: " + ", ".join(str(choice) for choice in choices)


def _number(value: float) -> str:
    """10000000 rather than 1e+07, 0.1 rather than 0.10000000000000001."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def bounds_text(*, ge: float | None = None, gt: float | None = None, le: float | None = None,
                lt: float | None = None, show: Callable[[float], str] = _number) -> str:
    """The range pydantic bounds allow, as "1..1000" or "more than 0 and at most 3600"."""
    low = f"at least {show(ge)}" if ge is not None else (
        f"more than {show(gt)}" if gt is not None else None)
    high = f"at most {show(le)}" if le is not None else (
        f"less than {show(lt)}" if lt is not None else None)
    if ge is not None and le is not None:
        return f"{show(ge)}..{show(le)}"
    return " and ".join(part for part in (low, high) if part) or "any number"


@dataclass(frozen=True)
class WhenMissing:
    """Field metadata: what the message of a missing key says is expected, where that is not the
    field's description (which says what a given value must be)."""

    expected: str


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """A "did you mean ...?" hint for a misspelt name (case-insensitive), or ''."""
    if not isinstance(word, str):
        return ""
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {by_lower[close[0]]!r}?" if close else ""


def rules_error(problems: list[Problem]) -> Exception:
    """The exception a model validator raises to hand over cross-field problems with key paths."""
    summary = "; ".join(problem.describe() for problem in problems)
    return PydanticCustomError(RULES_ERROR, "{summary}", {"summary": summary, "problems": problems})


# --- reading files ------------------------------------------------------------------------------

_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def read_toml(path: Path | str, what: str) -> tuple[str, dict[str, Any]]:
    """The text and parsed content of a TOML file; ConfigError naming the file (and line) if not."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (expected a {what} TOML file)"]) from None
    except IsADirectoryError:
        raise ConfigError([f"{path}: is a folder (expected a {what} TOML file)"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror}"]) from None
    if not text.strip():
        raise ConfigError([f"{path}: the file is empty (expected a {what} TOML file)"])
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        if position:
            line, column = position.groups()
            reason = message[: position.start()]
            raise ConfigError([f"{path}:{line}:{column}: TOML syntax error: {reason}"]) from None
        raise ConfigError([f"{path}: TOML syntax error: {message}"]) from None


# --- finding the line of a key path in TOML text ------------------------------------------------

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")


def _sections(lines: list[str]) -> list[tuple[Loc, int, int]]:
    """(table path, first line index, end line index) of the top-level part and each [table]."""
    sections: list[tuple[Loc, int, int]] = []
    counts: dict[tuple[str, ...], int] = {}
    current: Loc = ()
    start = 0
    for index, line in enumerate(lines):
        array = _ARRAY_HEADER.match(line)
        table = None if array else _TABLE_HEADER.match(line)
        if not (array or table):
            continue
        sections.append((current, start, index))
        names = tuple(part.strip().strip("\"'") for part in (array or table).group(1).split("."))
        if array:
            occurrence = counts.get(names, 0)
            counts[names] = occurrence + 1
            current = (*names, occurrence)
        elif names[:1] in counts:  # [points.flags]: a table inside the latest [[points]]
            current = (names[0], counts[names[:1]] - 1, *names[1:])
        else:
            current = names
        start = index
    sections.append((current, start, len(lines)))
    return sections


def find_line(text: str, loc: Loc) -> int | None:
    """The 1-based line where the key path is written (or its table starts), None if not found."""
    lines = text.splitlines()
    best: tuple[Loc, int, int] | None = None
    for section in _sections(lines):
        path = section[0]
        if loc[: len(path)] == path and (best is None or len(path) > len(best[0])):
            best = section
    if best is None:
        return None
    path, start, end = best
    rest = loc[len(path):]
    if rest and isinstance(rest[0], str):
        for index in range(start, end):
            key = _KEY.match(lines[index])
            if key and rest[0] in key.groups():
                return index + 1
    return start + 1 if path else None


def format_problem(problem: Problem, file: Path | str, text: str | None) -> str:
    """`file:LINE: path = value: expected ...` (no line when it cannot be found)."""
    line = find_line(text, problem.loc) if text is not None else None
    where = f"{file}:{line}" if line else str(file)
    return f"{where}: {problem.describe()}"


# --- turning pydantic errors into Problems ------------------------------------------------------


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (through list[...], unions, Annotated, and the
    metadata of a table whose model is imported when first needed: gateway/config/lazy.py)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    if hasattr(annotation, "lazy_models"):
        return annotation.lazy_models()
    found: list[type[BaseModel]] = []
    if typing.get_origin(annotation) is not None or isinstance(annotation, types.UnionType):
        for arg in typing.get_args(annotation):
            found += [model for model in _models_in(arg) if model not in found]
    return found


def _discriminator_key(metadata: Iterable[Any]) -> str | None:
    """The key a union is discriminated by (Discriminator("type") or Field(discriminator=...))."""
    for item in metadata:
        key = getattr(item, "discriminator", None)
        known = isinstance(item, Discriminator | FieldInfo) or hasattr(item, "lazy_models")
        if known and isinstance(key, str):
            return key
    return None


def _literal_tags(model: type[BaseModel], key: str) -> list[str]:
    field = model.model_fields.get(key)
    return [str(arg) for arg in typing.get_args(field.annotation)] if field is not None else []


def _tags_in(annotation: Any) -> dict[str, type[BaseModel]]:
    """The members of a tagged union by tag (a pydantic Tag, or the Literal of the key a union is
    discriminated by), found anywhere in an annotation."""
    found: dict[str, type[BaseModel]] = {}
    for arg in typing.get_args(annotation):
        found.update(_tags_in(arg))
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *metadata = typing.get_args(annotation)
        for tag in (item for item in metadata if isinstance(item, Tag)):
            found.update((tag.tag, model) for model in _models_in(inner))
        key = _discriminator_key(metadata)
        if key is not None:
            found.update((tag, model) for model in _models_in(annotation)
                         for tag in _literal_tags(model, key))
    return found


def _union_key(annotation: Any) -> str | None:
    """The discriminator key of the first key-discriminated union in an annotation."""
    if typing.get_origin(annotation) is typing.Annotated:
        key = _discriminator_key(typing.get_args(annotation)[1:])
        if key is not None:
            return key
    return next((key for arg in typing.get_args(annotation)
                 if (key := _union_key(arg)) is not None), None)


def _field_type(field: FieldInfo) -> Any:
    """A field's annotation with the metadata pydantic took out of its Annotated[...]."""
    return typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else (
        field.annotation)


def _walk(model: type[BaseModel], loc: Loc) -> tuple[Loc, FieldInfo | None, list[type[BaseModel]]]:
    """Clean a pydantic location of union tags; return it, the last field, and its parent models."""
    clean: list[str | int] = []
    candidates: list[type[BaseModel]] = [model]
    parents: list[type[BaseModel]] = [model]
    field: FieldInfo | None = None
    tags: dict[str, type[BaseModel]] = {}
    for position, part in enumerate(loc):
        if isinstance(part, int):
            clean.append(part)
            continue
        holder = next((m for m in candidates if part in m.model_fields), None)
        if holder is not None:
            parents, field = candidates, holder.model_fields[part]
            clean.append(part)
            candidates = _models_in(_field_type(field))
            tags = _tags_in(_field_type(field))
        elif part in tags:
            candidates = [tags[part]]  # the member of a tagged union pydantic names in the path
        elif candidates and position < len(loc) - 1:
            continue  # another tag pydantic adds for a union member ("function-after[...]")
        else:
            parents = candidates or parents
            clean.append(part)
            candidates = []
    return tuple(clean), field, parents


def _expected_from_error(error: dict[str, Any]) -> str:
    message = str(error.get("msg", ""))
    for prefix in ("Value error, ", "Input should be "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message[:1].lower() + message[1:]


def _expected_of(field: FieldInfo | None, error: dict[str, Any]) -> str:
    """What a field allows: its description (or its WhenMissing text for a missing key)."""
    if field is None:
        return _expected_from_error(error)
    if error["type"] == "missing":
        when = next((item for item in field.metadata if isinstance(item, WhenMissing)), None)
        if when is not None:
            return when.expected
    return field.description or _expected_from_error(error)


def _unknown_key(loc: Loc, parents: list[type[BaseModel]], value: Any) -> Problem:
    """A key the table does not have; a key of another type of the table says which type has it
    (a model's OTHER_TYPE_KEYS: key -> what is expected instead)."""
    for parent in parents:
        instead = getattr(parent, "OTHER_TYPE_KEYS", {}).get(loc[-1])
        if instead is not None:
            return Problem(loc, instead, value)
    known = list(dict.fromkeys(name for parent in parents for name in parent.model_fields))
    return Problem(loc, one_of(known), hint=did_you_mean(loc[-1], known), unknown_key=True)


def _bad_union_tag(loc: Loc, field: FieldInfo, table: dict[str, Any]) -> Problem:
    """A table of a tagged union whose discriminator key (`type`) is missing or not a known one."""
    key = _union_key(_field_type(field)) or "type"
    return Problem((*loc, key), one_of(_tags_in(_field_type(field))), table.get(key, MISSING))


def problems_from_validation_error(exc: ValidationError, model: type[BaseModel]) -> list[Problem]:
    """One Problem per key path, saying what the field allows (its description) and the value."""
    problems: dict[Loc, Problem] = {}
    for error in exc.errors(include_url=False):
        loc, field, parents = _walk(model, tuple(error["loc"]))
        kind = error["type"]
        if kind == RULES_ERROR:
            found = [replace(p, loc=loc + p.loc) for p in error["ctx"]["problems"]]
        elif kind == "extra_forbidden":
            found = [_unknown_key(loc, parents, error.get("input"))]
        elif kind in UNION_TAG_ERRORS and field is not None:
            found = [_bad_union_tag(loc, field, error.get("input"))]
        else:
            found = [Problem(loc, _expected_of(field, error), (
                MISSING if kind == "missing" else error.get("input")))]
        for problem in found:
            problems.setdefault(problem.loc, problem)
    return list(problems.values())
