"""The store's own error: a state a person must fix (no key, wrong key, not a wellgate store)."""

from __future__ import annotations


class StoreError(Exception):
    """A store or key that cannot be used as it is; the message says what was found and why."""
