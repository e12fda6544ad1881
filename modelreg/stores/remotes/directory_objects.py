"""Named objects (packs, their indexes, recipes) in a directory remote."""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from modelreg.base.fs import fsync_dir, write_all
from modelreg.errors import IntegrityError, RemoteError

from .base import QUARANTINE
from .directory import DirectoryRemote
from .object_keys import check_key, quarantine_name, too_large

_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC


class DirectoryObjects:
    def __init__(self, remote: DirectoryRemote) -> None:
        self.remote = remote
        self.url = remote.url
        self.path = remote.path

    def _open(self, key: str) -> int | None:
        try:
            fd = os.open(self.path / check_key(key), _O_READ)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise IntegrityError(f"the object {key} on the remote {self.url} is a symbolic link") from None
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise IntegrityError(f"the object {key} on the remote {self.url} is not a regular file")
        os.set_blocking(fd, True)
        return fd

    def list(self, prefix: str) -> dict[str, int]:
        self.remote._require_dir()
        found: dict[str, int] = {}
        try:
            entries = list(os.scandir(self.path / prefix))
        except (FileNotFoundError, NotADirectoryError):
            return found
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                found[prefix + entry.name] = st.st_size
        return found

    def read(self, key: str, limit: int) -> bytes | None:
        fd = self._open(key)
        if fd is None:
            self.remote._require_dir()  # a missing remote directory is an error, not an empty store
            return None
        try:
            if os.fstat(fd).st_size > limit:
                raise too_large(key, self.url, limit)
            data = os.pread(fd, limit + 1, 0)
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        if len(data) > limit:
            raise too_large(key, self.url, limit)
        return data

    def read_range(self, key: str, start: int, end: int) -> bytes:
        fd = self._open(key)
        if fd is None:
            raise RemoteError(f"the object {key} went from the remote {self.url} while it was read; try again")
        try:
            parts = []
            got = 0
            while got < end - start:
                piece = os.pread(fd, min(end - start - got, 16 << 20), start + got)
                if not piece:
                    break
                parts.append(piece)
                got += len(piece)
        except OSError as exc:
            raise RemoteError(f"cannot read remote {self.url}: {exc.strerror or exc}") from exc
        finally:
            os.close(fd)
        data = b"".join(parts)
        if len(data) != end - start:
            raise IntegrityError(
                f"the object {key} on the remote {self.url} is shorter than its index says", code="remote_corrupt"
            )
        return data

    def write(self, key: str, data: bytes) -> None:
        final = self.path / check_key(key)
        self.remote._require_dir()
        self.remote._make_dirs(final.parent)
        tmp = final.parent / f".tmp-{final.name[:16]}-{secrets.token_hex(8)}"
        try:
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                try:
                    write_all(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, final)  # content-named: a concurrent writer wrote the same bytes
            except OSError as exc:
                raise self.remote._write_error(exc) from exc
            fsync_dir(final.parent)
        finally:
            tmp.unlink(missing_ok=True)

    def quarantine(self, key: str) -> str | None:
        source = self.path / check_key(key)
        self.remote._make_dirs(self.path / QUARANTINE)
        target = self.path / quarantine_name(key)
        try:
            os.rename(source, target)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self.remote._write_error(exc) from exc
        fsync_dir(source.parent)
        fsync_dir(target.parent)
        return str(Path(target))
