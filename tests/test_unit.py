"""The hardened unit (systemd/wellgate.service) and the udev rule, checked by systemd's own tools:
`systemd-analyze security --offline=true` rates the unit's exposure (at most 2.0), `udevadm test`
parses the rule, and unit_sandbox.py applies the unit's syscall filter and
MemoryDenyWriteExecute= as systemd 252 does (the gateway itself runs under it in test_deb.py).
`systemd-analyze verify` needs the installed /opt/wellgate: test_deb.py runs it."""

from __future__ import annotations

import grp
import os
import re
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path

from unit_support import (
    DEBIAN_PYTHON,
    REPO,
    SANDBOX,
    UNIT,
    need,
    need_root,
    need_seccomp,
    run_in_namespace,
)

UDEV_RULE = REPO / "packaging" / "debian" / "udev.rules"
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")
MAX_EXPOSURE = 2.0
DIALOUT_GID = grp.getgrnam("dialout").gr_gid


def settings(unit: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file, each key with all its values in order."""
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def exposure(unit: Path) -> float:
    """`systemd-analyze security --offline=true` of a unit file: its overall exposure level."""
    need("systemd-analyze", "systemd")
    done = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                           str(unit)], capture_output=True, text=True, timeout=60, check=False)
    found = EXPOSURE.search(done.stdout + done.stderr)
    assert found, f"no exposure level in:\n{done.stdout}{done.stderr}"
    return float(found.group(1))


def test_the_unit_is_rated_at_most_2_0_by_systemd_analyze_security(tmp_path):
    level = exposure(UNIT)
    assert level <= MAX_EXPOSURE, f"exposure {level} > {MAX_EXPOSURE}"
    # The same command on a unit without the hardening rates it high: the number is measured.
    bare = tmp_path / "bare.service"
    bare.write_text("[Service]\nType=notify\nExecStart=/opt/wellgate/bin/wellgate run\n")
    assert exposure(bare) > 9.0


def test_the_unit_has_the_settings_issue_13_names():
    found = settings(UNIT)
    expected = {
        "Type": ["notify"], "Restart": ["on-failure"], "RestartPreventExitStatus": ["2 3"],
        "StateDirectory": ["wellgate"], "StateDirectoryMode": ["0700"],
        "RuntimeDirectory": ["wellgate"], "ConfigurationDirectory": ["wellgate"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"], "UMask": ["0077"],
        "CapabilityBoundingSet": [""], "ProtectSystem": ["strict"], "ProtectClock": ["yes"],
        "MemoryDenyWriteExecute": ["yes"], "DevicePolicy": ["closed"],
        "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"], "User": ["wellgate"],
        "ConditionPathExists": ["/etc/wellgate/wellgate.toml"],
    }
    assert {key: found.get(key) for key in expected} == expected
    assert int(found["WatchdogSec"][0]) > 0
    assert {"char-ttyUSB rw", "char-ttyACM rw", "char-ttyAMA rw", "char-ttyS rw"} <= set(
        found["DeviceAllow"])
    # Setting the clock (an opt-in from the platform's time) needs a drop-in that lifts both.
    assert "@clock" in found["SystemCallFilter"][-1].split()
    # `run` refuses a bad config with exit 2 itself; a failing ExecStartPre would not count for
    # RestartPreventExitStatus= (the main process's status only) and would restart for ever.
    assert "ExecStartPre" not in found
    assert found["ExecStart"] == [
        "/opt/wellgate/bin/wellgate run --config /etc/wellgate/wellgate.toml"]


def udev_problems(rule_text: str, tmp_path: Path) -> tuple[str, list[str]]:
    """udevadm test's output with only `rule_text` as the rules, and its lines about the rule.
    In a private mount namespace: the rule dirs and the /dev and /run it writes are its own."""
    need("udevadm", "udev")
    need_root("a private mount namespace for udevadm test")
    rules, empty = tmp_path / "rules", tmp_path / "empty"
    rules.mkdir(parents=True)
    empty.mkdir(parents=True)
    (rules / "70-wellgate-rs485.rules").write_text(rule_text)
    device = next(p for p in ("/sys/class/tty/console", "/sys/class/tty/tty", "/sys/class/mem/null")
                  if Path(p).exists())
    done = run_in_namespace(
        f"mount --bind '{rules}' /etc/udev/rules.d && "
        + "".join(f"mount --bind '{empty}' {d} && " for d in ("/lib/udev/rules.d",
                                                                "/usr/lib/udev/rules.d")
                  if Path(d).is_dir() and not Path(d).is_symlink())
        + f"mount -t tmpfs tmpfs /dev && mount -t tmpfs tmpfs /run && "
        f"exec udevadm test --action=add {device}")
    output = done.stdout + done.stderr
    assert "Reading rules file: /etc/udev/rules.d/70-wellgate-rs485.rules" in output, output
    return output, [line for line in output.splitlines()
                    if "70-wellgate-rs485.rules:" in line]


def test_udevadm_parses_the_adapter_rule_without_a_complaint(tmp_path):
    output, problems = udev_problems(UDEV_RULE.read_text(), tmp_path / "good")
    assert problems == [], output
    # A misspelt key and a GOTO without its label are reported by the same command.
    broken = UDEV_RULE.read_text().replace('GROUP="dialout"', 'GRUOP="dialout"').replace(
        'LABEL="wellgate_rs485"\n', "")
    _, problems = udev_problems(broken, tmp_path / "bad")
    assert len(problems) >= 2, problems


def sandboxed(code: str) -> subprocess.CompletedProcess:
    """Python code run by Debian's python3 under the unit's seccomp filters (unit_sandbox.py)."""
    need_seccomp()
    return subprocess.run([DEBIAN_PYTHON, str(SANDBOX), str(UNIT), DEBIAN_PYTHON, "-c",
                           textwrap.dedent(code)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_the_sandbox_applies_the_units_filters():
    # What the unit forbids fails with EPERM (SystemCallErrorNumber=); the rest works.
    done = sandboxed("""
        import errno, mmap, os, socket
        def refused(call, *args, **kwargs):
            try:
                call(*args, **kwargs)
            except OSError as exc:
                return exc.errno == errno.EPERM
            return False
        wx = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
        print(refused(mmap.mmap, -1, 4096, prot=wx),           # MemoryDenyWriteExecute=
              refused(os.nice, 1),                             # ~@resources: setpriority
              refused(os.chroot, "/"),                         # ~@privileged
              mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE) is not None)
        try:                                                   # RestrictAddressFamilies=
            socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
        except OSError as exc:
            print(exc.errno == errno.EAFNOSUPPORT)
        print(socket.socket(socket.AF_INET6, socket.SOCK_STREAM) is not None)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True"] * 6


