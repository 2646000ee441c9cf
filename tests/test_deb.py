"""The Debian package (issue 13): `./dev deb`'s build (packaging/build_deb.py, once per module),
installed with the real dpkg into a scratch root (`dpkg --root=R --force-script-chrootless`: the
maintainer scripts run on this host against R through DPKG_ROOT, no container), then upgraded,
removed and purged there. The installed /opt/wellgate is run at its own path in a private mount
namespace: `wellgate --version`, `check-config`, `systemd-analyze verify` of the installed unit,
and `wellgate run` polling the simulated well as an unprivileged user under the unit's syscall
filter and MemoryDenyWriteExecute (unit_sandbox.py).

The build makes a venv and installs every wheel (from pip's cache after the first time): about a
minute on a loaded 2-core machine, so the module's tests share one build and one worker."""

from __future__ import annotations

import email.parser
import http.server
import io
import json
import marshal
import os
import re
import shutil
import signal
import sqlite3
import ssl
import stat
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from notify_support import FakeSystemd
from unit_support import (
    DEBIAN_PYTHON,
    REPO,
    SANDBOX,
    UNIT,
    in_namespace,
    need,
    need_root,
    need_seccomp,
    run_in_namespace,
)

pytestmark = [pytest.mark.xdist_group("deb"), pytest.mark.timeout(900)]

NOBODY = 65534
SKELETON = REPO / "packaging" / "debian" / "wellgate.toml.example"
BUILD_TIMEOUT = 900


@pytest.fixture(scope="module")
def deb(tmp_path_factory) -> tuple[Path, Path]:
    """The package `./dev deb` builds (packaging/build_deb.py) and its staging folder."""
    need("dpkg-deb", "dpkg")
    need_root("dpkg --root runs the maintainer scripts, which chown")
    work = tmp_path_factory.mktemp("deb-build")
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(REPO / "packaging" / "build_deb.py"),
                           "--out", str(work / "dist"), "--work", str(work / "build")],
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    print(f"built {done.stdout.strip()} in {time.monotonic() - started:.0f} s")
    return Path(done.stdout.strip()), work / "build"


def scratch_root(folder: Path) -> Path:
    """An empty root for dpkg: its database, and the passwd and group files Debian's base-passwd
    starts a system with (dialout is gid 20)."""
    (folder / "var/lib/dpkg/updates").mkdir(parents=True)
    (folder / "var/lib/dpkg/info").mkdir()
    (folder / "var/lib/dpkg/status").touch()
    (folder / "etc").mkdir()
    for name in ("passwd", "group"):
        master = Path(f"/usr/share/base-passwd/{name}.master")
        if not master.exists():
            pytest.skip(f"{master} is missing (base-passwd)")
        shutil.copyfile(master, folder / "etc" / name)
    return folder


