"""The code trees the benches time: a git revision unpacked, and a tree byte-compiled as installed.

Byte-compiling: the .deb byte-compiles at its installed paths and pip compiles what it installs
(the peer's venv), but a checkout run with PYTHONDONTWRITEBYTECODE=1 (this machine's default)
compiles every module it imports at every start: ~0.09 s of CPU for `wellgate run`'s imports here.
Timing a checkout from source would charge wellgate for work no installed gateway does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def export(rev: str, into: Path) -> Path:
    """The tree of git revision `rev` (e.g. the baseline a bench compares with), unpacked into
    `into` (made if missing)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def byte_compile(tree: Path) -> None:
    """Write __pycache__ for tree/gateway and tree/drivers (ignored by git)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "gateway", "drivers"], cwd=tree,
                   check=True, capture_output=True)
