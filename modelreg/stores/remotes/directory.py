"""A remote blob store in a directory: a shared disk, an NFS mount, a synced folder."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from modelreg.base.fs import fsync_dir
from modelreg.errors import IntegrityError, NotFoundError, RemoteError

from .base import Progress, blob_key, check_source

_COPY_CHUNK = 1024 * 1024


class DirectoryRemote:
    """Blobs in a directory (a shared disk, an NFS mount, a synced folder)."""

    def __init__(self, path: Path) -> None:
        # abspath, not resolve(): keep a symlinked mount point as the user wrote it.
        self.path = Path(os.path.abspath(path))
        self.url = str(self.path)

    def __repr__(self) -> str:
        return f"DirectoryRemote({self.url!r})"

    def _blob_path(self, digest: str) -> Path:
        return self.path / blob_key(digest)

    def has(self, digest: str) -> bool:
        return self._blob_path(digest).is_file()

    def missing(self, digests: Iterable[str]) -> set[str]:
        # A directory that does not exist yet simply holds nothing: `push` creates it.
        return {digest for digest in set(digests) if not self.has(digest)}

    def upload(self, digest: str, src: Path, size: int, progress: Progress | None = None) -> bool:
        final = self._blob_path(digest)
        if final.is_file():
            return False
        check_source(src, size)
        shard = final.parent
        try:
            shard.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RemoteError(f"cannot write to remote {self.url}: {exc.strerror or exc}") from exc
        # A private temp name in the target directory: rename within one filesystem is
        # atomic, so readers see either no blob or the whole blob, never a partial one.
        tmp = shard / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o644)
            except OSError as exc:
                raise RemoteError(f"cannot write to remote {self.url}: {exc.strerror or exc}") from exc
            with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                copied = _copy(inp, out, progress)
                out.flush()
                os.fsync(out.fileno())
            if copied != size:
                raise IntegrityError(
                    f"local blob {digest} changed while it was uploaded ({copied} bytes read, {size} expected)"
                )
            return _publish(tmp, final, self.url)
        finally:
            tmp.unlink(missing_ok=True)

    def download(self, digest: str, dest: Path, progress: Progress | None = None) -> None:
        source = self._blob_path(digest)
        try:
            inp = open(source, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            where = self.url if self.path.is_dir() else f"{self.url} (the directory does not exist)"
            raise NotFoundError(f"blob {digest} is not on the remote {where}", code="blob_missing") from None
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        with inp, open(dest, "wb") as out:
            _copy(inp, out, progress)
            out.flush()
            os.fsync(out.fileno())


_O_BINARY: int = getattr(os, "O_BINARY", 0)  # Windows needs it; 0 elsewhere


def _copy(inp: Any, out: Any, progress: Progress | None) -> int:
    total = 0
    while chunk := inp.read(_COPY_CHUNK):
        out.write(chunk)
        total += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return total


def _publish(tmp: Path, final: Path, url: str) -> bool:
    """Move a finished temp file to its blob name; False when another writer got there first."""
    try:
        # link() refuses to overwrite, so exactly one of several racing uploaders reports True.
        os.link(tmp, final)
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_HARDLINK_ERRNOS:
            raise RemoteError(f"cannot write to remote {url}: {exc.strerror or exc}") from exc
        # No hard links on this filesystem (some SMB/FUSE mounts): an atomic replace is
        # still safe because every writer of this name writes the same bytes.
        try:
            os.replace(tmp, final)
        except OSError as exc2:
            raise RemoteError(f"cannot write to remote {url}: {exc2.strerror or exc2}") from exc2
    fsync_dir(final.parent)
    return True


_NO_HARDLINK_ERRNOS = frozenset({errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV, errno.ENOSYS})