def test_without_the_sandbox_the_same_calls_work():
    need_seccomp()
    done = subprocess.run([DEBIAN_PYTHON, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_private_users_keeps_the_serial_groups_access():
    # PrivateUsers=yes maps only the service's own user and group into its user namespace, so
    # dialout shows there as the overflow group; the kernel still checks the real group, so the
    # serial ports (root:dialout 0660) stay open to it. Set up as systemd does, for nobody.
    need_root("setting another user's groups")
    need("setpriv", "util-linux")
    need("unshare", "util-linux")
    folder = Path(tempfile.mkdtemp(prefix="wellgate-unit-", dir="/tmp"))  # nobody can reach it
    try:
        folder.chmod(0o755)
        port = folder / "ttyUSB-like"
        port.write_text("answer\n")
        os.chown(port, 0, DIALOUT_GID)
        port.chmod(0o660)
        _read_as_service(port)
    finally:
        shutil.rmtree(folder)


def _read_as_service(port: Path) -> None:
    def read_as_service(groups: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", groups, "--", "unshare", "--user",
             "--map-user=65534", "--map-group=65534", "cat", str(port)],
            capture_output=True, text=True, timeout=30, check=False)

    assert read_as_service(f"--groups={DIALOUT_GID}").stdout == "answer\n"
    assert read_as_service("--clear-groups").returncode != 0  # the group is what opens it
