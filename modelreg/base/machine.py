"""What belongs to this machine and user, never to a registry: the config and cache directories,
and a secret key that marks the files this machine wrote itself.

Everything under a registry may have come from someone else through git, ``.modelreg/``
included. A journal, a parse-cache entry or a served-copy stamp is trusted only if it carries a
MAC under this key, which never leaves the user's config directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
from functools import cache
from pathlib import Path

from modelreg.errors import ConflictError

KEY_BYTES = 32
MAC_BYTES = 32
# The registries this process operates on (repo/repo.py notes each one it opens): a config or
# cache directory inside one of them is the registry's, not this user's (a checkout whose
# committed .config/ becomes HOME/.config), and is never read or written.
# Threads of one process open and leave registries at once (a server reading a published
# registry while it refreshes): the set is changed and read under a lock.
_REGISTRIES: set[Path] = set()
_NOTED = threading.Lock()


def note_registry(root: Path) -> None:
    real = Path(os.path.realpath(root))
    with _NOTED:
        _REGISTRIES.add(real)


def forget_registry(root: Path) -> None:
    """``root`` is no longer operated on (a published registry's earlier view, say)."""
    real = Path(os.path.realpath(root))
    with _NOTED:
        _REGISTRIES.discard(real)


def registry_holding(path: Path) -> Path | None:
    """The noted registry that ``path`` (links resolved) lies in, if any."""
    real = Path(os.path.realpath(path))
    with _NOTED:
        roots = tuple(_REGISTRIES)
    for root in roots:
        if real == root or root in real.parents:
            return root
    return None


def own_dir(path: Path, what: str) -> Path:
    """``path`` (this user's config or cache directory), refused when it lies inside a registry."""
    inside = registry_holding(path)
    if inside is not None:
        raise ConflictError(
            f"{path}: this user's {what} directory lies inside the registry {inside}, whose files may come "
            "from anyone: modelreg never keeps its key or trust record there (set XDG_CONFIG_HOME and "
            "XDG_CACHE_HOME, or HOME, to a directory outside the registry)",
            code="private_dir_in_registry",
        )
    return path


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/modelreg``, else ``~/.config/modelreg``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "modelreg"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/modelreg``, else ``~/.cache/modelreg``: served copies of registries
    that cannot be written."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelreg"


@cache
def _key(where: Path) -> bytes | None:
    path = where / "machine.key"
    try:
        key = path.read_bytes()
        if len(key) == KEY_BYTES:
            return key
    except OSError:
        pass
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = where / f".machine.key.{os.getpid()}.{os.urandom(4).hex()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, os.urandom(KEY_BYTES))
            os.fsync(fd)
        finally:
            os.close(fd)
        # link() refuses to replace: of two processes creating the key, both end with the winner's.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    except OSError:
        return None  # an unwritable home: nothing is trusted, everything is read the slow way
    return key if len(key) == KEY_BYTES else None


def machine_key() -> bytes | None:
    """This user's secret key, created on first use; None when it cannot be kept. A key inside
    the registry (where anyone could have committed it) is refused (exit 4)."""
    return _key(own_dir(config_dir(), "config"))


def mac(data: bytes, purpose: bytes) -> bytes | None:
    """A MAC of ``data`` for one ``purpose`` (so a MAC of one kind never passes for another)."""
    key = machine_key()
    if key is None:
        return None
    return hmac.new(key, purpose + b"\0" + data, hashlib.sha256).digest()


def seal(data: bytes, purpose: bytes) -> bytes | None:
    """``data`` prefixed with its MAC, or None when this machine has no key."""
    tag = mac(data, purpose)
    return None if tag is None else tag + data


def unseal(sealed: bytes, purpose: bytes) -> bytes | None:
    """The data of a ``seal`` made on this machine for ``purpose``, or None for anything else."""
    if len(sealed) < MAC_BYTES:
        return None
    tag, data = sealed[:MAC_BYTES], sealed[MAC_BYTES:]
    expected = mac(data, purpose)
    if expected is None or not hmac.compare_digest(tag, expected):
        return None
    return data
