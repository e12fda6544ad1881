"""The append-only, hash-linked audit log (``audit.jsonl``).

Each entry's ``id`` is the SHA-256 of its own content, and ``prev`` lists the ids of the heads
(entries nothing followed yet) when it was appended. Editing an entry breaks its id; deleting or
moving one that a later entry follows leaves a ``prev`` pointing at nothing earlier. A git union
merge keeps both branches' lines after the common part, so every ``prev`` still points upward;
the next append lists both branch heads and joins them. See docs/audit-log.md.

No complete entry is ever lost: before appending, an unterminated last line is either a whole
entry (it gets its newline) or the rest of an interrupted write (only the bytes after the last
newline are cut); a write that fails part-way is undone, so the log holds what it held before.
The log is never opened through a symlink or as anything but a regular file. What a model's
entries say about its stages and aliases is records/timeline.py's to tell.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from modelreg.base.fs import atomic_write, open_regular, read_limited
from modelreg.errors import IntegrityError, StorageError, UsageError

LOG_NAME = "audit.jsonl"
ENTRY_FIELDS = ("time", "actor", "action", "model", "version", "from_stage", "to_stage", "reason")
# The longest line an append writes (an entry linked to one head, with its newline).
MAX_ENTRY_BYTES = 64 * 1024
# Lines longer than this are never held in memory: no entry modelreg wrote is anywhere near it.
MAX_LINE_BYTES = 8 << 20
_BLOCK = 1 << 16
MAX_CACHE_BYTES = 1 << 16
# The environment refusing the write (a full disk, a quota, a read-only mount, a file-size limit).
_REFUSED = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
_PLACEHOLDER_ID = "sha256:" + "0" * 64


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


def check_size(records: list[dict[str, Any]]) -> None:
    """Refuse (exit 2) a record whose line would exceed MAX_ENTRY_BYTES; call before writing anything.

    The size counts the entry as linked to one head; an append that joins several branch heads
    writes a longer ``prev`` and is not refused for it."""
    for record in records:
        body = {"txn": "0" * 24, **record, "prev": [_PLACEHOLDER_ID]}
        size = len(encode_line({"id": _PLACEHOLDER_ID, **body}))
        if size <= MAX_ENTRY_BYTES:
            continue
        longest = max(record, key=lambda k: len(json.dumps(record[k], ensure_ascii=False).encode()))
        longest_size = len(json.dumps(record[longest], ensure_ascii=False).encode())
        what = f"{record.get('action')} of {record.get('model')}" if record.get("model") else str(record.get("action"))
        raise UsageError(
            f"the audit entry of this {what} would be {size} bytes, over the limit of {MAX_ENTRY_BYTES} bytes "
            f"per entry (its {longest!r} takes {longest_size}); shorten it or make the change in smaller steps",
            code="entry_too_large",
        )


def complete_entry(raw: bytes) -> dict[str, Any] | None:
    """``raw`` (one line, with or without its newline) as an entry whose id matches its content."""
    if len(raw) > MAX_LINE_BYTES:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry_id(entry) == entry["id"]:
        return entry
    return None


@dataclass(frozen=True)
class Problem:
    line: int
    message: str


@dataclass
class ChainReport:
    entries: int
    heads: list[str]
    problems: list[Problem]
    torn_tail: bool = False  # the last line is an interrupted write (cut by the next append)
    unterminated: bool = False  # the last line is a whole entry without its newline (kept, terminated)
    registered: set[str] = field(default_factory=set)  # the models a register entry names


# How far back ``check`` remembers ids exactly; an id further back is looked for in a Bloom
# filter and, if it may be there, confirmed by a second read of the log. A merge's second
# branch is the only common reason to look further back than the window.
_WINDOW = 1 << 16
_BLOOM_BITS = 1 << 27  # 16 MiB: under 1 % false positives up to 10 million entries
_AHEAD_CAP = 1 << 16


class _Links:
    """The heads of a log read in order, in memory that grows with the heads, not the log."""

    def __init__(self) -> None:
        self.open: dict[str, None] = {}  # ids nothing has followed yet, in order
        self.ahead: set[str] = set()  # ids followed before they appeared (a reordered log)

    def follow(self, prev: str, *, unseen: bool = True) -> bool:
        """Record that an entry follows ``prev`` (``unseen``: not met yet); whether it was an open head."""
        if prev in self.open:
            del self.open[prev]
            return True
        if unseen and len(self.ahead) < _AHEAD_CAP:
            self.ahead.add(prev)
        return False

    def add(self, eid: str) -> None:
        if eid in self.ahead:
            self.ahead.discard(eid)
        else:
            self.open[eid] = None

    def heads(self) -> list[str]:
        return sorted(self.open)


class _Seen:
    """The ids read so far: the last _WINDOW exactly, all of them in a Bloom filter."""

    def __init__(self) -> None:
        self.recent: dict[str, None] = {}
        self.bits = bytearray(_BLOOM_BITS // 8)

    @staticmethod
    def _positions(eid: str) -> list[int]:
        digest = hashlib.blake2b(eid.encode(), digest_size=16).digest()
        return [int.from_bytes(digest[i : i + 4], "little") % _BLOOM_BITS for i in (0, 4, 8, 12)]

    def add(self, eid: str) -> None:
        self.recent[eid] = None
        if len(self.recent) > _WINDOW:
            del self.recent[next(iter(self.recent))]
        for bit in self._positions(eid):
            self.bits[bit >> 3] |= 1 << (bit & 7)

    def maybe(self, eid: str) -> bool:
        return all(self.bits[bit >> 3] >> (bit & 7) & 1 for bit in self._positions(eid))


def _follows_missing(prev: str) -> str:
    return f"follows {prev[:19]}…, which is missing or comes later (an entry was deleted or reordered)"


def _lines(fh: IO[bytes]) -> Iterator[tuple[int, bytes | None, bool]]:
    """(number, line, terminated) in file order; a line over MAX_LINE_BYTES is skipped unread and
    given as None. Only the last line can lack its newline."""
    number = 0
    while True:
        line = fh.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) <= MAX_LINE_BYTES or line.endswith(b"\n"):
            yield number, line, line.endswith(b"\n")
            continue
        while line and not line.endswith(b"\n"):
            line = fh.readline(_BLOCK)
        yield number, None, line.endswith(b"\n")


def _lines_backwards(fd: int, size: int) -> Iterator[bytes]:
    """The non-empty lines of the first ``size`` bytes of ``fd``, last first; a line longer than
    MAX_LINE_BYTES is dropped as soon as it is known to be, so at most that much is ever held."""
    pos = size
    partial = b""  # the start of the line that ends where the part already read begins
    too_long = False
    while pos > 0:
        start = max(0, pos - _BLOCK)
        block = os.pread(fd, pos - start, start)
        if len(block) != pos - start:
            raise OSError(errno.EIO, "the audit log shrank while it was read")
        pos = start
        cut = block.find(b"\n")
        if cut < 0:
            partial = b"" if too_long else block + partial
            if len(partial) > MAX_LINE_BYTES:
                partial, too_long = b"", True
            continue
        last = block.rfind(b"\n")
        tail = block[last + 1 :] + (b"" if too_long else partial)
        if tail and not too_long and len(tail) <= MAX_LINE_BYTES:
            yield tail
        too_long = False
        for line in reversed(block[cut + 1 : last].split(b"\n")) if last > cut else ():
            if line and len(line) <= MAX_LINE_BYTES:
                yield line
        partial = block[:cut]
    if partial and not too_long and len(partial) <= MAX_LINE_BYTES:
        yield partial


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # not expected from a regular file, but never loop on it
            raise OSError(errno.EIO, "write made no progress")
        view = view[written:]


class AuditLog:
    """Appends are serialised by the caller (the registry's audit lock)."""

    def check_append(self, records: list[dict[str, Any]]) -> None:
        """What an append would refuse, checked before a change writes anything: an entry over
        the size cap (exit 2), a log that is a symlink or not a regular file (exit 5)."""
        check_size(records)
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            raise IntegrityError(
                f"{self.path} is a symbolic link: modelreg never follows links inside a registry",
                code="symlink_in_registry",
            )
        if not stat.S_ISREG(mode):
            raise IntegrityError(f"{self.path} is not a regular file", code="corrupt_registry")

    def __init__(self, path: Path, cache_path: Path) -> None:
        self.path = path
        self.cache_path = cache_path

    # -- reading -----------------------------------------------------------
    def _numbered(self) -> Iterator[tuple[int, bytes | None, bool]]:
        try:
            fd = open_regular(self.path)  # never a link out of the registry, never a FIFO
        except FileNotFoundError:
            return
        with os.fdopen(fd, "rb") as fh:
            yield from _lines(fh)

    def iter_raw(self) -> Iterator[tuple[int, bytes]]:
        """(number, line) of every line short enough to be an entry."""
        for number, raw, _ in self._numbered():
            if raw is not None:
                yield number, raw

    def entries_newest_first(self) -> Iterator[dict[str, Any]]:
        """Parsed entries from the end of the log backwards, a block at a time: the newest entries
        cost what they are, not what the log is (a line over MAX_LINE_BYTES is skipped unread)."""
        try:
            fd = open_regular(self.path)
        except FileNotFoundError:
            return
        try:
            for raw in _lines_backwards(fd, os.fstat(fd).st_size):
                try:
                    entry = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    yield entry
        finally:
            os.close(fd)

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
        """Walk the whole chain: ids match content, every prev points at an earlier entry.

        Memory stays bounded however long the log is: ids are remembered exactly for the last
        _WINDOW entries and in a fixed Bloom filter before that; a ``prev`` (or a repeated id)
        that only the filter may know is settled by a second read of the log."""
        seen = _Seen()
        links = _Links()
        problems: list[Problem] = []
        later_prev: list[tuple[int, str]] = []  # (line, prev) to confirm on the second read
        later_repeat: list[tuple[int, str]] = []  # (line, id)
        registered: set[str] = set()
        count = 0
        torn = unterminated = False
        for number, raw, terminated in self._numbered():
            if not terminated:  # the last line
                if raw is None or complete_entry(raw) is None:
                    torn = True  # an interrupted final write: cut by the next append
                    continue
                unterminated = True  # a whole entry: the next append adds its newline
            if raw is None:
                problems.append(Problem(number, f"is longer than {MAX_LINE_BYTES} bytes: not an audit entry"))
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
                known = p in seen.recent
                maybe = known or seen.maybe(p)
                if links.follow(p, unseen=not maybe) or known:
                    continue
                if maybe:
                    later_prev.append((number, p))
                else:
                    problems.append(Problem(number, _follows_missing(p)))
            if eid in seen.recent:
                problems.append(Problem(number, f"repeats entry {eid[:19]}"))
            elif seen.maybe(eid):
                later_repeat.append((number, eid))
            seen.add(eid)
            links.add(eid)
            count += 1
            if entry.get("action") == "register" and isinstance(entry.get("model"), str):
                registered.add(entry["model"])
        del seen
        if later_prev or later_repeat:
            first = self._first_lines({p for _, p in later_prev} | {e for _, e in later_repeat})
            problems += [Problem(n, _follows_missing(p)) for n, p in later_prev if first.get(p, n) >= n]
            problems += [Problem(n, f"repeats entry {e[:19]}") for n, e in later_repeat if first.get(e, n) < n]
            problems.sort(key=lambda problem: problem.line)
        return ChainReport(count, links.heads(), problems, torn, unterminated, registered)

    def _first_lines(self, ids: set[str]) -> dict[str, int]:
        """The line on which each of ``ids`` first appears as an entry's id."""
        found: dict[str, int] = {}
        for number, raw in self.iter_raw():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            eid = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(eid, str) and eid in ids and eid not in found:
                found[eid] = number
        return found

    # -- appending ---------------------------------------------------------
    def _scan_heads(self) -> list[str]:
        links = _Links()
        for _, raw in self.iter_raw():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("id"), str):
                prev = entry.get("prev")
                if isinstance(prev, list):
                    for p in prev:
                        if isinstance(p, str):
                            links.follow(p)
                links.add(entry["id"])
        return links.heads()

    def _cached_heads(self, st: os.stat_result) -> list[str] | None:
        try:
            cache = json.loads(read_limited(self.cache_path, MAX_CACHE_BYTES))
        except (OSError, ValueError, OverflowError, IntegrityError):  # only a cache: scan the log instead
            return None
        if isinstance(cache, dict) and cache.get("stat") == [st.st_ino, st.st_size, st.st_mtime_ns]:
            heads = cache.get("heads")
            if isinstance(heads, list) and all(isinstance(h, str) for h in heads):
                return heads
        return None

    @staticmethod
    def _line_start(fd: int, size: int) -> int:
        """Offset just after the last newline in the first ``size`` bytes (0 if there is none),
        reading backwards a block at a time however far back it is."""
        end = size
        while end > 0:
            start = max(0, end - _BLOCK)
            found = os.pread(fd, end - start, start).rfind(b"\n")
            if found >= 0:
                return start + found + 1
            end = start
        return 0

    def _repair_tail(self, fd: int, size: int) -> int:
        """Make the log end with a newline: a whole last entry gets its newline, the rest of an
        interrupted write is cut (the bytes after the last newline only). Returns the new size."""
        if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
            return size
        start = self._line_start(fd, size)
        if size - start <= MAX_LINE_BYTES and complete_entry(os.pread(fd, size - start, start)) is not None:
            _write_all(fd, b"\n")
            return size + 1
        os.ftruncate(fd, start)
        return start

    def _refused(self, exc: OSError) -> Exception:
        if exc.errno in _REFUSED:
            return StorageError(
                f"cannot append to the audit log {self.path}: {exc.strerror or exc}; the log is unchanged"
            )
        return exc

    def _open_for_append(self) -> int:
        """The log opened to append, refusing a symlink (a write would land outside the registry)
        and anything but a regular file."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise IntegrityError(
                    f"{self.path} is a symbolic link: modelreg never follows links inside a registry",
                    code="symlink_in_registry",
                ) from None
            raise self._refused(exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise IntegrityError(f"{self.path} is not a regular file", code="corrupt_registry")
        os.set_blocking(fd, True)
        return fd

    def append(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Link and append records (each a dict of ENTRY_FIELDS and extras); return the entries.

        All or nothing: a write that fails part-way (a full disk) is cut off again, and a full
        disk, a quota or a read-only log raise StorageError naming the log."""
        check_size(records)
        fd = self._open_for_append()
        try:
            st = os.fstat(fd)
            size = st.st_size
            heads = self._cached_heads(st)
            ends_cleanly = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
            try:
                if heads is None or not ends_cleanly:
                    size = self._repair_tail(fd, size)
                    heads = self._scan_heads()
                written: list[dict[str, Any]] = []
                chunks: list[bytes] = []
                for record in records:
                    body = {**record, "prev": heads}
                    entry = {"id": entry_id(body), **body}
                    heads = [entry["id"]]
                    written.append(entry)
                    chunks.append(encode_line(entry))
                _write_all(fd, b"".join(chunks))
                os.fsync(fd)
            except BaseException as exc:
                # Undo a partial write (and a repair that could not finish): never leave half a line.
                with contextlib.suppress(OSError):
                    if os.fstat(fd).st_size > size:
                        os.ftruncate(fd, size)
                if isinstance(exc, OSError):
                    raise self._refused(exc) from None
                raise
            st = os.fstat(fd)
        finally:
            os.close(fd)
        cache = {"stat": [st.st_ino, st.st_size, st.st_mtime_ns], "heads": heads}
        with contextlib.suppress(OSError):  # only a cache: the next append scans the log
            atomic_write(self.cache_path, json.dumps(cache).encode(), durable=False)
        return written

    def contains_txn(self, txn: str) -> bool:
        needle = f'"txn":"{txn}"'.encode()
        return any(needle in raw for _, raw in self.iter_raw())
