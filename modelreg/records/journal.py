"""A redo journal that makes a change to one model all-or-nothing across a crash.

A change is first written whole to ``.modelreg/journal/<model>.json`` (atomically), then applied:
files replaced one by one, audit entries appended, journal removed. A process killed part-way
leaves the journal behind; the next writer of that model (or verify) applies it again. Applying
is idempotent: files are rewritten with the same bytes and an entry whose ``txn`` is already in
the log is not appended twice.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write
from modelreg.errors import IntegrityError
from modelreg.records.audit import AuditLog

CRASH_ENV = "MODELREG_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """Fault injection for tests: die at a named point as a kill -9 would."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


@dataclass
class Change:
    model: str
    writes: dict[str, str] = field(default_factory=dict)  # registry-relative path -> text
    records: list[dict[str, Any]] = field(default_factory=list)
    txn: str = field(default_factory=lambda: secrets.token_hex(12))

    def to_json(self) -> bytes:
        return json.dumps(
            {"txn": self.txn, "model": self.model, "writes": self.writes, "records": self.records},
            ensure_ascii=False,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, origin: Path) -> Change:
        try:
            data = json.loads(raw)
            return cls(
                model=data["model"], writes=dict(data["writes"]), records=list(data["records"]), txn=str(data["txn"])
            )
        except (ValueError, KeyError, TypeError):
            raise IntegrityError(f"{origin}: unreadable journal of an interrupted change") from None


class Journal:
    def __init__(self, root: Path, journal_dir: Path, audit: AuditLog) -> None:
        self.root = root
        self.dir = journal_dir
        self.audit = audit

    def path_for(self, model: str) -> Path:
        return self.dir / f"{model}.json"

    def pending(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def commit(self, change: Change, audit_lock: Any) -> list[dict[str, Any]]:
        """Record the change durably, then apply it. Caller holds the model's lock."""
        self.audit.check_size(change.records)  # an oversized entry is refused before anything is written
        jpath = self.path_for(change.model)
        atomic_write(jpath, change.to_json())
        crash_point("after-journal")
        return self._apply(change, jpath, audit_lock, recovering=False)

    def recover(self, model: str, audit_lock: Any) -> bool:
        """Finish an interrupted change of ``model`` if one is pending. Caller holds the model's lock."""
        jpath = self.path_for(model)
        try:
            raw = jpath.read_bytes()
        except FileNotFoundError:
            return False
        self._apply(Change.from_json(raw, jpath), jpath, audit_lock, recovering=True)
        return True

    def _apply(self, change: Change, jpath: Path, audit_lock: Any, *, recovering: bool) -> list[dict[str, Any]]:
        for rel, text in change.writes.items():
            if rel.startswith("/") or ".." in rel.split("/"):
                raise IntegrityError(f"{jpath}: journal names a path outside the registry: {rel!r}")
            atomic_write(self.root / rel, text.encode())
            crash_point("mid-apply")
        written: list[dict[str, Any]] = []
        if change.records:
            with audit_lock():
                if not (recovering and self.audit.contains_txn(change.txn)):
                    written = self.audit.append([{**r, "txn": change.txn} for r in change.records])
        crash_point("after-audit")
        jpath.unlink(missing_ok=True)
        return written
