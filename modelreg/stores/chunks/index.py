"""Which pack holds which chunk: every published index of a packs directory, in memory.

A pack exists for readers only once its index does (the index is written after the pack is
flushed), and an index counts only if its bytes hash to its name and its pack is there with the
size it records. ``refresh`` re-reads the directory, so packs that gc removed or a concurrent
register added since are seen: callers refresh under the blob lock before trusting an answer.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from modelreg.base.fs import open_regular, read_limited
from modelreg.errors import IntegrityError

from .format import INDEX_LIMIT, NAME_RE, PackIndex, decode_index

Location = tuple[str, int, int]  # (pack name, offset, length)


class ChunkIndex:
    def __init__(self, packs_dir: Path) -> None:
        self.dir = packs_dir
        self.packs: dict[str, PackIndex] = {}
        self.problems: dict[str, str] = {}  # index or pack name -> what is wrong with it
        self._where: dict[bytes, tuple[str, int, int]] = {}
        self._seen: dict[str, tuple[int, int]] = {}  # index name -> (inode, mtime) when loaded

    def __contains__(self, cid: object) -> bool:
        return cid in self._where

    def __len__(self) -> int:
        return len(self._where)

    def locate(self, cid: bytes) -> Location | None:
        return self._where.get(cid)

    def pack_path(self, name: str) -> Path:
        return self.dir / f"{name}.pack"

    def idx_path(self, name: str) -> Path:
        return self.dir / f"{name}.idx"

    def listed(self) -> dict[str, tuple[int, int]]:
        """The index files of the directory: name -> (inode, mtime)."""
        found: dict[str, tuple[int, int]] = {}
        try:
            entries = list(os.scandir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return found
        for entry in entries:
            name = entry.name.removesuffix(".idx")
            if entry.name.endswith(".idx") and NAME_RE.fullmatch(name):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found[name] = (st.st_ino, st.st_mtime_ns)
        return found

    def refresh(self) -> None:
        listed = self.listed()
        gone = [name for name in self._seen if listed.get(name) != self._seen[name]]
        for name in gone:
            self._seen.pop(name)
            self.packs.pop(name, None)
            self.problems.pop(name, None)
        if gone:
            self._rebuild()
        for name in sorted(set(listed) - set(self._seen)):
            self._seen[name] = listed[name]
            index = self._load(name)
            if index is not None:
                self.packs[name] = index
                self._add(index)

    def _rebuild(self) -> None:
        self._where = {}
        for index in self.packs.values():
            self._add(index)

    def _add(self, index: PackIndex) -> None:
        where = self._where
        for cid, offset, length in index.offsets():
            if cid not in where:
                where[cid] = (index.name, offset, length)

    def _load(self, name: str) -> PackIndex | None:
        try:
            index = decode_index(read_limited(self.idx_path(name), INDEX_LIMIT), name)
        except (OSError, OverflowError):
            self.problems[name] = "its index cannot be read"
            return None
        except IntegrityError as exc:
            self.problems[name] = exc.message
            return None
        try:
            fd = open_regular(self.pack_path(name))
        except (OSError, IntegrityError):
            self.problems[name] = "its pack file is missing"
            return None
        try:
            size = os.fstat(fd).st_size
        finally:
            os.close(fd)
        if size != index.pack_size:
            self.problems[name] = f"its pack has {size} bytes, its index records {index.pack_size}"
            return None
        return index

    def drop(self, name: str) -> None:
        """Forget one pack (it was quarantined or removed)."""
        self.packs.pop(name, None)
        self._seen.pop(name, None)
        self._rebuild()
