"""Config for the store: [gateway] state_dir and the [store] table, defaults from the schema, and
errors that name the key, the value given and the range allowed."""

from __future__ import annotations

import pytest
from site_config import BASE, load_site, site_errors

from gateway.config import StoreSection, load_config
from gateway.errors import ConfigError


def test_defaults_come_from_the_schema(tmp_path):
    config = load_site(tmp_path)
    assert config.gateway.state_dir == "/var/lib/wellgate"
    assert config.gateway.runtime_dir == "/run/wellgate"
    store = config.store
    assert (store.commit_interval, store.commit_max, store.buffer_max) == (5.0, 1000, 100_000)
    assert (store.retention_days, store.free_space_floor_mb, store.thin_keep_interval) == (
        90.0, 100.0, 900.0)
    assert store == StoreSection()


def test_given_values_are_used(tmp_path):
    config = load_site(tmp_path, """
        [gateway]
        state_dir = "/srv/wellgate"

        [store]
        commit_interval = 10
        commit_max = 500
        buffer_max = 20000
        retention_days = 30.5
        free_space_floor_mb = 250
        thin_keep_interval = 3600
        """)
    assert config.gateway.state_dir == "/srv/wellgate"
    store = config.store
    assert (store.commit_interval, store.commit_max, store.buffer_max) == (10.0, 500, 20_000)
    assert (store.retention_days, store.free_space_floor_mb, store.thin_keep_interval) == (
        30.5, 250.0, 3600.0)


@pytest.mark.parametrize(("extra", "expected"), [
    ('[gateway]\nstate_dir = ""', 'gateway.state_dir = "": expected a folder on persistent'),
    ("[store]\ncommit_interval = 0", "store.commit_interval = 0: expected seconds the oldest "
                                     "waiting reading may wait for its commit, more than 0 and "
                                     "at most 3600"),
    ("[store]\ncommit_interval = 3601", "store.commit_interval = 3601: expected seconds"),
    ("[store]\ncommit_max = 0", "store.commit_max = 0: expected readings that make a commit "
                                "without waiting for commit_interval, 1..10000"),
    ("[store]\ncommit_max = 10001", "store.commit_max = 10001: expected readings"),
    ("[store]\ncommit_max = 1.5", "store.commit_max = 1.5: expected readings"),
    ("[store]\nbuffer_max = 9999", "store.buffer_max = 9999: expected readings held in memory"),
    ("[store]\nretention_days = 0", "store.retention_days = 0: expected days a reading "
                                    "delivered to every uplink is kept"),
    ("[store]\nfree_space_floor_mb = 0.5", "store.free_space_floor_mb = 0.5: expected megabytes "
                                           "of free disk"),
    ("[store]\nthin_keep_interval = 0", "store.thin_keep_interval = 0: expected seconds between "
                                        "the totaliser readings kept"),
    ('[store]\ncommit_interval = "5"', 'store.commit_interval = "5": expected seconds'),
])
def test_a_bad_value_names_key_value_and_range(tmp_path, extra, expected):
    errors = site_errors(tmp_path, extra)
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


def test_an_unknown_store_key_is_reported_with_the_known_ones(tmp_path):
    errors = site_errors(tmp_path, "[store]\ncommit_every = 5")
    assert len(errors) == 1
    assert errors[0].startswith("store.commit_every: unknown key"), errors[0]
    assert "commit_interval" in errors[0]


def test_errors_carry_the_line_of_the_key(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text(BASE + "\n[store]\ncommit_max = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = BASE.count("\n") + 3
    assert caught.value.errors[0].startswith(f"{path}:{line}: store.commit_max = 0"), (
        caught.value.errors)
