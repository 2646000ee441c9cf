"""Assertion helpers for the driver checks; plain Python, so they run on CPython and MicroPython."""


def raises(error_class, function, *args, **kwargs):
    """Call function(*args, **kwargs); return the error if it raised error_class, else fail."""
    try:
        function(*args, **kwargs)
    except error_class as error:
        return error
    raise AssertionError("%s%r did not raise %s" % (function.__name__, args, error_class.__name__))


def raises_exactly(error_class, function, *args, **kwargs):
    """Like raises(), and the error is that very class, not a subclass of it."""
    error = raises(error_class, function, *args, **kwargs)
    assert type(error) is error_class, "%s%r raised %s, expected exactly %s" % (
        function.__name__, args, type(error).__name__, error_class.__name__)
    return error


def same(actual, expected):
    """Equal, with NaN equal to NaN (struct and float codecs must keep NaN)."""
    if isinstance(expected, float) and expected != expected:
        return isinstance(actual, float) and actual != actual
    return actual == expected


def close(actual, expected, tolerance):
    """Within an absolute tolerance; NaN and infinities only match themselves."""
    if expected != expected or expected in (float("inf"), float("-inf")):
        return same(actual, expected)
    return abs(actual - expected) <= tolerance
