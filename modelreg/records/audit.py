"""The append-only, hash-linked audit log (``audit.jsonl``).

Each entry's ``id`` is the SHA-256 of its own content, and ``prev`` lists the ids of the heads
(entries nothing followed yet) when it was appended. Editing an entry breaks its id; deleting or
moving one that a later entry follows leaves a ``prev`` pointing at nothing earlier. A git union
merge keeps both branches' lines after the common part, so every ``prev`` still points upward;
the next append lists both branch heads and joins them. See docs/audit-log.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write

LOG_NAME = "audit.jsonl"
ENTRY_FIELDS = ("time", "actor", "action", "model", "version", "from_stage", "to_stage", "reason")


def entry_id(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "id"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def encode_line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def public_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry as shown to users: the documented fields, then what its action adds (a digest,
    an alias, ...), then its id; the chain's own fields (prev, txn) stay out."""
    shown = {k: entry.get(k) for k in ENTRY_FIELDS}
    for extra in sorted(set(entry) - set(ENTRY_FIELDS) - {"id", "prev", "txn"}):
        shown[extra] = entry[extra]
    if "id" in entry:
        shown["id"] = entry["id"]
    return shown


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass
class ChainReport:
    entries: int
    heads: list[str]
    problems: list[Problem]
    torn_tail: bool = False
    parsed: list[dict[str, Any]] = field(default_factory=list)  # every entry that has an id, in order


def _heads_of(ids: list[str], referenced: set[str]) -> list[str]:
    return sorted(i for i in ids if i not in referenced)


class AuditLog:
    """Appends are serialised by the caller (the registry's audit lock)."""

    def __init__(self, path: Path, cache_path: Path) -> None:
        self.path = path
        self.cache_path = cache_path

    # -- reading -----------------------------------------------------------
    def iter_raw(self) -> Iterator[tuple[int, bytes]]:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            return
        with fh:
            yield from enumerate(fh, start=1)

    def entries(self, *, model: str | None = None) -> Iterator[dict[str, Any]]:
        """Parsed entries in file order; unparsable lines are skipped here (verify reports them)."""
        needle = f'"model":{json.dumps(model, ensure_ascii=False)}'.encode() if model else None
        for _, raw in self.iter_raw():
            if needle is not None and needle not in raw:
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict):
                yield entry

    def check(self) -> ChainReport:
        """Walk the whole chain: ids match content, every prev points at an earlier entry."""
        seen: set[str] = set()
        order: list[str] = []
        parsed: list[dict[str, Any]] = []
        referenced: set[str] = set()
        problems: list[Problem] = []
        torn = False
        lines = list(self.iter_raw())
        for number, raw in lines:
            if not raw.endswith(b"\n") and number == len(lines):
                torn = True  # an interrupted final write: repaired by the next append
                continue
            try:
                entry = json.loads(raw)
            except ValueError:
                problems.append(Problem(number, "is not valid JSON (edited or corrupted)"))
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                problems.append(Problem(number, "is not an audit entry (no id)"))
                continue
            eid = entry["id"]
            if entry_id(entry) != eid:
                problems.append(Problem(number, f"was edited: its content no longer matches its id {eid[:19]}"))
            prev = entry.get("prev")
            if not isinstance(prev, list) or not all(isinstance(p, str) for p in prev):
                problems.append(Problem(number, "has no valid prev list (edited)"))
                prev = []
            for p in prev:
                if p not in seen:
                    problems.append(
                        Problem(
                            number,
                            f"follows {str(p)[:19]}…, which is missing or comes later "
                            "(an entry was deleted or reordered)",
                        )
                    )
                referenced.add(p)
            if eid in seen:
                problems.append(Problem(number, f"repeats entry {eid[:19]}"))
            seen.add(eid)
            order.append(eid)
            parsed.append(entry)
        return ChainReport(len(order), _heads_of(order, referenced), problems, torn, parsed)

    # -- appending ---------------------------------------------------------
    def _scan_heads(self) -> list[str]:
        ids: list[str] = []
        referenced: set[str] = set()
        for _, raw in self.iter_raw():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                ids.append(entry["id"])
                prev = entry.get("prev")
                if isinstance(prev, list):
                    referenced.update(p for p in prev if isinstance(p, str))
        return _heads_of(ids, referenced)

    def _cached_heads(self, st: os.stat_result) -> list[str] | None:
        try:
            cache = json.loads(self.cache_path.read_bytes())
        except (OSError, ValueError):
            return None
        if cache.get("stat") == [st.st_ino, st.st_size, st.st_mtime_ns]:
            heads = cache.get("heads")
            if isinstance(heads, list):
                return heads
        return None

    def _repair_torn_tail(self, fd: int, size: int) -> int:
        """Cut an unterminated last line left by an interrupted write; return the new size."""
        if size == 0:
            return 0
        if os.pread(fd, 1, size - 1) == b"\n":
            return size
        start = max(0, size - (1 << 20))
        tail = os.pread(fd, size - start, start)
        cut = start + tail.rfind(b"\n") + 1 if b"\n" in tail else 0
        os.ftruncate(fd, cut)
        return cut

    def append(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Link and append records (each a dict of ENTRY_FIELDS and extras); return the entries."""
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            st = os.fstat(fd)
            heads = self._cached_heads(st)
            if heads is None:
                self._repair_torn_tail(fd, st.st_size)
                heads = self._scan_heads()
            written: list[dict[str, Any]] = []
            chunks: list[bytes] = []
            for record in records:
                body = {**record, "prev": heads}
                entry = {"id": entry_id(body), **body}
                heads = [entry["id"]]
                written.append(entry)
                chunks.append(encode_line(entry))
            # One write call: a killed process leaves all of it or none of it; a power cut can leave
            # a torn last line, which verify reports and the next append cuts off.
            os.write(fd, b"".join(chunks))
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        cache = {"stat": [st.st_ino, st.st_size, st.st_mtime_ns], "heads": heads}
        atomic_write(self.cache_path, json.dumps(cache).encode(), durable=False)
        return written

    def contains_txn(self, txn: str) -> bool:
        needle = f'"txn":"{txn}"'.encode()
        return any(needle in raw for _, raw in self.iter_raw())
