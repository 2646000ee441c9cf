"""What the unit and package tests share: the system tools they drive, and running a command in a
private mount namespace where /opt/wellgate is an installed tree."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT = REPO / "systemd" / "wellgate.service"
SANDBOX = Path(__file__).resolve().parent / "unit_sandbox.py"
DEBIAN_PYTHON = "/usr/bin/python3"  # Debian's, with python3-seccomp (.ci/run installs both)


def need(tool: str, package: str) -> str:
    """The path of a system tool; skip without it, except in CI (CI=true), where that fails."""
    found = shutil.which(tool) or next(
        (p for p in (f"/usr/sbin/{tool}", f"/sbin/{tool}") if os.access(p, os.X_OK)), None)
    if found:
        return found
    message = f"{tool} is missing (apt-get install {package}; .ci/run does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def need_root(why: str) -> None:
    """Skip unless root (CI runs as root: there it fails)."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"needs root: {why}")
    pytest.skip(f"needs root: {why}")


def need_seccomp() -> None:
    """Debian's python3 with libseccomp's bindings, for unit_sandbox.py."""
    need("python3", "python3")
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import seccomp"], capture_output=True,
                           check=False)
    if probe.returncode != 0:
        message = f"{DEBIAN_PYTHON} cannot import seccomp (apt-get install python3-seccomp)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def in_namespace(script: str, opt_wellgate: Path | None = None, **kwargs) -> subprocess.Popen:
    """`sh -c script` in a private mount namespace (unshare), where /opt is a fresh tmpfs with
    `opt_wellgate` bind-mounted read-only at /opt/wellgate: an installed tree at its own path,
    without touching this machine's /opt. The script's last command should `exec`."""
    need("unshare", "util-linux")
    setup = "mount --make-rprivate / && "
    if opt_wellgate is not None:
        setup += (f"mount -t tmpfs tmpfs /opt && mkdir /opt/wellgate && "
                  f"mount --bind '{opt_wellgate}' /opt/wellgate && "
                  f"mount -o remount,bind,ro /opt/wellgate && ")
    return subprocess.Popen(["unshare", "--mount", "sh", "-c", setup + script], **kwargs)


def run_in_namespace(script: str, opt_wellgate: Path | None = None,
                     timeout: float = 60) -> subprocess.CompletedProcess:
    """in_namespace, waited for; its output as text."""
    proc = in_namespace(script, opt_wellgate, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{script!r} did not end in {timeout} s:\n{out}{err}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
