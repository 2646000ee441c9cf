"""The [store] table: how readings are committed to the signed store, kept, and thinned."""

from gateway.config.fields import Section, bounded


class StoreSection(Section):
    """How readings are committed to the signed store, kept, and thinned when the disk fills.

    One commit is one fsync'd SQLite transaction plus one signature: committing every 5 s (one poll
    cycle at the usual 5 s interval) writes a few flash pages per cycle instead of a few per
    reading, and a power cut costs at most those 5 s of samples (never volume: totals are
    cumulative)."""

    commit_interval: float = bounded(
        "seconds the oldest waiting reading may wait for its commit", 5.0, gt=0, le=3600)
    commit_max: int = bounded(
        "readings that make a commit without waiting for commit_interval", 1000, ge=1, le=10_000)
    buffer_max: int = bounded(
        "readings held in memory while the disk cannot be written (the oldest are dropped, "
        "counted and logged beyond this)", 100_000, ge=10_000, le=10_000_000)
    retention_days: float = bounded(
        "days a reading delivered to every uplink is kept before it is pruned", 90.0, gt=0,
        le=36_500, then=" (undelivered readings are never pruned by age)")
    free_space_floor_mb: float = bounded(
        "megabytes of free disk below which the store thins undelivered history and raises the "
        "store_low_space alarm", 100.0, ge=1, le=1_000_000)
    thin_keep_interval: float = bounded(
        "seconds between the totaliser readings kept when history is thinned", 900.0, ge=1,
        le=86_400)
