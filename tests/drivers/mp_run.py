"""Runs every test_* of the driver checks without pytest, on MicroPython or CPython; 1 on failure.

Under MicroPython it is started by tests/drivers/mp/run.mjs; under CPython by
`python tests/drivers/mp_run.py`. Prints one line per failure, then "N passed, M failed"."""

import os
import sys

CHECK_MODULES = ("check_modbus_rtu", "check_registers", "check_dlt645", "check_sl651",
                 "check_sl427", "check_commands")


def _report(label, error):
    print("FAIL %s: %s: %s" % (label, type(error).__name__, error))
    if hasattr(sys, "print_exception"):  # MicroPython
        sys.print_exception(error)
    else:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__)


def driver_modules():
    """Names of every module in drivers/, found next to the package's __init__.py."""
    import drivers

    folder = drivers.__file__.rsplit("/", 1)[0]
    return sorted(name[:-3] for name in os.listdir(folder)
                  if name.endswith(".py") and name != "__init__.py")


def run_all():
    """Import every drivers module, run every check; the number of failures."""
    passed = failed = 0
    for name in driver_modules():
        try:
            __import__("drivers." + name)
            passed += 1
        except Exception as error:
            failed += 1
            _report("import drivers." + name, error)
    for module_name in CHECK_MODULES:
        try:
            module = __import__(module_name)
        except Exception as error:
            failed += 1
            _report("import " + module_name, error)
            continue
        for name in sorted(dir(module)):
            if not name.startswith("test_"):
                continue
            try:
                getattr(module, name)()
                passed += 1
            except Exception as error:
                failed += 1
                _report("%s.%s" % (module_name, name), error)
    print("%d passed, %d failed" % (passed, failed))
    return failed


if __name__ == "__main__":
    sys.exit(1 if run_all() else 0)
