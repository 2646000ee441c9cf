"""The state directory is the gateway's alone: the folder 0700, every state file 0600, whatever
the caller's umask.

A file is created with os.open(..., 0o600) and then fchmod'ed to 0600 (a umask can only take
bits away, but an explicit mode says what is meant); SQLite gives wellgate.db-wal and -shm the
mode of wellgate.db, so the database file is created here before SQLite opens it. Files and a
folder found wider (left by an older version, or by hand) are narrowed at every writer start,
with a WARNING naming each.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

STATE_DIR_MODE = 0o700
STATE_FILE_MODE = 0o600
# Every file the gateway keeps in its state directory (the key's and the marker's temporary
# files are created 0600 by their writers and never outlive them).
STATE_FILES = ("wellgate.db", "wellgate.db-wal", "wellgate.db-shm", "gateway.key", "gateway.pub",
               "uplink.nonce", "store.json")
LOST_GLOB = "wellgate.db*.lost-*"  # old store files kept aside by `wellgate init --new-chain`


def open_private(path: Path, flags: int) -> int:
    """os.open() of a state file with mode 0600 (set explicitly, whatever the umask)."""
    fd = os.open(path, flags, STATE_FILE_MODE)
    try:
        os.fchmod(fd, STATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_private(path: Path) -> None:
    """Create `path` empty at 0600 if it does not exist (the database, before SQLite opens it)."""
    with contextlib.suppress(FileExistsError):
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))


def narrow(path: Path, mode: int) -> bool:
    """Take away every permission bit of `path` beyond `mode`; True (and a WARNING) if any."""
    try:
        found = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False
    if not found & ~mode or stat.S_ISLNK(os.lstat(path).st_mode):
        return False
    narrowed = found & mode
    os.chmod(path, narrowed)
    log.warning("%s was mode %04o; now %04o (state files are the gateway's alone)", path, found,
                narrowed)
    return True


def secure_state_dir(state_dir: Path) -> None:
    """Make the state directory (0700) if missing; narrow it and every state file in it."""
    state_dir = Path(state_dir)
    state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    narrow(state_dir, STATE_DIR_MODE)
    for name in STATE_FILES:
        narrow(state_dir / name, STATE_FILE_MODE)
    for path in state_dir.glob(LOST_GLOB):
        narrow(path, STATE_FILE_MODE)
