"""A remote blob store in a directory: a shared disk, an NFS mount, a synced folder.

The directory must exist: ``push`` never creates it, so a typo in the url is reported instead of
silently starting a second store. The shard directories inside it are created as needed.
An object is read only if it is a regular file (never through a symlink, never a FIFO or a
device, which would hang or never end) and never past the size its manifest records.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO

from modelreg.base.fs import fsync_dir
from modelreg.errors import IntegrityError, ModelregError, NotFoundError, RemoteError, StorageError

from .base import (
    QUARANTINE,
    Progress,
    blob_key,
    check_source,
    found_in_quarantine,
    larger_than_recorded,
    not_a_blob,
    quarantine_key,
    quarantined_prefix,
)

_COPY_CHUNK = 1024 * 1024
_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows needs it; 0 elsewhere
_O_READ = os.O_RDONLY | _O_BINARY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC


class DirectoryRemote:
    """Blobs in a directory (a shared disk, an NFS mount, a synced folder)."""

    def __init__(self, path: Path) -> None:
        # abspath, not resolve(): keep a symlinked mount point as the user wrote it.
        self.path = Path(os.path.abspath(path))
        self.url = str(self.path)
        # digest -> (device, inode) of the object the last download read: what quarantine moves.
        self._read: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"DirectoryRemote({self.url!r})"

    def _blob_path(self, digest: str) -> Path:
        return self.path / blob_key(digest)

    def _require_dir(self) -> None:
        """The remote directory must exist: creating it would hide a typo in the url."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise NotFoundError(
                f"the remote directory {self.url} does not exist: create it (mkdir -p {self.url}) if that "
                "is the right place, or fix [remote] url in modelreg.toml",
                code="remote_missing",
            ) from None
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        if not stat.S_ISDIR(st.st_mode):
            raise NotFoundError(
                f"the remote {self.url} is not a directory: fix [remote] url in modelreg.toml", code="remote_missing"
            )

    def _lstat(self, path: Path) -> os.stat_result | None:
        try:
            return os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc

    def has(self, digest: str) -> bool:
        st = self._lstat(self._blob_path(digest))
        return st is not None and stat.S_ISREG(st.st_mode)

    def missing(self, digests: Iterable[str], sizes: Mapping[str, int] | None = None) -> set[str]:
        wanted = set(digests)
        if not wanted:
            return set()
        self._require_dir()
        recorded = sizes or {}
        lacking = set()
        for digest in wanted:
            st = self._lstat(self._blob_path(digest))
            size = recorded.get(digest)
            if st is None or not stat.S_ISREG(st.st_mode) or (size is not None and st.st_size != size):
                lacking.add(digest)
        return lacking

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        final = self._blob_path(digest)
        self._require_dir()
        st = self._lstat(final)
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == size:
            return False
        check_source(src, size)
        if st is not None:
            # Another size, or not a file at all: corrupt. Keep it aside, then write the good bytes.
            self._move_aside(digest, (st.st_dev, st.st_ino))
        shard = final.parent
        self._make_dirs(shard.parent, shard)
        # A private temp name in the target directory: rename within one filesystem is
        # atomic, so readers see either no blob or the whole blob, never a partial one.
        tmp = shard / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        on_write = self._write_error
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
            except OSError as exc:
                raise on_write(exc) from exc
            try:
                with open(src, "rb") as inp:
                    copied = _copy(inp, fd, size + 1, progress, on_write=on_write)
                try:
                    os.fsync(fd)
                except OSError as exc:
                    raise on_write(exc) from exc
            finally:
                os.close(fd)
            if copied != size:
                raise IntegrityError(
                    f"local blob {digest} changed while it was uploaded ({copied} bytes read, {size} expected)"
                )
            return _publish(tmp, final, on_write)
        finally:
            tmp.unlink(missing_ok=True)

    def download(self, digest: str, dest: Path, size: int, progress: Progress | None = None) -> None:
        source = self._blob_path(digest)
        try:
            # Not through a symlink, and without blocking on a FIFO that has no writer.
            fd = os.open(source, _O_READ)
        except (FileNotFoundError, NotADirectoryError):
            self._require_dir()
            raise self._not_here(digest) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise not_a_blob(digest, "a symbolic link", self.url) from None
            raise self._read_error(exc) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise not_a_blob(digest, _kind(st.st_mode), self.url)
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        with os.fdopen(fd, "rb") as inp:
            if st.st_size > size:
                raise larger_than_recorded(digest, self.url, st.st_size, size)
            with open(dest, "xb") as out:
                # size + 1 at most: enough to see that a file grew past its size, never more.
                copied = _copy(inp, out.fileno(), size + 1, progress, on_read=self._read_error)
                if copied > size:
                    raise larger_than_recorded(digest, self.url, None, size)
                os.fsync(out.fileno())
        self._read[digest] = (st.st_dev, st.st_ino)

    def quarantine(self, digest: str) -> str | None:
        seen = self._read.pop(digest, None)
        return None if seen is None else self._move_aside(digest, seen)

    # -- helpers -------------------------------------------------------------------------------

    def _move_aside(self, digest: str, identity: tuple[int, int]) -> str | None:
        """Rename the object into ``quarantine/`` if it is still the one seen (``identity``)."""
        final = self._blob_path(digest)
        st = self._lstat(final)
        if st is None or (st.st_dev, st.st_ino) != identity:
            return None  # replaced (or removed) since: leave the newer object alone
        self._make_dirs(self.path / QUARANTINE)
        target = self.path / quarantine_key(digest)
        try:
            os.rename(final, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._write_error(exc) from exc
        fsync_dir(final.parent)
        fsync_dir(target.parent)
        return str(target)

    def _not_here(self, digest: str) -> ModelregError:
        """Not on the remote: say so, or that an earlier fetch quarantined its corrupt copy."""
        prefix = quarantined_prefix(digest)
        name_start = prefix.rsplit("/", 1)[1]
        try:
            names = sorted(entry.name for entry in os.scandir(self.path / QUARANTINE))
        except OSError:
            names = []
        found = [name for name in names if name.startswith(name_start)]
        if found:
            return found_in_quarantine(digest, self.url, str(self.path / QUARANTINE / found[-1]))
        return NotFoundError(f"blob {digest} is not on the remote {self.url}", code="blob_missing")

    def _make_dirs(self, *dirs: Path) -> None:
        """Create directories inside the remote (never the remote itself), outermost first."""
        for directory in dirs:
            try:
                directory.mkdir(exist_ok=True)
            except FileNotFoundError:
                self._require_dir()
                raise RemoteError(f"cannot create {directory} in the remote {self.url}") from None
            except OSError as exc:
                raise self._write_error(exc) from exc

    def _write_error(self, exc: OSError) -> ModelregError:
        reason = exc.strerror or str(exc)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return StorageError(f"the remote {self.url} is full ({reason}): free space there, then push again")
        return RemoteError(f"cannot write to remote {self.url}: {reason}")

    def _read_error(self, exc: OSError) -> ModelregError:
        return RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _copy(
    inp: BinaryIO,
    out_fd: int,
    limit: int,
    progress: Progress | None,
    *,
    on_read: Callable[[OSError], ModelregError] | None = None,
    on_write: Callable[[OSError], ModelregError] | None = None,
) -> int:
    """Copy at most ``limit`` bytes; OSErrors of one side become what ``on_read``/``on_write`` say."""
    total = 0
    while total < limit:
        try:
            chunk = inp.read(min(_COPY_CHUNK, limit - total))
        except OSError as exc:
            if on_read is None:
                raise
            raise on_read(exc) from exc
        if not chunk:
            break
        view = memoryview(chunk)
        try:
            while view:
                view = view[os.write(out_fd, view) :]
        except OSError as exc:
            if on_write is None:
                raise
            raise on_write(exc) from exc
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total


def _publish(tmp: Path, final: Path, on_error: Callable[[OSError], ModelregError]) -> bool:
    """Move a finished temp file to its blob name; False when another writer got there first."""
    try:
        # link() refuses to overwrite, so exactly one of several racing uploaders reports True.
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK_ERRNOS:
            raise on_error(exc) from exc
        # No hard links on this filesystem (some SMB/FUSE mounts): an atomic replace is
        # still safe because every writer of this name writes the same bytes.
        try:
            os.replace(tmp, final)
        except OSError as exc2:
            raise on_error(exc2) from exc2
    fsync_dir(final.parent)
    return True


_NO_HARDLINK_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOSYS})
