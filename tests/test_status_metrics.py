"""The round-trip histogram the health board keeps, and the /metrics text made from it: bucket
counts worked out by hand from known round trips, cumulative in the Prometheus text."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.acquisition.diagnostics import (
    CRC_ERROR,
    EXCEPTION_REPLY,
    OK,
    RTT_BUCKETS,
    TIMEOUT,
    DeviceHealth,
)
from gateway.status.metrics import metrics_registry

# round trips (s): 0.004 and 0.01 fall in le=0.01 (a bound counts in its own bucket), 0.02 in
# le=0.025, 0.3 in le=0.5, 3.0 above every bound; a timeout and a CRC error take no round trip.
ROUND_TRIPS = [(OK, 0.004), (OK, 0.01), (EXCEPTION_REPLY, 0.02), (OK, 0.3), (OK, 3.0),
               (TIMEOUT, None), (CRC_ERROR, 0.05)]


def _health() -> DeviceHealth:
    health = DeviceHealth("flow-meter", "rs485-1", "tuf-2000m", state="online")
    for outcome, rtt in ROUND_TRIPS:
        health.count(outcome, rtt)
    return health


def test_the_board_counts_each_round_trip_in_its_bucket():
    health = _health()
    assert RTT_BUCKETS == (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
    assert health.rtt_counts == [2, 1, 0, 0, 0, 1, 0, 0, 1]
    assert health.rtt_sum == pytest.approx(0.004 + 0.01 + 0.02 + 0.3 + 3.0)


def test_metrics_text_has_cumulative_buckets_counters_and_state():
    health = _health()
    live = {"board": {"written_at": 1000.0, "devices": [health.as_dict()], "changes": []},
            "uplinks": {"city": {"failures": 4, "batches": 7, "bytes_sent": 1234,
                                 "last_success": 990.0}},
            "store": {"committed_blocks": 12, "committed_records": 340, "dropped": 0,
                      "buffered": 5, "write_failing": False, "low_space": False},
            "disk_write_bytes": 8192}
    status = {"uplinks": [{"name": "city", "backlog_records": 17, "oldest_age_s": 42.5}],
              "gateway": {"clock": {"synchronised": True}},
              "alarms_raised_since_start": 2,
              "alarms": {"active": [{"alarm": "offline", "device": "flow-meter"}]}}
    text = generate_latest(metrics_registry(live, status)).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    device = (("bus", "rs485-1"), ("device", "flow-meter"))

    def bucket(le: str) -> float:
        return samples[("wellgate_device_round_trip_seconds_bucket", (*device, ("le", le)))]
    assert [bucket(le) for le in ("0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5",
                                  "+Inf")] == [2, 3, 3, 3, 3, 4, 4, 4, 5]
    assert samples[("wellgate_device_round_trip_seconds_count", device)] == 5
    assert samples[("wellgate_device_requests_total", device)] == 7
    assert samples[("wellgate_device_answers_total", device)] == 4
    assert samples[("wellgate_device_timeouts_total", device)] == 1
    assert samples[("wellgate_device_crc_errors_total", device)] == 1
    assert samples[("wellgate_device_exception_replies_total", device)] == 1
    assert samples[("wellgate_device_state", (*device, ("wellgate_device_state", "online")))] == 1
    assert samples[("wellgate_device_state", (*device, ("wellgate_device_state", "offline")))] == 0
    assert samples[("wellgate_uplink_backlog_records", (("uplink", "city"),))] == 17
    assert samples[("wellgate_uplink_oldest_record_age_seconds", (("uplink", "city"),))] == 42.5
    assert samples[("wellgate_uplink_failures_total", (("uplink", "city"),))] == 4
    assert samples[("wellgate_store_commits_total", ())] == 12
    assert samples[("wellgate_process_written_bytes_total", ())] == 8192
    assert samples[("wellgate_alarms_raised_total", ())] == 2
    assert samples[("wellgate_alarm_active", (("alarm", "offline"), ("device", "flow-meter")))] == 1
    assert samples[("wellgate_clock_synchronised", ())] == 1
    assert all(name.startswith("wellgate_") for name, _ in samples)