def dpkg(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The real dpkg on the scratch root; the scripts run here with DPKG_ROOT=root. The root has
    none of the package's dependencies installed, hence --force-depends; a scratch root needs
    no fsync of every file, hence --force-unsafe-io."""
    done = subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless",
                           "--force-depends", "--force-unsafe-io", *args], capture_output=True,
                          text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def passwd_entry(root: Path, name: str, file: str = "passwd") -> list[str] | None:
    """The fields of `name`'s line in root/etc/passwd (or group), if any."""
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    return None


@pytest.fixture(scope="module")
def installed(deb, tmp_path_factory) -> Path:
    """The package installed in a scratch root: the root."""
    root = scratch_root(tmp_path_factory.mktemp("deb-root"))
    dpkg(root, "-i", str(deb[0]))
    return root


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_package_is_for_this_machine_and_names_its_interpreter(deb):
    package, _ = deb
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    assert package.name == f"wellgate_0.1.0_{arch}.deb"
    fields = subprocess.run(["dpkg-deb", "-f", str(package), "Architecture", "Depends"],
                            capture_output=True, text=True, check=True).stdout
    assert f"Architecture: {arch}" in fields
    python = Path(os.path.realpath("/usr/bin/python3")).name  # e.g. python3.11
    assert python in fields and "adduser" in fields


def test_control_files_conffiles_and_scripts(deb):
    package, _ = deb
    control = subprocess.run(["dpkg-deb", "--ctrl-tarfile", str(package)], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(control)) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        conffiles = tar.extractfile(members["conffiles"]).read().decode()
        scripts = {name: tar.extractfile(members[name]).read().decode()
                   for name in ("postinst", "prerm", "postrm")}
    assert conffiles.split() == ["/etc/wellgate/wellgate.toml.example"]
    for name, text in scripts.items():
        assert members[name].mode == 0o755, name
        assert text.startswith("#!/bin/sh\n") and "\nset -e\n" in text, name
        check = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True,
                               check=False)
        assert check.returncode == 0, f"{name}: {check.stderr}"
    assert "adduser --system" in scripts["postinst"]
    assert "deb-systemd-helper" in scripts["postinst"]
    listing = subprocess.run(["dpkg-deb", "--contents", str(package)], capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert all(line.split()[1] == "root/root" for line in listing)


def test_install_makes_the_user_the_folders_and_enables_the_unit(installed):
    root = installed
    user = passwd_entry(root, "wellgate")
    assert user is not None and int(user[2]) < 1000, user  # a system user
    assert user[5:] == ["/var/lib/wellgate", "/usr/sbin/nologin"]
    uid, gid = int(user[2]), int(user[3])
    assert "wellgate" in passwd_entry(root, "dialout", "group")[3].split(",")
    state = root / "var/lib/wellgate"
    assert (mode(state), state.stat().st_uid, state.stat().st_gid) == (0o700, uid, gid)
    etc = root / "etc/wellgate"
    assert (mode(etc), etc.stat().st_uid, etc.stat().st_gid) == (0o750, 0, gid)
    assert mode(etc / "wellgate.toml.example") == 0o644
    assert not (etc / "wellgate.toml").exists()  # nothing to poll until the installer writes it
    unit = root / "lib/systemd/system/wellgate.service"
    assert unit.read_text() == UNIT.read_text()
    wants = root / "etc/systemd/system/multi-user.target.wants/wellgate.service"
    assert os.readlink(wants) == "/lib/systemd/system/wellgate.service"
    assert (root / "lib/udev/rules.d/70-wellgate-rs485.rules").read_text() == (
        REPO / "packaging/debian/udev.rules").read_text()
    assert os.readlink(root / "usr/bin/wellgate") == "/opt/wellgate/bin/wellgate"
    status = subprocess.run(["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W",
                             "-f=${db:Status-Abbrev}", "wellgate"], capture_output=True,
                            text=True, check=True).stdout
    assert status.strip() == "ii"


def test_the_venv_belongs_at_opt_wellgate(deb, installed):
    venv = installed / "opt/wellgate"
    stage = str(deb[1]).encode()
    assert (venv / "bin/wellgate").read_text().startswith("#!/opt/wellgate/bin/python\n")
    assert mode(venv / "bin/wellgate") == 0o755
    cfg = (venv / "pyvenv.cfg").read_text()
    python = os.path.realpath("/usr/bin/python3")
    assert f"executable = {python}" in cfg and "/opt/wellgate" in cfg
    assert os.readlink(venv / "bin" / Path(python).name) == python
    leftovers = [p for p in venv.rglob("*") if p.is_file() and not p.is_symlink()
                 and stage in p.read_bytes()]
    assert leftovers == []
    # Every module is compiled in advance (ProtectSystem=strict: /opt is read-only to the
    # service), and its code says where it is installed.
    modules = list(venv.glob("lib/python3*/site-packages/gateway/**/*.py"))
    assert modules
    tag = sys.implementation.cache_tag
    for module in modules:
        assert (module.parent / "__pycache__" / f"{module.stem}.{tag}.pyc").exists(), module
    code = marshal.loads((venv.glob(f"lib/python3*/site-packages/gateway/__pycache__/"
                                    f"daemon.{tag}.pyc").__next__()).read_bytes()[16:])
    assert code.co_filename.startswith("/opt/wellgate/lib/python3")


def test_the_installed_wellgate_runs_from_its_own_root(installed, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(skeleton_active(tmp_path))
    done = run_in_namespace(
        "/opt/wellgate/bin/wellgate --version && "
        f"exec /opt/wellgate/bin/wellgate check-config '{site}'", installed / "opt/wellgate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("wellgate, version 0.1.0\n")
    assert f"{site}: OK" in done.stdout
    assert "tuf-2000m" in done.stdout  # a built-in profile: found in share/wellgate/profiles
    # `run` refuses a config that does not check with exit 2, which the unit does not restart.
    site.write_text("[well]\n")
    done = run_in_namespace(f"exec /opt/wellgate/bin/wellgate run --config '{site}'",
                            installed / "opt/wellgate")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def skeleton_active(folder: Path) -> str:
    """The skeleton's commented settings made active (the `# ` lines), state under folder."""
    lines = [line[2:] for line in SKELETON.read_text().splitlines() if line.startswith("# ")]
    text = "\n".join(line.split("  #")[0] for line in lines) + "\n"
    return (text.replace('"/var/lib/wellgate"', f'"{folder}/state"')
            .replace('"/run/wellgate"', f'"{folder}/run"'))


def test_the_skeleton_is_inactive_and_its_settings_check(tmp_path):
    assert tomllib.loads(SKELETON.read_text()) == {}  # it cannot start polling anything
    site = tmp_path / "site.toml"
    site.write_text(skeleton_active(tmp_path))
    done = subprocess.run([sys.executable, "-m", "gateway", "check-config", str(site)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_systemd_analyze_verify_passes_on_the_installed_unit(installed):
    need("systemd-analyze", "systemd")
    unit = installed / "lib/systemd/system/wellgate.service"
    done = run_in_namespace(f"exec systemd-analyze verify --man=no '{unit}'",
                            installed / "opt/wellgate")
    # verify exits 0 on an unknown key or a bad value too: any line it prints is a finding.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")
    broken = installed.parent / "broken.service"
    broken.write_text(unit.read_text().replace("ProtectSystem=", "ProtectSystm="))
    done = run_in_namespace(f"exec systemd-analyze verify --man=no '{broken}'",
                            installed / "opt/wellgate")
    assert "Unknown key" in done.stdout + done.stderr


GATEWAY_SITE = """\
[well]
id = "150602-0099"

[gateway]
runtime_dir = "{folder}/run"
state_dir = "{folder}/state"

[store]
commit_interval = 0.3

[[buses]]
name = "rs485-1"
type = "rtu"
port = "{links}/rs485-1"
timeout = 0.3
retries = 0

[[devices]]
name = "flow-meter"
bus = "rs485-1"
model = "tuf-2000m"
slave_id = 1
poll_interval = 0.5
points = ["flow_rate", "forward_total"]
"""


def as_service(folder: Path, command: str) -> str:
    """The shell command that runs `command` as the unit would: an unprivileged user (nobody
    here: the scratch root's wellgate does not exist on this host) with no capabilities and
    no_new_privs, under the unit's syscall filter and MemoryDenyWriteExecute= (the unit and
    unit_sandbox.py copied to `folder`, where that user can read them)."""
    return (f"exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups --inh-caps=-all "
            f"--bounding-set=-all --no-new-privs -- {DEBIAN_PYTHON} '{folder}/{SANDBOX.name}' "
            f"'{folder}/wellgate.service' {command}")


@pytest.fixture
def service_folder(installed) -> Iterator[Path]:
    """A folder the unprivileged user can reach (pytest's own are root's alone), holding the
    installed unit and unit_sandbox.py for as_service, and state/ and run/ owned by that user."""
    need_seccomp()
    need("setpriv", "util-linux")
    folder = Path(tempfile.mkdtemp(prefix="wellgate-deb-", dir="/tmp"))
    try:
        folder.chmod(0o755)
        shutil.copyfile(installed / "lib/systemd/system/wellgate.service",
                        folder / "wellgate.service")
        shutil.copyfile(SANDBOX, folder / SANDBOX.name)
        for sub in ("state", "run"):
            (folder / sub).mkdir(mode=0o700)
            os.chown(folder / sub, NOBODY, NOBODY)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_installed_gateway_polls_and_signs_under_the_units_sandbox(installed, service_folder):
    folder = service_folder
    links = folder / "by-id"
    links.mkdir()
    config = folder / "site.toml"
    config.write_text(GATEWAY_SITE.format(folder=folder, links=links))
    opt = installed / "opt/wellgate"
    simulator = subprocess.Popen(  # the meters: this checkout's simulator, outside the sandbox
        [sys.executable, "-m", "gateway.simulator", "--config", str(config), "--link-dir",
         str(links)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    gateway = None
    systemd = FakeSystemd(folder / "notify.sock")
    try:
        json.loads(simulator.stdout.readline())
        os.chown(os.path.realpath(links / "rs485-1"), NOBODY, -1)  # as udev gives dialout
        os.chmod(folder / "notify.sock", 0o777)
        init = run_in_namespace(as_service(folder, f"/opt/wellgate/bin/wellgate init --config "
                                                 f"'{config}'"), opt)
        assert init.returncode == 0, init.stdout + init.stderr
        gateway = in_namespace(
            as_service(folder, f"/opt/wellgate/bin/wellgate run --config '{config}'"), opt,
            env={**os.environ, "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "2000000"},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        systemd.wait_for("READY=1", timeout=60)
        ready = systemd.times("READY=1")[0]
        systemd.wait_for("WATCHDOG=1", timeout=30, after=ready + 2)  # polls and commits go on
        gateway.send_signal(signal.SIGTERM)
        output, _ = gateway.communicate(timeout=30)
        assert gateway.returncode == 0, output
        assert systemd.times("STOPPING=1"), output
    finally:
        systemd.close()
        if gateway is not None and gateway.poll() is None:
            gateway.kill()
            gateway.wait(10)
        simulator.send_signal(signal.SIGTERM)
        simulator.wait(10)
    verify = run_in_namespace(as_service(
        folder, f"/opt/wellgate/bin/wellgate verify --db '{folder}/state/wellgate.db'"), opt)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    with sqlite3.connect(f"file:{folder}/state/wellgate.db?mode=ro", uri=True) as db:
        readings = db.execute("SELECT count(*) FROM records WHERE kind = 'reading' AND "
                              "device = 'flow-meter'").fetchone()[0]
    assert readings > 0


def test_upgrade_keeps_the_store_key_and_config_remove_keeps_data_purge_deletes_it(
        deb, tmp_path):
    root = scratch_root(tmp_path / "root")
    dpkg(root, "-i", str(deb[0]))
    state, etc = root / "var/lib/wellgate", root / "etc/wellgate"
    # What a running gateway and its installer leave: store, key, site config, an edited skeleton.
    kept = {state / "wellgate.db": b"store", state / "gateway.key": b"key",
            etc / "wellgate.toml": b'[well]\nid = "x"\n',
            etc / "wellgate.toml.example": b"# edited by the installer\n"}
    for path, data in kept.items():
        path.write_bytes(data)
    newer = repack(deb[0], "0.1.1", tmp_path / "newer")
    upgrade = dpkg(root, "-i", str(newer))
    assert "Unpacking wellgate (0.1.1) over (0.1.0)" in upgrade.stdout
    assert {path: path.read_bytes() for path in kept} == kept
    assert passwd_entry(root, "wellgate") is not None
    users = [line for line in (root / "etc/passwd").read_text().splitlines()
             if line.startswith("wellgate:")]
    assert len(users) == 1  # postinst ran again: no second user
    assert mode(state) == 0o700
    dpkg(root, "--remove", "wellgate")
    assert not (root / "opt/wellgate").exists()
    assert not (root / "lib/systemd/system/wellgate.service").exists()
    assert {path: path.read_bytes() for path in kept} == kept
    dpkg(root, "--purge", "wellgate")
    assert not state.exists() and not etc.exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/wellgate.service").exists()
    assert passwd_entry(root, "wellgate") is not None  # Debian leaves system users on purge


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from the platform"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_installed_uplink_library_reaches_a_tls_server_under_the_units_sandbox(
        installed, service_folder):
    # The platform end: HTTPS on 127.0.0.1 with a certificate for "localhost" from a test CA,
    # so the gateway's side resolves a name (glibc's getaddrinfo, with AF_NETLINK refused),
    # opens an AF_INET socket and checks the chain with OpenSSL, all under the unit's filters.
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(service_folder / "ca.pem"))
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    code = (f"import httpx, ssl; context = ssl.create_default_context("
            f"cafile='{service_folder}/ca.pem'); "
            f"reply = httpx.get('https://localhost:{server.server_port}/', verify=context); "
            f"print(reply.status_code, reply.text)")
    try:
        done = run_in_namespace(as_service(service_folder,
                                           f'/opt/wellgate/bin/python -c "{code}"'),
                                installed / "opt/wellgate")
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "200 hello from the platform\n"


def repack(package: Path, version: str, folder: Path) -> Path:
    """The same package under another version, for an upgrade."""
    tree = folder / "tree"
    folder.mkdir(parents=True)
    subprocess.run(["dpkg-deb", "--raw-extract", str(package), str(tree)], check=True,
                   capture_output=True)
    control = tree / "DEBIAN/control"
    control.write_text(control.read_text().replace("Version: 0.1.0\n", f"Version: {version}\n"))
    out = folder / f"wellgate_{version}.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Znone", "--build", str(tree),
                    str(out)], check=True, capture_output=True)
    return out


def test_the_data_beside_the_code_is_installed(installed):
    # A file the code reads beside its modules (the status page) or from config/ (profiles,
    # coefficient tables, examples) that the wheel leaves out only fails on an installed gateway.
    site = next((installed / "opt/wellgate/lib").glob("python3*/site-packages"))
    beside_code = [p.relative_to(REPO) for top in ("gateway", "drivers")
                   for p in (REPO / top).rglob("*") if p.is_file()
                   and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert [p for p in beside_code if not (site / p).is_file()] == []
    shared = installed / "opt/wellgate/share/wellgate"
    for folder in (REPO / "config").iterdir():
        wanted = sorted(p.name for p in folder.glob("*.toml"))
        assert wanted and sorted(p.name for p in (shared / folder.name).glob("*.toml")) == wanted


def test_every_package_in_the_venv_is_the_version_constraints_txt_pins(installed):
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            pins[canonical(name)] = version
    found = {}
    venv = installed / "opt/wellgate"
    for meta in venv.glob("lib/python3*/site-packages/*.dist-info/METADATA"):
        fields = email.parser.HeaderParser().parsestr(meta.read_text(encoding="utf-8"))
        found[canonical(fields["Name"])] = fields["Version"]
    # pip comes in as sqlite-utils' requirement; `pip freeze` leaves it out of constraints.txt.
    unpinned = {name: version for name, version in found.items()
                if pins.get(name) != version and name not in ("wellgate", "pip")}
    assert unpinned == {}
    assert {"cryptography", "pydantic-core", "pymodbus"} <= set(found)


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()
