"""Byte-compile a tree's gateway/ and drivers/ before it is timed, as an installed package is.

The .deb byte-compiles at its installed paths and pip compiles what it installs (the peer's
venv), but a checkout run with PYTHONDONTWRITEBYTECODE=1 (this machine's default) compiles every
module it imports at every start: ~0.09 s of CPU for `wellgate run`'s imports here. Timing a
checkout from source would charge wellgate for work no installed gateway does.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def byte_compile(tree: Path) -> None:
    """Write __pycache__ for tree/gateway and tree/drivers (ignored by git)."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "gateway", "drivers"], cwd=tree,
                   check=True, capture_output=True)
