"""A per-model view of the audit log, so that a model's history costs what that history costs.

``audit.jsonl`` stays the single source of truth; the view only remembers where each model's
lines are (their byte offsets), in ``.modelreg/cache/history/``:

- ``coverage``: the log's identity when the view was last brought up to date (inode, size,
  mtime) and the bytes of the last line it covers, with their offset;
- ``<model>.idx``: the offsets of that model's lines, in log order;
- ``@<xy>.idx``: the ``register`` lines whose version digest begins with the two hex digits
  ``xy``, as pairs (offset, the digest's first 16 hex digits as a number), so that a digest (a
  prediction id's) finds its version by reading only its own line, not every manifest of every
  model nor every register line.

A reader stats the log: unchanged since the view was made, the model's lines are read by their
offsets; grown by appends (the last covered line is still where it was, byte for byte), only
the new tail is scanned; anything else (a git merge, checkout or rebase rewrote the file) and the
view is rebuilt from the whole log once. Every line read by offset is checked to be a whole line
of that model. The view's files carry this machine's MAC, so a planted view is ignored; when the
view cannot be written (a read-only registry) the answer comes from a scan of the log.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

from modelreg.base.fs import Tree, atomic_write, read_own
from modelreg.base.machine import seal, unseal
from modelreg.errors import StorageError

_PURPOSE = b"modelreg history view v2"  # v2: with the digest buckets (offset, digest head) pairs
VIEW_LIMIT = 256 << 20  # offsets of millions of entries
_BLOCK = 1 << 20
_MAX_LINE = 1 << 20
_HEAD_DIGITS = 16  # the digest digits a bucket keeps beside each offset (a 64-bit number)
_HEX = frozenset("0123456789abcdef")


def _offsets(data: bytes | None) -> array[int] | None:
    if data is None or len(data) % 8:
        return None
    found = array("Q")
    found.frombytes(data)
    return found  # 8 bytes an entry: a view of millions of entries stays small in memory


class HistoryView:
    def __init__(self, log: Path, view_dir: Path, tree: Tree) -> None:
        self.log = log
        self.dir = view_dir
        self.tree = tree
        # The coverage last read or written here: a second question about the same log (which
        # asks for a digest, then for a model) does not read and check it again.
        self._known: dict[str, Any] | None = None

    # -- reading ---------------------------------------------------------------
    def entries(self, model: str) -> list[dict[str, Any]]:
        """The model's audit entries in log order (parsed JSON objects)."""
        try:
            fd = os.open(self.log, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return []
        try:
            st = os.fstat(fd)
            offsets = self._offsets_of(fd, st, model)
            return [e for e in (self._line_at(fd, off, model) for off in offsets) if e is not None]
        finally:
            os.close(fd)

    def registered(self, digest_prefix: str) -> list[dict[str, Any]]:
        """The ``register`` entries whose ``digest`` starts with ``sha256:<digest_prefix>`` (at
        least two lowercase hex digits), in log order."""
        if len(digest_prefix) < 2 or not set(digest_prefix) <= _HEX:
            return []
        key = _bucket(digest_prefix)
        try:
            fd = os.open(self.log, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return []
        try:
            pairs = self._offsets_of(fd, os.fstat(fd), key)
            head = digest_prefix[:_HEAD_DIGITS]
            shift = 4 * (_HEAD_DIGITS - len(head))
            wanted_head = int(head, 16)
            wanted = "sha256:" + digest_prefix
            found = []
            for off, digest_head in zip(pairs[0::2], pairs[1::2], strict=False):
                if digest_head >> shift != wanted_head:
                    continue  # most of a bucket: other digests, never read
                raw = self._raw_line_at(fd, off)
                entry = None if raw is None else _parsed(raw, None)
                if entry is None or entry.get("action") != "register":
                    continue
                if str(entry.get("digest", "")).startswith(wanted):
                    found.append(entry)
            return found
        finally:
            os.close(fd)

    def newest(self, model: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        """The model's newest audit entry that ``match`` accepts, read from the end of its
        history (a recent change is found without parsing the older ones)."""
        try:
            fd = os.open(self.log, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        try:
            st = os.fstat(fd)
            for offset in reversed(self._offsets_of(fd, st, model)):
                entry = self._line_at(fd, offset, model)
                if entry is not None and match(entry):
                    return entry
            return None
        finally:
            os.close(fd)

    def _line_at(self, fd: int, offset: int, model: str) -> dict[str, Any] | None:
        raw = self._raw_line_at(fd, offset)
        return None if raw is None else _parsed(raw, model)

    def _raw_line_at(self, fd: int, offset: int) -> bytes | None:
        data = b""
        while len(data) <= _MAX_LINE:
            # An entry is a few hundred bytes: a small first read, larger ones for a long line.
            block = os.pread(fd, (4 << 10) if not data else (64 << 10), offset + len(data))
            if not block:
                return None  # not a whole line: the view is wrong about this offset
            cut = block.find(b"\n")
            if cut != -1:
                data += block[:cut]
                break
            data += block
        else:
            return None  # longer than any entry
        return data

    def _offsets_of(self, fd: int, st: os.stat_result, model: str) -> array[int]:
        identity = [st.st_ino, st.st_size, st.st_mtime_ns]
        coverage = self._known if self._known is not None and self._known.get("log") == identity else self._coverage()
        if coverage is not None and coverage.get("log") == identity:
            self._known = coverage
            if model not in coverage.get("models", []):
                return array("Q")  # up to date, and nothing of it in the log
            found = _offsets(self._read(self._idx(model)))
            if found is not None:
                return found
        start, known = 0, {}
        if coverage is not None and self._still_prefix(fd, coverage):
            start = int(coverage["end"])
            known = {m: _offsets(self._read(self._idx(m))) for m in coverage.get("models", [])}
            if any(v is None for v in known.values()):
                start, known = 0, {}
        new, end, tail = self._scan(fd, start)
        merged = {m: v if v is not None else array("Q") for m, v in known.items()}
        for name, offs in new.items():
            merged.setdefault(name, array("Q")).extend(offs)
        self._save(merged, set(new), identity, end, tail)
        return merged.get(model, array("Q"))

    # -- the view's files ----------------------------------------------------------
    def _idx(self, model: str) -> Path:
        return self.tree.inside(self.dir / f"{model}.idx")

    def _read(self, path: Path) -> bytes | None:
        raw = read_own(path, VIEW_LIMIT)
        return None if raw is None else unseal(raw, _PURPOSE)

    def _coverage(self) -> dict[str, Any] | None:
        data = self._read(self.tree.inside(self.dir / "coverage"))
        if data is None:
            return None
        with suppress(ValueError):
            value = json.loads(data)
            if isinstance(value, dict):
                return value
        return None

    def _still_prefix(self, fd: int, coverage: dict[str, Any]) -> bool:
        try:
            start, end, digest = int(coverage["tail_start"]), int(coverage["end"]), str(coverage["tail"])
        except (KeyError, TypeError, ValueError):
            return False
        if end == 0:
            return True
        line = os.pread(fd, end - start, start)
        return len(line) == end - start and hashlib.sha256(line).hexdigest() == digest

    def _scan(self, fd: int, start: int) -> tuple[dict[str, array[int]], int, tuple[int, str]]:
        """Offsets by model of every whole line from ``start``; where the scan ended; the last line."""
        found: dict[str, array[int]] = {}
        offset = start
        last = (start, hashlib.sha256(b"").hexdigest())
        for line_start, line in _lines(fd, start):
            offset = line_start + len(line)
            last = (line_start, hashlib.sha256(line).hexdigest())
            with suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict) and isinstance(entry.get("model"), str):
                    found.setdefault(entry["model"], array("Q")).append(line_start)
                    digest = entry.get("digest")
                    head = digest[7 : 7 + _HEAD_DIGITS] if isinstance(digest, str) else ""
                    if _is_hex(head) and entry.get("action") == "register" and str(digest).startswith("sha256:"):
                        found.setdefault(_bucket(head), array("Q")).extend((line_start, int(head, 16)))
        return found, offset, last

    def _save(
        self,
        offsets: dict[str, array[int]],
        touched: set[str],
        identity: list[int],
        end: int,
        tail: tuple[int, str],
    ) -> None:
        coverage = {"log": identity, "end": end, "tail_start": tail[0], "tail": tail[1], "models": sorted(offsets)}
        try:
            for model in touched:
                sealed = seal(offsets[model].tobytes(), _PURPOSE)
                if sealed is None:
                    return
                atomic_write(self._idx(model), sealed, durable=False)
            sealed = seal(json.dumps(coverage).encode(), _PURPOSE)
            if sealed is not None:
                atomic_write(self.tree.inside(self.dir / "coverage"), sealed, durable=False)
                self._known = coverage
        except (StorageError, OSError, ValueError):
            pass  # a view that cannot be kept: the next reader scans again


def _parsed(raw: bytes, model: str | None) -> dict[str, Any] | None:
    """A line as an entry (of ``model``, when given)."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict) or (model is not None and entry.get("model") != model):
        return None
    return entry


def _is_hex(text: str) -> bool:
    return len(text) == _HEAD_DIGITS and set(text) <= _HEX


def _bucket(hex_digest: str) -> str:
    # "@" never begins a model name, so a bucket is never taken for a model
    return "@" + hex_digest[:2].lower()


def _lines(fd: int, start: int) -> Iterator[tuple[int, bytes]]:
    """Every newline-terminated line from ``start`` (a torn last line is left out)."""
    offset, pending = start, b""
    while True:
        block = os.pread(fd, _BLOCK, offset + len(pending))
        if not block:
            return
        pending += block
        begin = 0
        while (cut := pending.find(b"\n", begin)) != -1:
            yield offset + begin, pending[begin : cut + 1]
            begin = cut + 1
        offset += begin
        pending = pending[begin:]
