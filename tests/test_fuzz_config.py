"""Mutated example configs: `load_config` accepts one or raises ConfigError, never anything else.

Every example config in config/examples/ is mutated the ways people and tools break a file: a key
deleted, a value of the wrong type (list, table, bool, number, string), a huge or unicode string,
an entry of a list of tables duplicated, and text-level damage that makes invalid TOML. 1,200
cases in the normal run (more with --torture). A sample of the same mutants also goes through the
real `wellgate check-config` process: exit 0 or 2, never a traceback. Found this way (issue 10,
item 13): `type = []` or `name = {}` in a [[buses]] entry, a 300-character timezone.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import tomllib
import zlib
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from fuzzing import cases

from gateway.config import load_config
from gateway.errors import ConfigError

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "config" / "examples").glob("*.toml"))
ODD_VALUES: tuple[Any, ...] = (
    [], {}, [1, "x"], {"a": {"b": []}}, True, False, 0, -1, 2**63, -(2**63), 1e308, -0.0, 0.5,
    "", " ", "x" * 300, "x" * 5000, "水井-🚰-\u202e", "\x00", "../../etc/passwd", "nan", "1e999",
)


def _paths(tree: Any, path: tuple = ()) -> list[tuple]:
    """Every key path in the parsed config (list items as indexes)."""
    found = []
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.append((*path, key))
            found.extend(_paths(value, (*path, key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found.append((*path, index))
            found.extend(_paths(value, (*path, index)))
    return found


def _parent(tree: Any, path: tuple) -> Any:
    for step in path[:-1]:
        tree = tree[step]
    return tree


def _mutate_tree(rng: random.Random, tree: dict) -> dict:
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(tree)
        if not paths:
            break
        path = rng.choice(paths)
        parent, last = _parent(tree, path), path[-1]
        action = rng.random()
        if action < 0.3:
            del parent[last]
        elif action < 0.75:
            parent[last] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action < 0.9 and isinstance(parent[last], list) and parent[last]:
            parent[last].append(copy.deepcopy(rng.choice(parent[last])))  # a duplicate entry
        elif isinstance(parent, dict):
            parent[rng.choice(("", "typo", "水", "x" * 200))] = rng.choice(ODD_VALUES)
    return tree


def _damage_text(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(("[", "]]", "=", '"', "\\", "[[devices]]\n", "\x00", "\n=\n",
                                   "[well]\n", "a.b.c = 1\n", "'''")) + text[at:]


def mutated_configs(count: int, seed: int) -> list[tuple[int, Path, str]]:
    """(case, example it came from, mutated TOML text), deterministic for the seed."""
    rng = random.Random(seed)
    parsed = [(path, path.read_text(encoding="utf-8")) for path in EXAMPLES]
    out = []
    for case in range(count):
        path, text = rng.choice(parsed)
        if rng.random() < 0.15:
            out.append((case, path, _damage_text(rng, text)))
            continue
        tree = _mutate_tree(rng, tomllib.loads(text))
        try:
            out.append((case, path, tomli_w.dumps(tree)))
        except (TypeError, ValueError):  # a value tomli-w cannot write (e.g. "\x00" as a key)
            out.append((case, path, text))
    return out


def test_the_examples_themselves_load():
    assert len(EXAMPLES) >= 3
    for path in EXAMPLES:
        load_config(path)


def test_mutated_configs_load_or_raise_config_error(tmp_path, torture):
    count = cases(torture, normal=1_200, long=50_000)
    outcomes = {"accepted": 0, "refused": 0}
    target = tmp_path / "site.toml"
    for case, origin, text in mutated_configs(count, seed=zlib.crc32(b"config")):
        target.write_text(text, encoding="utf-8")
        try:
            load_config(target)
        except ConfigError as exc:
            outcomes["refused"] += 1
            assert exc.errors and all(str(target) in line or target.name in line
                                      for line in exc.errors), (case, exc.errors)
        except Exception as exc:  # anything else is a traceback for the installer
            pytest.fail(f"case {case} (from {origin.name}) raised {type(exc).__name__}: {exc}\n"
                        f"--- config ---\n{text[:3000]}")
        else:
            outcomes["accepted"] += 1
    assert outcomes["refused"] > count // 2, outcomes


CHECK_CONFIG_IMPORTS = ("gateway.config", "gateway.store", "gateway.acquisition.service",
                        "gateway.accounting.calibrate")  # what check-config imports as it runs


def test_check_config_exits_0_or_2_without_a_traceback(tmp_path):
    sample = mutated_configs(12, seed=zlib.crc32(b"check-config"))
    runs = []
    for case, _origin, text in sample:
        target = tmp_path / f"case{case}.toml"
        target.write_text(text, encoding="utf-8")
        runs.append({"argv": ["check-config", str(target)], "stdout": str(target) + ".out",
                     "stderr": str(target) + ".err"})
    # each run a process of its own, forked from one that imported the CLI and what check-config
    # imports (tests/forked_cli.py): 12 fresh interpreters spent ~30 s on imports under load
    (tmp_path / "runs.json").write_text(json.dumps(runs))
    done = subprocess.run([sys.executable, str(Path(__file__).parent / "forked_cli.py"),
                           str(tmp_path / "runs.json"), *CHECK_CONFIG_IMPORTS],
                          capture_output=True, text=True, timeout=60 + 10 * len(runs))
    assert done.returncode == 0 and len(done.stdout.split()) == len(runs), done.stderr[-3000:]
    for (case, origin, _text), run, status in zip(sample, runs, done.stdout.split(),
                                                  strict=True):
        stderr = Path(run["stderr"]).read_text()
        assert int(status) in (0, 2), (case, origin.name, status, stderr)
        assert "Traceback" not in stderr, (case, origin.name, stderr)


@pytest.mark.parametrize("damage, key_path", [
    ('type = []', "buses[0].type"),
    ('name = {}', "buses[0].name"),
])
def test_a_bus_entry_of_the_wrong_type_is_a_config_error(tmp_path, damage, key_path):
    text = EXAMPLES[0].read_text(encoding="utf-8")
    tree = tomllib.loads(text)
    key, value = damage.split(" = ")
    tree["buses"][0][key] = [] if value == "[]" else {}
    target = tmp_path / "site.toml"
    target.write_text(tomli_w.dumps(tree), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    assert any(key_path in line for line in caught.value.errors), caught.value.errors


def test_a_300_character_timezone_is_a_config_error(tmp_path):
    tree = tomllib.loads(EXAMPLES[0].read_text(encoding="utf-8"))
    tree["well"]["timezone"] = "A" * 300
    target = tmp_path / "site.toml"
    target.write_text(tomli_w.dumps(tree), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(target)
    assert any("well.timezone" in line for line in caught.value.errors), caught.value.errors
