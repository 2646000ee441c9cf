"""Build dist/wellgate_<version>_<arch>.deb: wellgate and its pinned dependencies at /opt/wellgate.

Run by `./dev deb`. The venv is made by the target's own interpreter (Debian's /usr/bin/python3.X)
in a staging tree, then made to belong at /opt/wellgate: shebangs, pyvenv.cfg and the activate
scripts name /opt/wellgate, and every module is byte-compiled with /opt/wellgate paths (the unit's
ProtectSystem=strict leaves /opt read-only, so nothing could be compiled there later). The wheels
are compiled ones (cryptography, pydantic-core), so a package is built for this machine's
architecture only. Needs dpkg-deb (dpkg) and a Debian python3.X with venv; no root, no fakeroot:
dpkg-deb --root-owner-group makes every file root's.
"""

from __future__ import annotations

import argparse
import email.parser
import email.utils
import gzip
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEBIAN = REPO / "packaging" / "debian"
PREFIX = "/opt/wellgate"
UNIT = "lib/systemd/system/wellgate.service"
UDEV_RULE = "lib/udev/rules.d/70-wellgate-rs485.rules"
SKELETON = "etc/wellgate/wellgate.toml.example"
CONFFILES = ("/" + SKELETON,)
# Where each packaging file goes in the installed system, and its mode.
INSTALLED = (
    ("systemd/wellgate.service", UNIT, 0o644),
    ("packaging/debian/udev.rules", UDEV_RULE, 0o644),
    ("packaging/debian/wellgate.toml.example", SKELETON, 0o644),
    ("packaging/debian/sysusers.conf", "usr/lib/sysusers.d/wellgate.conf", 0o644),
    ("packaging/debian/modules-load.conf", "usr/lib/modules-load.d/wellgate.conf", 0o644),
    ("README.md", "usr/share/doc/wellgate/README.md", 0o644),
    ("packaging/debian/lintian-overrides", "usr/share/lintian/overrides/wellgate", 0o644),
)
SCRIPTS = ("postinst", "prerm", "postrm")
MANYLINUX = re.compile(r"manylinux_(\d+)_(\d+)")
# Who built the package: Debian's tools read the same variables (dch, dpkg-buildpackage).
MAINTAINER_NAME = os.environ.get("DEBFULLNAME", "wellgate maintainers")
MAINTAINER_EMAIL = os.environ.get("DEBEMAIL", "wellgate@localhost")


class BuildError(Exception):
    """A build step failed; the message says which and why."""


def run(*argv: str | Path, env: dict[str, str] | None = None) -> str:
    """Run a build command; BuildError with its output if it fails."""
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        raise BuildError(f"{' '.join(map(str, argv))} exited {done.returncode}:\n"
                         f"{done.stdout}{done.stderr}")
    return done.stdout


def project_version() -> str:
    """The version in pyproject.toml: the package's version too."""
    with open(REPO / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]["version"]


def debian_python(given: str | None) -> Path:
    """The interpreter the venv is made with: the target's Debian python3.X, by its versioned name
    so that a later python3 default cannot change the venv's Python under it."""
    path = Path(given) if given else Path("/usr/bin/python3")
    if not path.is_file():
        raise BuildError(f"no Python at {path}: the package's venv needs Debian's python3 "
                         "(apt-get install python3-venv)")
    version = run(path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])").strip()
    versioned = Path(f"/usr/bin/python{version}")
    if not versioned.is_file():
        raise BuildError(f"{path} is Python {version} but {versioned} is missing: the venv must "
                         "use the interpreter the target installs at that path")
    return versioned


