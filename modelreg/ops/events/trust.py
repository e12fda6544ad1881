"""``trust``: which registries' commands (hooks, gate checks) this machine agreed to run.

A registry arrives through git from other people, so the commands in its ``modelreg.toml`` are
someone else's code, and so are the registry's files those commands run (``python
checks/fairness.py``). None of them runs until this user has trusted them: ``trust`` records,
in the user's config directory and keyed by the registry's resolved path, the commands and a
digest of every registry file they name. When a command or one of those files changes (a ``git
pull`` that edits ``checks/fairness.py``), nothing runs until trusted again, and ``trust --show``
says what changed. ``MODELREG_TRUST=1`` trusts them for one run (CI, after review).

Which files a command names: every word of it (and the value of a ``KEY=VALUE`` word) that, taken
relative to the registry, lands inside it. A file counts by its bytes, a directory by everything
under it, a symbolic link by where it points (never followed), and a path-like word (with a
``/`` or a ``.``) that names nothing yet as absent (a file added there later is a change). The
registry itself and its own records (``models/``, ``blobs/``, ``.modelreg/``, ``.git/``,
``audit.jsonl``) are not code and are left out.

The record (``$XDG_CONFIG_HOME/modelreg/trust.json``) is outside every registry: a config
directory that resolves inside the registry (HOME set to a checkout holding ``.config/``) is
never read, and ``trust`` refuses to write there, so no registry can trust itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write, read_limited
from modelreg.base.machine import config_dir, own_dir, registry_holding
from modelreg.repo import Repo

TRUST_ENV = "MODELREG_TRUST"
TRUST_FORMAT = 2  # 2: the digest covers the files the commands name
MAX_TRUST_BYTES = 8 << 20
MAX_NAMED_FILES = 10_000  # files under the directories commands name, at most
_NOT_CODE = frozenset({"models", "blobs", ".modelreg", ".git", "audit.jsonl"})


@dataclass(frozen=True)
class TrustStatus:
    path: str
    digest: str
    commands: dict[str, dict[str, list[str]]]
    trusted: bool
    by_environment: bool = False
    trusted_digest: str | None = None  # what this machine trusted before, if anything
    changed: bool = False  # this call changed the record
    files: dict[str, str] = field(default_factory=dict)  # registry file the commands name -> digest
    changes: tuple[str, ...] = ()  # what differs from what was trusted: commands and files

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "commands": self.commands,
            "files": self.files,
            "trusted": self.trusted,
            "by_environment": self.by_environment,
            "trusted_digest": self.trusted_digest,
            "changes": list(self.changes),
            "changed": self.changed,
        }


def trust_file() -> Path:
    return config_dir() / "trust.json"


def _key(repo: Repo) -> str:
    return str(repo.root.resolve())


def _read() -> dict[str, Any]:
    if registry_holding(config_dir()) is not None:
        return {}  # a record inside a registry could be anyone's: nothing is trusted from it
    try:
        data = json.loads(read_limited(trust_file(), MAX_TRUST_BYTES))
    except (OSError, ValueError, OverflowError):
        return {}
    registries = data.get("registries") if isinstance(data, dict) else None
    return registries if isinstance(registries, dict) else {}


# -- the files a command names -------------------------------------------------------------------


def _words(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    found = []
    for word in words:
        found.append(word)
        if "=" in word:
            found.append(word.partition("=")[2])
    return [w for w in found if w]


def _looks_like_path(word: str) -> bool:
    """A word recorded even while nothing is there (a script added later is a change)."""
    return "/" in word or "." in word


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return "not a regular file"
        while block := fh.read(1 << 20):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _entry(path: Path) -> str:
    """What one path is, for the digest: a file's bytes, a link's target, or absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        return "link: " + os.readlink(path)
    if stat.S_ISREG(st.st_mode):
        return _file_digest(path)
    return "directory" if stat.S_ISDIR(st.st_mode) else "special file"


def _add(root: Path, rel: Path, found: dict[str, str]) -> None:
    """Record ``rel`` (a path in the registry): each directory on the way is checked for a link,
    which is recorded and never followed; a directory is recorded with everything under it."""
    current = root
    for i, part in enumerate(rel.parts):
        current = current / part
        kind = _entry(current)
        if i < len(rel.parts) - 1 and kind != "directory":
            found[current.relative_to(root).as_posix()] = kind  # a link, a file or nothing on the way
            return
    key = rel.as_posix()
    kind = _entry(current)
    if kind != "directory":
        found[key] = kind
        return
    for dirpath, dirnames, filenames in os.walk(current):  # never follows a link
        dirnames.sort()
        here = Path(dirpath)
        links = [d for d in dirnames if os.path.islink(here / d)]
        dirnames[:] = [d for d in dirnames if d not in links and d != ".git"]
        for name in sorted([*filenames, *links]):
            if len(found) >= MAX_NAMED_FILES:
                found["…"] = f"more than {MAX_NAMED_FILES} files"
                return
            found[(here / name).relative_to(root).as_posix()] = _entry(here / name)


