"""Sans-IO protocol and register codecs for wellgate; runs on CPython and MicroPython."""
