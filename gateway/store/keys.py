"""The gateway's Ed25519 key: created once by `wellgate init`, private part never printed or logged.

Files in the state directory: gateway.key (PKCS8 PEM, unencrypted, mode 0600, created with
os.open(..., O_CREAT | O_EXCL, 0o600) so it is never readable by others, not even briefly, and
linked into place only once written and synced) and
gateway.pub (SubjectPublicKeyInfo PEM, for registration with the platform and for verify; 0600
too, like every state file: gateway/store/modes.py).
Fingerprint: "SHA256:" + hex of sha256(the raw 32-byte public key).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.store.errors import StoreError
from gateway.store.modes import STATE_DIR_MODE, STATE_FILE_MODE, narrow, open_private

KEY_FILE = "gateway.key"
PUBLIC_KEY_FILE = "gateway.pub"
KEY_MODE = STATE_FILE_MODE


class KeyExists(StoreError):
    """`init` found a key already: replacing it would orphan every signature made with it."""


class NoKey(StoreError):
    """There is no gateway key where one was expected."""


def create_key(state_dir: Path, name: str = "gateway") -> Ed25519PublicKey:
    """Make state_dir (0700) and a new key pair <name>.key, <name>.pub in it; KeyExists if the
    private key is there (the platform's ack key uses another name than the gateway's).

    Crash-safe: gateway.pub is replaced atomically first, then the private key is written to a
    0600 temporary file, synced, and linked into place (a link never replaces an existing key),
    so a crash leaves either no gateway.key or a whole one."""
    state_dir = Path(state_dir)
    key_file, public_file = f"{name}.key", f"{name}.pub"
    key_path = state_dir / key_file
    if key_path.exists():
        raise KeyExists(f"{key_path} already exists; a new key would orphan every signature made "
                        "with it (remove it yourself only if this gateway has never uploaded)")
    state_dir.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    narrow(state_dir, STATE_DIR_MODE)
    for stale in state_dir.glob(f".{key_file}.*.tmp"):  # left by a crash during an earlier init
        stale.unlink(missing_ok=True)
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    _write_new(state_dir / f".{public_file}.{secrets.token_hex(4)}.tmp", public_pem(public),
               state_dir / public_file, replace=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_new(state_dir / f".{key_file}.{secrets.token_hex(4)}.tmp", pem, key_path,
               replace=False)
    _fsync_dir(state_dir)
    return public


def _write_new(tmp: Path, content: bytes, target: Path, replace: bool) -> None:
    """Write `content` to a new file `tmp` created 0600, sync it, and move it to
    `target` (replacing it, or KeyExists if it exists and `replace` is false)."""
    fd = open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise KeyExists(f"{target} already exists (created meanwhile)") from None
    finally:
        tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_private_key(state_dir: Path, name: str = "gateway") -> Ed25519PrivateKey:
    """The private key <name>.key from state_dir (default: the gateway's); NoKey if absent,
    StoreError if unusable."""
    key_path = Path(state_dir) / f"{name}.key"
    try:
        pem = key_path.read_bytes()
    except FileNotFoundError:
        raise NoKey(f"no {name} key in {state_dir}") from None
    except OSError as exc:
        raise StoreError(f"cannot read the {name} key {key_path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # The message says nothing about the content: the file is secret.
        raise StoreError(f"{key_path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise StoreError(f"{key_path} holds a {type(key).__name__}; expected an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A public key from a PEM file (gateway.pub); StoreError naming the file if unusable."""
    try:
        pem = Path(path).read_bytes()
    except FileNotFoundError:
        raise NoKey(f"no public key file {path}") from None
    except OSError as exc:
        raise StoreError(f"cannot read the public key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError):
        raise StoreError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise StoreError(f"{path} holds a {type(key).__name__}; expected an Ed25519 public key")
    return key


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32-byte raw public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """"SHA256:" + 64 hex digits of sha256(raw public key)."""
    return "SHA256:" + hashlib.sha256(raw_public_key(key)).hexdigest()


def grouped(fingerprint_text: str, size: int = 4, per_line: int = 8) -> str:
    """A fingerprint's hex digits in groups of 4, 8 groups a line (indented), to read aloud."""
    digits = fingerprint_text.removeprefix("SHA256:")
    groups = [digits[i:i + size] for i in range(0, len(digits), size)]
    lines = [" ".join(groups[i:i + per_line]) for i in range(0, len(groups), per_line)]
    return "  " + "\n  ".join(lines)
