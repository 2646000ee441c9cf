"""The [status] table: where the read-only status page and /metrics listen, and their token."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from pydantic import Field, field_validator

from gateway.config.fields import Section
from gateway.errors import Problem

LISTEN_EXAMPLE = '"0.0.0.0:8080" (every interface) or "192.168.4.1:8080"'
MIN_TOKEN_CHARS = 16
_LISTEN = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*))"
                     r":(?P<port>[0-9]{1,5})$")


def split_listen(value: str) -> tuple[str, int]:
    """("host", port) of a checked listen value ("[::1]:8080" gives "::1")."""
    match = _LISTEN.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return match["v6"] or match["host"], int(match["port"])


class StatusPageSection(Section):
    """The status page (/), its JSON (/api/status) and Prometheus metrics (/metrics), served by
    the gateway itself; every route needs the token in token_file."""

    listen: str = Field(
        description=f"HOST:PORT to serve on, a port 1..65535, e.g. {LISTEN_EXAMPLE}")
    token_file: str = Field(
        min_length=1, description="a file (relative to the config file) holding the token every "
        f"request must carry, at least {MIN_TOKEN_CHARS} characters, readable by the gateway's "
        'user alone (chmod 600), e.g. "status.token"')

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        match = _LISTEN.match(value)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise ValueError(f"HOST:PORT to serve on, a port 1..65535, e.g. {LISTEN_EXAMPLE}")
        return value


def token_problems(section: StatusPageSection, path: Path) -> Iterator[Problem]:
    """What is wrong with the token file at `path` (missing, unreadable, empty, too short)."""
    where = ("status", "token_file")
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        yield Problem(where, f"an existing file holding the token ({path} does not exist; make "
                      f"one with: openssl rand -hex 16 > {path}; chmod 600 {path})",
                      section.token_file)
        return
    except (OSError, UnicodeDecodeError) as exc:
        yield Problem(where, f"a readable UTF-8 file holding the token ({exc})", section.token_file)
        return
    if len(token) < MIN_TOKEN_CHARS:
        found = "is empty" if not token else f"holds {len(token)} characters"
        yield Problem(where, f"a file holding a token of at least {MIN_TOKEN_CHARS} characters "
                      f"({path} {found}; make one with: openssl rand -hex 16 > {path})",
                      section.token_file)


def exposed_token(path: Path) -> str | None:
    """A warning when others than the file's owner may read the token file (None: they may not)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None
    readers = [who for who, bit in (("group", 0o040), ("others", 0o004)) if mode & bit]
    if not readers:
        return None
    return (f"{path} holds the status page's token and is readable by {' and '.join(readers)} "
            f"(mode {mode:04o}); make it the gateway user's alone: chmod 600 {path}")
