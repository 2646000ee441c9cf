"""Config for the uplinks: [[uplinks]] destinations, their defaults, and errors that name the key,
the value given and what is allowed."""

from __future__ import annotations

import pytest
from site_config import load_site, site_errors


def test_no_uplinks_by_default(tmp_path):
    assert load_site(tmp_path).uplinks == []


def test_https_and_mqtt_destinations_with_defaults(tmp_path):
    config = load_site(tmp_path, """
        [[uplinks]]
        name = "city"
        type = "https"
        url = "https://platform.example/v1/batches"
        ca_file = "tls/city-ca.pem"

        [[uplinks]]
        name = "county"
        type = "mqtt"
        host = "broker.example"
        client_cert = "tls/gw.pem"
        client_key = "tls/gw.key"
        platform_key = "keys/county-ack.pub"
        batch_max_records = 5000
        """)
    city, county = config.uplinks
    assert (city.type, city.url, city.timeout, city.batch_max_kb) == (
        "https", "https://platform.example/v1/batches", 30.0, 512)
    assert (city.batch_max_records, city.batch_max_age, city.backoff_initial,
            city.backoff_max) == (50_000, 60.0, 2.0, 300.0)
    assert config.config_path(city.ca_file) == (tmp_path / "tls/city-ca.pem").resolve()
    assert (county.host, county.port, county.tls, county.topic_prefix) == (
        "broker.example", 8883, True, "wellgate")
    assert county.batch_max_records == 5000 and county.gateway_id is None


@pytest.mark.parametrize(("extra", "expected"), [
    ('name = "city"\ntype = "https"\nurl = "http://platform.example/v1/batches"',
     'uplinks[0].url = "http://platform.example/v1/batches": expected the receiver\'s batch URL '
     '(https only: nothing is sent in clear)'),
    ('name = "city"\ntype = "https"',
     "uplinks[0].url: missing; expected the receiver's https:// URL"),
    ('name = "county"\ntype = "mqtt"',
     "uplinks[0].host: missing; expected the broker host"),
    ('name = "county"\ntype = "mqtt"\nhost = "b"\nurl = "https://x/v1/batches"',
     'uplinks[0].url = "https://x/v1/batches": expected no url on an mqtt uplink'),
    ('name = "city"\ntype = "https"\nurl = "https://x/"\nhost = "b"',
     'uplinks[0].host = "b": expected no host on an https uplink'),
    ('name = "city"\ntype = "ftp"',
     'uplinks[0].type = "ftp": expected one of: https, mqtt'),
    ('name = "city"\ntype = "https"\nurl = "https://x/"\nclient_cert = "a.pem"',
     "uplinks[0].client_key: missing; expected client_cert and client_key together"),
    ('name = "city"\ntype = "https"\nurl = "https://x/"\nbackoff_initial = 60\n'
     'backoff_max = 10', "uplinks[0].backoff_max = 10.0: expected at least backoff_initial"),
    ('name = "city"\ntype = "https"\nurl = "https://x/"\nbatch_max_records = 0',
     "uplinks[0].batch_max_records = 0: expected records per batch, 1..1000000"),
    ('name = "city"\ntype = "https"\nurl = "https://x/"\ntimout = 5',
     "uplinks[0].timout: unknown key"),
])
def test_errors_name_key_value_and_what_is_allowed(tmp_path, extra, expected):
    errors = site_errors(tmp_path, "[[uplinks]]\n" + extra + "\n")
    assert len(errors) == 1, errors
    assert errors[0].startswith(expected), errors[0]


def test_names_must_be_unique(tmp_path):
    errors = site_errors(tmp_path, """
        [[uplinks]]
        name = "city"
        type = "https"
        url = "https://a.example/v1/batches"

        [[uplinks]]
        name = "city"
        type = "mqtt"
        host = "b.example"
        platform_key = "keys/ack.pub"
        """)
    assert errors == ['uplinks[1].name = "city": expected a name not already used by '
                      'uplinks[0]']


def test_an_mqtt_uplink_needs_the_platform_key_or_a_loud_opt_out(tmp_path):
    """Issue 10 item 7: MQTT acks were unsigned by default, so anyone who may publish on the ack
    topic could move the cursor; the key is required, unsigned acks only by explicit opt-out."""
    errors = site_errors(tmp_path, '[[uplinks]]\nname = "county"\ntype = "mqtt"\nhost = "b"\n')
    assert len(errors) == 1 and "uplinks[0].platform_key: missing; expected the platform's ack " \
        "public key file" in errors[0], errors
    config = load_site(tmp_path, """
        [[uplinks]]
        name = "county"
        type = "mqtt"
        host = "b"
        insecure_unsigned_acks = true
        """)
    assert config.uplinks[0].insecure_unsigned_acks is True
