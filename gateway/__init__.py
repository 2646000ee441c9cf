"""wellgate: the CPython gateway daemon and CLI for a groundwater well's meters."""

__version__ = "0.1.0"
