"""Canonical text pieces and the leaves of many records at once, byte for byte the chain spec's.

gateway/store/chain.py defines a record's leaf as sha256 of json.dumps of its 12 fields. A gateway
writes, and a receiver checks, hundreds of thousands of records, so the text is built here column
by column with C-level map/zip instead of the JSON encoder record by record. What repeats is
formatted once: names (kind, device, point; unit, quality), each reply's clocks, each data
object. Anything off the common types gives None, and the caller uses the spec one record at a
time (which also says what is wrong). tests/test_store_leaves.py checks both against the spec.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from itertools import chain as chained
from operator import itemgetter, methodcaller, mod
from typing import Any

from gateway.store import chain

CACHE_LIMIT = 4096  # names cache entries; a full cache is emptied (never in practice)
MAX_RAW_VALUES = 125  # a Modbus read returns at most 125 registers
# "[%d,%d,...]" by number of values: a raw list's JSON text is one %-format
RAW_LAYOUTS = ["[]"] + ["[" + ",".join(["%d"] * count) + "]"
                      for count in range(1, MAX_RAW_VALUES + 1)]
# seq, names (kind, device, point: each with its comma), value, unit and quality (with commas),
# raw, "wall,mono", boot, data
CANONICAL = "[%d,%s%s,%s%s,%s,%d,%s]"
NOT_FINITE_TEXTS = {"nan", "inf", "-inf"}

NAME_TEXTS: dict[tuple[str, ...], str] = {}  # run of names -> their JSON text, each + ","
_digest = methodcaller("digest")
_STR, _INT, _FLOAT, _NUMBERS, _TWELVE = {str}, {int}, {float}, {float, int}, {12}


def names_text(names: tuple[Any, ...]) -> str:
    """JSON text of a run of name fields, each followed by a comma (cached for exact str)."""
    text = NAME_TEXTS.get(names)
    if text is None:
        text = "".join(chain._ENCODER.encode(name) + "," for name in names)
        if all(type(name) is str for name in names):  # 1 == 1.0 == True: cache only str keys
            if len(NAME_TEXTS) >= CACHE_LIMIT:
                NAME_TEXTS.clear()
            NAME_TEXTS[names] = text
    return text


def names_texts(*columns: Sequence[str]) -> list[str]:
    """names_text() of each row of the given name columns (which must hold str only)."""
    keys = list(zip(*columns, strict=True))
    texts = list(map(NAME_TEXTS.get, keys))
    if None in texts:  # new names: formatted once each, then looked up like the rest
        known = dict(NAME_TEXTS)
        known.update((key, names_text(key)) for key in set(keys).difference(NAME_TEXTS))
        texts = list(map(known.__getitem__, keys))
    return texts


def columns(rows: Sequence[Sequence[Any]], count: int) -> list[list[Any]]:
    """The first `count` columns of equally long rows (faster than zip(*rows) for many rows)."""
    return [list(map(itemgetter(index), rows)) for index in range(count)]


def clock_texts(walls: Sequence[float], monos: Sequence[float]) -> list[str]:
    """"wall,mono" as JSON writes them, each distinct pair formatted once (the readings of one
    reply share both clocks)."""
    pairs = list(zip(walls, monos, strict=True))
    if 0.0 in walls or 0.0 in monos:  # -0.0 == 0.0 but is written "-0.0": no sharing then
        return [f"{wall!r},{mono!r}" for wall, mono in pairs]
    texts = {pair: f"{pair[0]!r},{pair[1]!r}" for pair in dict.fromkeys(pairs)}
    return list(map(texts.__getitem__, pairs))


def _scalar_text(value: Any) -> str | None:
    kind = type(value)
    if kind is float:
        return repr(value) if math.isfinite(value) else None
    if kind is int:
        return repr(value)
    if kind is str:
        return chain._ENCODER.encode(value)
    return "null" if value is None else None


def value_texts(values: Sequence[Any]) -> list[str] | None:
    """JSON text of each value (int, finite float, str or None); None if any is not one."""
    if set(map(type, values)) <= _NUMBERS:
        texts = list(map(repr, values))
        return texts if NOT_FINITE_TEXTS.isdisjoint(texts) else None
    texts = list(map(_scalar_text, values))
    return None if None in texts else texts  # type: ignore[return-value]


def raw_texts(raws: Sequence[Sequence[int]]) -> list[str] | None:
    """JSON text of each raw list or tuple of ints; None if any holds anything else."""
    if not set(map(type, chained.from_iterable(raws))) <= _INT:
        return None
    try:
        return list(map(mod, map(RAW_LAYOUTS.__getitem__, map(len, raws)), map(tuple, raws)))
    except IndexError:
        return None  # more than MAX_RAW_VALUES values


def canonical_leaves(records: Sequence[Sequence[Any]]) -> list[bytes] | None:
    """The leaf of each record given as its 12 fields (chain.FIELDS order); None when any field
    is off the common types (use chain.canonical_bytes one by one then)."""
    if not records:
        return []
    if set(map(len, records)) != _TWELVE:
        return None
    (seqs, kinds, devices, points, values, units, qualities, raws, walls, monos, boots,
     datas) = columns(records, 12)
    if (set(map(type, chained(seqs, boots))) != _INT
            or set(map(type, chained(kinds, devices, points, units, qualities))) != _STR
            or set(map(type, chained(walls, monos))) != _FLOAT
            or not all(map(math.isfinite, chained(walls, monos)))):
        return None
    values_json, raws_json = value_texts(values), raw_texts(raws)
    if values_json is None or raws_json is None:
        return None
    ids = list(map(id, datas))  # data objects are shared between records: encode each once
    try:
        data_by_id = {ident: chain._ENCODER.encode(data)
                      for ident, data in dict(zip(ids, datas, strict=True)).items()}
    except (TypeError, ValueError):
        return None
    texts = map(CANONICAL.__mod__, zip(
        seqs, names_texts(kinds, devices, points), values_json, names_texts(units, qualities),
        raws_json, clock_texts(walls, monos), boots, map(data_by_id.__getitem__, ids),
        strict=True))
    try:
        return list(map(_digest, map(hashlib.sha256, map(str.encode, texts))))
    except UnicodeEncodeError:
        return None  # a lone surrogate: the spec raises, saying where
