"""Prometheus metrics (`wellgate_*`), made at scrape time from the counters the gateway already
keeps: nothing on the polling path is instrumented for them."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    StateSetMetricFamily,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from gateway.acquisition.diagnostics import RTT_BUCKETS

# (counter in the health board, metric name without _total, help)
DEVICE_COUNTERS = (
    ("requests", "wellgate_device_requests", "Transactions sent to the device."),
    ("good_replies", "wellgate_device_answers", "Good replies from the device."),
    ("timeouts", "wellgate_device_timeouts", "Transactions the device did not answer in time."),
    ("crc_errors", "wellgate_device_crc_errors", "Replies with a bad CRC or checksum."),
    ("exception_replies", "wellgate_device_exception_replies",
     "Modbus exception replies (or DL/T 645 error replies)."),
    ("malformed", "wellgate_device_malformed_replies", "Replies that were not a valid frame."),
    ("connect_errors", "wellgate_device_connect_errors",
     "Transactions that failed because the port or connection could not be opened."),
    ("polls", "wellgate_device_polls", "Polls of the device (each may take several transactions)."),
    ("failed_polls", "wellgate_device_failed_polls", "Polls that got no usable reply."),
)
STATES = ("online", "offline", "unknown")


class WellgateCollector(Collector):
    """One scrape's metrics from a live() look and a status() look of StatusSource."""

    def __init__(self, live: dict[str, Any], status: dict[str, Any]) -> None:
        self.live = live
        self.status = status

    def collect(self) -> Iterator[Metric]:
        yield from self._devices(self.live["board"]["devices"])
        yield from self._uplinks(self.status.get("uplinks", []), self.live.get("uplinks", {}))
        yield from self._store(self.live["store"], self.live.get("disk_write_bytes"))
        yield from self._alarms(self.status)
        clock = self.status["gateway"]["clock"]["synchronised"]
        if clock is not None:
            gauge = GaugeMetricFamily("wellgate_clock_synchronised",
                                      "1 when the kernel reports the clock synchronised.")
            gauge.add_metric([], 1.0 if clock else 0.0)
            yield gauge

    def _devices(self, devices: list[dict[str, Any]]) -> Iterator[Metric]:
        labels = ["device", "bus"]
        for key, name, text in DEVICE_COUNTERS:
            family = CounterMetricFamily(name, text, labels=labels)
            for device in devices:
                family.add_metric([device["device"], device["bus"]], device[key])
            yield family
        histogram = HistogramMetricFamily(
            "wellgate_device_round_trip_seconds",
            "Request sent to reply decoded, for answered transactions.", labels=labels)
        for device in devices:
            cumulative = list(accumulate(device["rtt_counts"]))
            buckets = [(floatToGoString(bound), float(count))
                       for bound, count in zip(RTT_BUCKETS, cumulative, strict=False)]
            buckets.append(("+Inf", float(cumulative[-1])))
            histogram.add_metric([device["device"], device["bus"]], buckets, device["rtt_sum"])
        yield histogram
        state = StateSetMetricFamily("wellgate_device_state", "The device's state.",
                                     labels=labels)
        for device in devices:
            state.add_metric([device["device"], device["bus"]],
                             {name: device["state"] == name for name in STATES})
        yield state
        age = GaugeMetricFamily("wellgate_device_last_answer_age_seconds",
                                "Seconds since the device's last good reply.", labels=labels)
        written = self.live["board"]["written_at"]
        for device in devices:
            if device["last_good_wall"] is not None:
                age.add_metric([device["device"], device["bus"]],
                               max(0.0, written - device["last_good_wall"]))
        yield age

    def _uplinks(self, rows: list[dict[str, Any]], live: dict[str, Any]) -> Iterator[Metric]:
        backlog = GaugeMetricFamily("wellgate_uplink_backlog_records",
                                    "Committed records the destination has not acknowledged.",
                                    labels=["uplink"])
        oldest = GaugeMetricFamily("wellgate_uplink_oldest_record_age_seconds",
                                   "Age of the oldest unacknowledged record.", labels=["uplink"])
        for row in rows:
            if "backlog_records" in row:
                backlog.add_metric([row["name"]], row["backlog_records"])
                oldest.add_metric([row["name"]], row["oldest_age_s"] or 0.0)
        yield backlog
        yield oldest
        for key, name, text in (
                ("failures", "wellgate_uplink_failures",
                 "Attempts that ended in a transport or store error, or a rejection."),
                ("batches", "wellgate_uplink_batches", "Batches the receiver answered."),
                ("bytes_sent", "wellgate_uplink_sent_bytes", "Bytes of batches sent.")):
            family = CounterMetricFamily(name, text, labels=["uplink"])
            for uplink, state in sorted(live.items()):
                family.add_metric([uplink], state[key])
            yield family
        success = GaugeMetricFamily("wellgate_uplink_last_success_timestamp_seconds",
                                    "Unix time of the destination's last acknowledgement.",
                                    labels=["uplink"])
        for uplink, state in sorted(live.items()):
            if state.get("last_success") is not None:
                success.add_metric([uplink], state["last_success"])
        yield success

    def _store(self, store: dict[str, Any], written: int | None) -> Iterator[Metric]:
        for key, name, text in (
                ("committed_blocks", "wellgate_store_commits",
                 "Signed blocks committed (one SQLite transaction each) since the start."),
                ("committed_records", "wellgate_store_records",
                 "Records committed since the gateway started."),
                ("dropped", "wellgate_store_dropped_readings",
                 "Readings dropped because the buffer was full while the disk could not be "
                 "written.")):
            family = CounterMetricFamily(name, text)
            family.add_metric([], store[key])
            yield family
        for key, name, text in (
                ("buffered", "wellgate_store_waiting_readings", "Readings waiting for a commit."),
                ("write_failing", "wellgate_store_write_failing",
                 "1 while commits fail (the store retries)."),
                ("low_space", "wellgate_store_low_space", "1 below the free-space floor.")):
            gauge = GaugeMetricFamily(name, text)
            gauge.add_metric([], float(store[key]))
            yield gauge
        if written is not None:
            family = CounterMetricFamily(
                "wellgate_process_written_bytes",
                "Bytes the gateway process caused to be written to storage (the store's "
                "commits, mostly; from /proc/self/io).")
            family.add_metric([], written)
            yield family

    def _alarms(self, status: dict[str, Any]) -> Iterator[Metric]:
        raised = CounterMetricFamily("wellgate_alarms_raised",
                                     "Meter-health alarms raised since the gateway started.")
        raised.add_metric([], status["alarms_raised_since_start"])
        yield raised
        active = GaugeMetricFamily("wellgate_alarm_active", "1 for each alarm raised now.",
                                   labels=["alarm", "device"])
        for alarm in (status.get("alarms") or {}).get("active", []):
            active.add_metric([alarm["alarm"], alarm["device"]], 1.0)
        yield active


def metrics_registry(live: dict[str, Any], status: dict[str, Any]) -> CollectorRegistry:
    """A registry holding only this scrape's collector (no process or platform defaults)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WellgateCollector(live, status))
    return registry