def build_wheel(pip: list[str], out: Path) -> Path:
    """wellgate's own wheel, from this checkout."""
    shutil.rmtree(out, ignore_errors=True)
    run(*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", out, REPO)
    wheels = sorted(out.glob("wellgate-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wellgate wheel in {out}, found {wheels}")
    return wheels[0]


def make_venv(python: Path, pip: list[str], wheel: Path, venv: Path) -> None:
    """The venv in the staging tree: wellgate and the versions constraints.txt pins, no pip."""
    run(python, "-m", "venv", "--without-pip", venv)
    run(*pip, "--python", venv / "bin" / "python", "install", "--quiet", "--no-compile",
        "--no-warn-script-location", "--constraint", REPO / "constraints.txt", wheel)


def relocate(stage: Path, venv: Path, work: Path) -> None:
    """Make every text file of the venv that names the staging path name /opt/wellgate instead,
    drop the record of the wheel's build-machine path, then fail if any file, text or binary,
    still names the build folder."""
    old = str(stage).encode()
    for path in [*(venv / "bin").iterdir(), venv / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, b""))
    for direct_url in venv.glob("lib/python*/site-packages/wellgate-*.dist-info/direct_url.json"):
        record = direct_url.parent / "RECORD"
        record.write_text("".join(line for line in record.read_text().splitlines(keepends=True)
                                  if not line.startswith(f"{direct_url.parent.name}/direct_url")))
        direct_url.unlink()
    marker = str(work).encode()
    left = [str(p) for p in venv.rglob("*")
            if p.is_file() and not p.is_symlink() and marker in p.read_bytes()]
    if left:
        raise BuildError(f"files still naming the build folder {work}: {left[:5]}")


def byte_compile(python: Path, stage: Path, venv: Path) -> None:
    """.pyc for every module, compiled by the target interpreter with the installed paths."""
    run(python, "-m", "compileall", "-q", "-j", "0", "-s", stage, "-p", "/", venv / "lib")


def install_files(stage: Path) -> None:
    """The unit, udev rule, config skeleton, sysusers and modules-load files, README."""
    for source, target, mode in INSTALLED:
        dest = stage / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / source, dest)
        dest.chmod(mode)
    link = stage / "usr/bin/wellgate"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(f"{PREFIX}/bin/wellgate")


def bundled_licences(venv: Path) -> str:
    """One line per Python package in the venv: its name, version and licence from its METADATA."""
    lines = []
    for meta in sorted(venv.glob("lib/python*/site-packages/*.dist-info/METADATA")):
        fields = email.parser.HeaderParser().parsestr(meta.read_text(encoding="utf-8"))
        licence = fields.get("License-Expression") or next(
            (c.rsplit(" :: ", 1)[-1] for c in fields.get_all("Classifier") or []
             if c.startswith("License ::")), None) or (fields.get("License") or "").split("\n")[0]
        lines.append(f"  {fields['Name']} {fields['Version']}: {licence or 'see its METADATA'}\n")
    return "".join(lines)


def write_copyright(stage: Path, venv: Path) -> None:
    """usr/share/doc/wellgate/copyright: wellgate's, then every bundled package's licence."""
    dest = stage / "usr/share/doc/wellgate/copyright"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text((DEBIAN / "copyright").read_text() + "\nBundled in /opt/wellgate:\n"
                    + bundled_licences(venv))
    dest.chmod(0o644)


def write_changelog(stage: Path, version: str) -> None:
    """usr/share/doc/wellgate/changelog.gz: the version and the commit it was built from."""
    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, check=False).stdout.strip()
    built = email.utils.formatdate(localtime=False)
    text = (f"wellgate ({version}) unstable; urgency=medium\n\n"
            f"  * Built from git {commit or 'outside a git checkout'}; the changes are in the "
            f"project's history.\n\n -- {MAINTAINER_NAME} <{MAINTAINER_EMAIL}>  {built}\n")
    dest = stage / "usr/share/doc/wellgate/changelog.gz"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.compress(text.encode(), compresslevel=9, mtime=0))
    dest.chmod(0o644)


def min_glibc(venv: Path) -> str | None:
    """The newest glibc any installed wheel was built for (its manylinux tag), if any."""
    found = []
    for wheel_file in venv.glob("lib/python*/site-packages/*.dist-info/WHEEL"):
        for major, minor in MANYLINUX.findall(wheel_file.read_text()):
            found.append((int(major), int(minor)))
    if not found:
        return None
    major, minor = max(found)
    return f"{major}.{minor}"


