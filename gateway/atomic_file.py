"""write_json_atomic(): replace a small JSON file so that a reader never sees half of it."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write `data` as JSON to a temporary file beside `path`, then rename it over `path` (the
    folder is made if missing). Not fsynced: meant for runtime snapshots on tmpfs, which a power
    cut loses anyway. Raises OSError (nothing is left behind then)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(data))  # dumps: the C encoder (dump() is pure Python)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