def named_files(repo: Repo, commands: list[str]) -> dict[str, str]:
    """Registry path -> what it holds, for every registry file the ``commands`` name."""
    root = repo.root
    found: dict[str, str] = {}
    for command in commands:
        for word in _words(command):
            lexical = Path(os.path.normpath(root / os.path.expanduser(word) if not os.path.isabs(word) else word))
            try:
                rel = lexical.relative_to(root)
            except ValueError:
                continue  # outside the registry: this machine's own programs
            if not rel.parts or rel.parts[0] in _NOT_CODE:
                continue
            if not _looks_like_path(word) and not os.path.lexists(root / rel.parts[0]):
                continue  # a plain word (python, echo, -c) that names nothing in the registry
            _add(root, rel, found)
    return dict(sorted(found.items()))


def _all_commands(commands: dict[str, dict[str, list[str]]]) -> list[str]:
    return [cmd for group in commands.values() for cmds in group.values() for cmd in cmds]


def _digest(commands: dict[str, dict[str, list[str]]], files: dict[str, str]) -> str:
    body = {"commands": commands, "files": files}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _changes(entry: Any, commands: dict[str, dict[str, list[str]]], files: dict[str, str]) -> tuple[str, ...]:
    if not isinstance(entry, dict):
        return ("never trusted on this machine",)
    before_commands = entry.get("commands") if isinstance(entry.get("commands"), dict) else {}
    before_files = entry.get("files") if isinstance(entry.get("files"), dict) else None
    lines = []

    def flat(cmds: Any) -> set[tuple[str, str, str]]:
        out = set()
        for kind, group in (cmds or {}).items():
            for where, items in (group or {}).items() if isinstance(group, dict) else ():
                for cmd in items if isinstance(items, list) else ():
                    out.add((str(kind).removesuffix("s"), str(where), str(cmd)))
        return out

    old, new = flat(before_commands), flat(commands)
    lines += [f"{kind} {where}: {cmd!r} added" for kind, where, cmd in sorted(new - old)]
    lines += [f"{kind} {where}: {cmd!r} removed" for kind, where, cmd in sorted(old - new)]
    if before_files is None:
        # A record of an earlier modelreg: its digest covered the command lines only.
        covered = ", ".join(files) if files else "none here"
        lines.append(f"trusted before the record covered the registry files the commands name ({covered})")
        return tuple(lines)
    for path in sorted(set(files) | set(before_files)):
        was, now = before_files.get(path), files.get(path)
        if was == now:
            continue
        if was is None or was == "absent":
            lines.append(f"file {path}: new")
        elif now is None or now == "absent":
            lines.append(f"file {path}: gone" if now == "absent" else f"file {path}: no longer named")
        else:
            lines.append(f"file {path}: changed")
    return tuple(lines)


def status(repo: Repo) -> TrustStatus:
    policy = repo.config.policy
    commands = policy.commands()
    files = named_files(repo, _all_commands(commands))
    digest = _digest(commands, files)
    entry = _read().get(_key(repo))
    before = entry.get("digest") if isinstance(entry, dict) and isinstance(entry.get("digest"), str) else None
    by_env = os.environ.get(TRUST_ENV) == "1"
    trusted = not policy.has_commands or by_env or before == digest
    changes = () if before == digest or not policy.has_commands else _changes(entry, commands, files)
    return TrustStatus(_key(repo), digest, commands, trusted, by_env, before, files=files, changes=changes)


def is_trusted(repo: Repo) -> bool:
    return status(repo).trusted


def trust(repo: Repo, *, revoke: bool = False) -> TrustStatus:
    """Trust the registry's current commands and files (or forget this registry with ``revoke``)."""
    from modelreg.base.locks import hold
    from modelreg.ops.capture.lineage import now_utc

    where = own_dir(config_dir(), "config")  # refused inside the registry: it would trust itself
    current = status(repo)
    with hold(where / "trust.lock", repo.config.lock_timeout, "the trust record"):
        registries = _read()
        key = _key(repo)
        if revoke:
            changed = registries.pop(key, None) is not None
        else:
            entry = {
                "digest": current.digest,
                "trusted_at": now_utc(),
                "commands": current.commands,
                "files": current.files,
            }
            changed = not isinstance(registries.get(key), dict) or registries[key].get("digest") != current.digest
            registries[key] = entry
        if changed:
            body = {"format_version": TRUST_FORMAT, "registries": dict(sorted(registries.items()))}
            atomic_write(trust_file(), (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())
    after = status(repo)
    return TrustStatus(
        after.path,
        after.digest,
        after.commands,
        after.trusted,
        after.by_environment,
        current.trusted_digest,
        changed,
        after.files,
        current.changes,
    )
