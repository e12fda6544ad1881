"""A redo journal that makes a change to one model all-or-nothing across a crash.

A change is first written whole to ``.modelreg/journal/<model>.json`` (atomically), then applied:
files replaced one by one, audit entries appended, journal removed. A process killed part-way
leaves the journal behind; the next writer of that model (or verify, or gc) applies it again.
Applying is idempotent: files are rewritten with the same bytes and an entry whose ``txn`` is
already in the log is not appended twice.

Two rules keep recovery from doing harm:

- A journal knows what it expects to find: the digest of every file it replaces, as it was when
  the change was made. If a file holds neither that nor the journal's own new bytes (a
  ``git pull`` brought a teammate's version meanwhile), the journal is stale: it is set aside,
  not applied, and the caller is told.
- A journal is trusted only if this machine wrote it: it carries a MAC under this user's key
  (``modelreg.base.machine``), and it may only write YAML files inside its own model's directory.
  A journal that came with a clone or an archive is set aside the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import Tree, atomic_write, read_limited
from modelreg.base.machine import seal, unseal
from modelreg.errors import IntegrityError, StorageError

from .audit import AuditLog

CRASH_ENV = "MODELREG_TEST_CRASH_AT"
MAX_JOURNAL_BYTES = 16 << 20
_PURPOSE = b"modelreg journal v1"
_PART_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")


def crash_point(name: str) -> None:
    """Fault injection for tests: die at a named point as a kill -9 would."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


def _digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@dataclass
class Change:
    model: str
    writes: dict[str, str] = field(default_factory=dict)  # registry-relative path -> text
    records: list[dict[str, Any]] = field(default_factory=list)
    txn: str = field(default_factory=lambda: os.urandom(12).hex())
    # registry-relative path -> SHA-256 of the file before the change (None: it did not exist)
    expect: dict[str, str | None] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {"txn": self.txn, "model": self.model, "writes": self.writes, "records": self.records}
        return json.dumps({**body, "expect": self.expect}, ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Change | None:
        try:
            data = json.loads(raw)
            change = cls(
                model=str(data["model"]),
                writes={str(k): str(v) for k, v in dict(data["writes"]).items()},
                records=list(data["records"]),
                txn=str(data["txn"]),
                expect=dict(data["expect"]),
            )
        except (ValueError, KeyError, TypeError):
            return None
        return change


def allowed_path(model: str, rel: str) -> bool:
    """Only YAML files inside the model's own directory: ``models/<model>/.../<name>.yaml``."""
    parts = rel.split("/")
    return (
        len(parts) >= 3
        and parts[0] == "models"
        and parts[1] == model
        and rel.endswith(".yaml")
        and all(_PART_RE.fullmatch(p) for p in parts[2:])
    )


@dataclass(frozen=True)
class SetAside:
    """A journal that was not applied, and why."""

    model: str
    path: Path
    reason: str


class Journal:
    def __init__(self, tree: Tree, journal_dir: Path, audit: AuditLog) -> None:
        self.tree = tree
        self.root = tree.root
        self.dir = journal_dir
        self.audit = audit

    def path_for(self, model: str) -> Path:
        return self.dir / f"{model}.json"

    def pending(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def _current(self, rel: str) -> bytes | None:
        try:
            return read_limited(self.tree.inside(self.root / rel), MAX_JOURNAL_BYTES)
        except FileNotFoundError:
            return None

    def commit(self, change: Change, audit_lock: Callable[[], AbstractContextManager[None]]) -> list[dict[str, Any]]:
        """Record the change durably, then apply it. Caller holds the model's lock."""
        self.audit.check_append(change.records)  # what the log would refuse, before anything is written
        for rel in change.writes:
            if not allowed_path(change.model, rel):
                raise ValueError(f"a change of {change.model!r} may not write {rel!r}")  # a bug, not input
            change.expect[rel] = _digest(self._current(rel))
        sealed = seal(change.to_json(), _PURPOSE)
        if sealed is None:
            raise StorageError(
                "cannot keep this machine's key in the user's config directory, so a change cannot be "
                "journaled safely; set XDG_CONFIG_HOME to a writable directory"
            )
        jpath = self.tree.inside(self.path_for(change.model))
        atomic_write(jpath, sealed)
        crash_point("after-journal")
        return self._apply(change, jpath, audit_lock, recovering=False)

    def recover(self, model: str, audit_lock: Callable[[], AbstractContextManager[None]]) -> bool | SetAside:
        """Finish an interrupted change of ``model`` if one is pending (True), or set aside a
        journal that must not be applied (returned). Caller holds the model's lock."""
        jpath = self.tree.inside(self.path_for(model))
        try:
            raw = read_limited(jpath, MAX_JOURNAL_BYTES)
        except FileNotFoundError:
            return False
        except (OverflowError, OSError, IntegrityError):
            return self._set_aside(model, jpath, "it is unreadable, too large or not a regular file")
        data = unseal(raw, _PURPOSE)
        change = Change.from_json(data) if data is not None else None
        if change is None:
            return self._set_aside(model, jpath, "this machine did not write it (it came with a copy of the registry?)")
        problem = self._untrustworthy(model, change) or self._stale(change)
        if problem:
            return self._set_aside(model, jpath, problem)
        self._apply(change, jpath, audit_lock, recovering=True)
        return True

    def _untrustworthy(self, model: str, change: Change) -> str | None:
        if change.model != model:
            return f"it names model {change.model!r}"
        for rel in change.writes:
            if not allowed_path(model, rel):
                return f"it would write {rel!r}, outside the model's directory"
        for record in change.records:
            if not isinstance(record, dict) or record.get("model") != model:
                return "its audit records are not about this model"
        if set(change.expect) != set(change.writes):
            return "it does not say what it expects to find"
        return None

    def _stale(self, change: Change) -> str | None:
        for rel, text in change.writes.items():
            now = _digest(self._current(rel))
            if now not in (change.expect[rel], _digest(text.encode())):
                return f"{rel} changed since the change began (a git pull or checkout?)"
        return None

    def _set_aside(self, model: str, jpath: Path, reason: str) -> SetAside:
        aside = self.tree.inside(self.dir / "set-aside" / f"{model}.{os.urandom(4).hex()}.json")
        aside.parent.mkdir(parents=True, exist_ok=True)
        os.replace(jpath, aside)
        return SetAside(model, aside, reason)

    def _apply(
        self,
        change: Change,
        jpath: Path,
        audit_lock: Callable[[], AbstractContextManager[None]],
        *,
        recovering: bool,
    ) -> list[dict[str, Any]]:
        for rel, text in change.writes.items():
            atomic_write(self.tree.inside(self.root / rel), text.encode())
            crash_point("mid-apply")
        written: list[dict[str, Any]] = []
        if change.records:
            with audit_lock():
                if not (recovering and self.audit.contains_txn(change.txn)):
                    written = self.audit.append([{**r, "txn": change.txn} for r in change.records])
        crash_point("after-audit")
        jpath.unlink(missing_ok=True)
        return written