def installed_size_kib(stage: Path) -> int:
    """Installed-Size: the tree's bytes in KiB, as dpkg-gencontrol counts them."""
    total = 0
    for path in stage.rglob("*"):
        if path.is_relative_to(stage / "DEBIAN"):
            continue
        total += 1 if path.is_symlink() or path.is_dir() else -(-path.stat().st_size // 1024)
    return total


def control_file(version: str, arch: str, python: Path, glibc: str | None, size: int) -> str:
    """DEBIAN/control: the venv needs exactly the interpreter it was made with."""
    depends = [python.name, "adduser", "systemd", "init-system-helpers (>= 1.52)"]
    if glibc:
        depends.append(f"libc6 (>= {glibc})")
    description = (REPO / "packaging/debian/description").read_text().rstrip("\n")
    return (f"Package: wellgate\nVersion: {version}\nArchitecture: {arch}\n"
            f"Maintainer: {MAINTAINER_NAME} <{MAINTAINER_EMAIL}>\n"
            f"Installed-Size: {size}\nDepends: {', '.join(depends)}\nRecommends: udev\n"
            f"Section: net\nPriority: optional\n{description}\n")


def write_control(stage: Path, version: str, arch: str, python: Path, venv: Path) -> None:
    """DEBIAN/: control, conffiles, md5sums and the maintainer scripts."""
    control = stage / "DEBIAN"
    control.mkdir()
    sums = []
    for path in sorted(stage.rglob("*")):
        if path.is_file() and not path.is_symlink() and not path.is_relative_to(control):
            digest = hashlib.md5(path.read_bytes()).hexdigest()  # dpkg's md5sums format
            sums.append(f"{digest}  {path.relative_to(stage)}\n")
    (control / "md5sums").write_text("".join(sums))
    (control / "conffiles").write_text("".join(f"{c}\n" for c in CONFFILES))
    (control / "control").write_text(control_file(
        version, arch, python, min_glibc(venv), installed_size_kib(stage)))
    for name in SCRIPTS:
        shutil.copyfile(DEBIAN / name, control / name)
        (control / name).chmod(0o755)
    for name in ("md5sums", "conffiles", "control"):
        (control / name).chmod(0o644)


def build(python_arg: str | None, out_dir: Path, work: Path) -> Path:
    """Build the package; its path."""
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is missing: apt-get install dpkg-dev")
    version = project_version()
    arch = run("dpkg", "--print-architecture").strip()
    python = debian_python(python_arg)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    stage = work / f"wellgate_{version}_{arch}"
    shutil.rmtree(stage, ignore_errors=True)
    venv = stage / PREFIX.lstrip("/")
    venv.parent.mkdir(parents=True)
    os.umask(0o022)
    wheel = build_wheel(pip, work / "wheel")
    make_venv(python, pip, wheel, venv)
    relocate(stage, venv, work)
    byte_compile(python, stage, venv)
    install_files(stage)
    write_copyright(stage, venv)
    write_changelog(stage, version)
    write_control(stage, version, arch, python, venv)
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"wellgate_{version}_{arch}.deb"
    # xz level 1: 14 MB instead of level 6's 12 MB, in a quarter of the time on a 2-core machine.
    run("dpkg-deb", "--root-owner-group", "-Zxz", "-z1", "--build", stage, deb)
    return deb


def main() -> int:
    """`./dev deb [--python /usr/bin/python3] [--out dist]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", help="the Debian interpreter for the venv (/usr/bin/python3)")
    parser.add_argument("--out", default=str(REPO / "dist"), help="where the .deb goes (dist/)")
    parser.add_argument("--work", default=str(REPO / "build" / "deb"),
                        help="staging area (build/deb/)")
    args = parser.parse_args()
    try:
        deb = build(args.python, Path(args.out), Path(args.work))
    except BuildError as exc:
        print(f"./dev deb: {exc}", file=sys.stderr)
        return 1
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
