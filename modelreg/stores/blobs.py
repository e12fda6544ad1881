"""The content-addressed blob store: each file's bytes once, under its SHA-256 digest."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from modelreg.base.fs import (
    REFUSED,
    Tree,
    fsync_dir,
    leftovers,
    move_aside,
    open_regular,
    refused,
    tmp_name,
)
from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, NotFoundError, UsageError
from modelreg.stores.hashing import copy_and_hash, sha256_fd, sha256_file

if TYPE_CHECKING:
    from modelreg.stores.chunks.store import ChunkStore

_HEX_RE = re.compile(r"[0-9a-f]{64}")


class BlobStore(Protocol):
    """What the commands need of a blob store; a remote-backed store adds fetching."""

    def path(self, digest: str) -> Path: ...
    def exists(self, digest: str) -> bool: ...
    def put_file(self, src: Path, *, link: bool = False, progress: Progress | None = None) -> tuple[str, int]: ...
    def verify(self, digest: str, size: int) -> None: ...


def hex_of(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or not _HEX_RE.fullmatch(hexpart):
        raise IntegrityError(f"invalid digest {digest!r}", code="corrupt_manifest")
    return hexpart


class LocalBlobStore:
    """``blobs/sha256/ab/<hex>``: one read-only file per digest holding the raw bytes; and, when
    ``chunk_min_size`` is set (format version 2), files at least that large as chunks in
    ``blobs/chunks/`` (stores/chunks/). Reading takes either form, whatever the format."""

    def __init__(self, root: Path, tree: Tree | None = None, chunk_min_size: int | None = None) -> None:
        self.root = root
        self.tree = tree or Tree(root.parent)
        self.chunk_min_size = chunk_min_size

    @cached_property
    def chunks(self) -> ChunkStore:
        """The chunk store beside the blobs (loaded on first use: a served copy that is already
        there needs neither)."""
        from modelreg.stores.chunks.store import ChunkStore

        return ChunkStore(self.root / "chunks", self.tree)

    def path(self, digest: str) -> Path:
        hexpart = hex_of(digest)
        return self.tree.inside(self.root / "sha256" / hexpart[:2] / hexpart)

    def exists(self, digest: str) -> bool:
        """A whole blob, or a chunked file's recipe, is here (see ``has`` for a complete file)."""
        return self.is_whole(digest) or self.chunks.has_recipe(digest)

    def is_whole(self, digest: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.path(digest)).st_mode)
        except FileNotFoundError:
            return False

    def has(self, digest: str, size: int) -> bool:
        """The file can be handed out from here: a whole blob, or a recipe with all its chunks."""
        return self.is_whole(digest) or self.chunks.complete(digest, size)

    def chunked(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is stored as chunks here."""
        return self.chunk_min_size is not None and size >= self.chunk_min_size

    def _touch(self, digest: str) -> bool:
        """True if the blob exists; its mtime is refreshed so gc's grace period protects it."""
        try:
            os.utime(self.path(digest))
        except FileNotFoundError:
            return False
        except PermissionError:
            return self.exists(digest)
        return True

    def _publish(self, tmp: Path, digest: str) -> None:
        dest = self.path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Identical bytes under one name: a concurrent writer of the same digest is harmless.
        os.replace(tmp, dest)
        fsync_dir(dest.parent)

    def _incoming(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return tmp_name(self.root / "incoming")

    def put_file(self, src: Path, *, link: bool = False, progress: Progress | None = None) -> tuple[str, int]:
        """Store ``src`` (symlinks followed) and return its digest and size; hashing while copying.

        ``link`` asks for a copy-on-write clone (btrfs, XFS, ZFS), which costs no copy and shares
        no inode: rewriting ``src`` later cannot touch the stored bytes. Where the filesystem has
        no clones it is a plain copy. A hard link is never made. A file stored as chunks is always
        copied (its chunks are what is shared). ``progress`` hears the bytes stored.
        """
        with open(src, "rb") as sfh:
            before = os.fstat(sfh.fileno())
            if not stat.S_ISREG(before.st_mode):
                raise UsageError(f"{src}: not a regular file", code="invalid_input")
            if self.chunked(before.st_size):
                return _put_chunked(self, src, sfh.fileno(), before, progress)
            tmp = self._incoming()
            fd = -1
            try:
                # Opened inside the try: a Ctrl-C right after the file exists still removes it.
                fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
                if link and _clone(sfh.fileno(), fd):
                    digest, size = sha256_fd(fd)  # the clone's own bytes: what is stored
                    if progress is not None:
                        progress(size)
                else:
                    digest, size = copy_and_hash(sfh.fileno(), fd, before.st_size, sync=True, progress=progress)
                    after = os.fstat(sfh.fileno())
                    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
                        size != before.st_size
                    ):
                        raise UsageError(f"{src}: the file changed while it was being registered; try again")
                if self._touch(digest):
                    os.close(fd)
                    fd = -1
                    tmp.unlink()
                    return digest, size
                os.fsync(fd)
                os.close(fd)
                fd = -1
                self._publish(tmp, digest)
                return digest, size
            except BaseException as exc:
                if fd >= 0:
                    os.close(fd)
                tmp.unlink(missing_ok=True)
                if isinstance(exc, OSError) and exc.errno in REFUSED:
                    raise refused(exc, self.root) from None
                raise

    def verify(self, digest: str, size: int | None = None) -> None:
        """Re-hash one blob; a missing blob is NotFound, different bytes an IntegrityError."""
        if size is not None and not self.is_whole(digest) and self.chunks.has_recipe(digest):
            self.chunks.verify(digest, size)
            return
        path = self.path(digest)
        try:
            fd = open_regular(path)
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is missing from {self.root}", code="blob_missing") from None
        try:
            actual, actual_size = sha256_fd(fd, None if size is None else size + 1)
        finally:
            os.close(fd)
        if actual != digest or (size is not None and actual_size != size):
            raise IntegrityError(f"blob {path} does not match its digest {digest}", code="digest_mismatch")

    def location(self, digest: str) -> Path:
        """Where the file is kept: its blob, else its recipe (for messages)."""
        if not self.is_whole(digest) and self.chunks.has_recipe(digest):
            return self.chunks.recipe_path(digest)
        return self.path(digest)

    def problem(self, digest: str, size: int, quick: bool = False) -> str | None:
        """What is wrong with a stored file (``"missing"`` when it, or a chunk of it, is not here);
        ``quick`` checks sizes and presence only, without reading the bytes."""
        return _problem(self, digest, size, quick)

    def copy_out(self, digest: str, size: int, dest_fd: int, progress: Progress | None = None) -> None:
        """Copy a blob into an open file, verifying its bytes on the way."""
        try:
            fd = open_regular(self.path(digest))
        except FileNotFoundError:
            if self.chunks.has_recipe(digest):
                self.chunks.copy_out(digest, size, dest_fd, progress)
                return
            raise NotFoundError(f"blob {digest} is missing from {self.root}", code="blob_missing") from None
        try:
            actual, actual_size = copy_and_hash(fd, dest_fd, size, progress=progress)
        finally:
            os.close(fd)
        if actual != digest or actual_size != size:
            raise IntegrityError(f"blob {self.path(digest)} does not match its digest {digest}", code="digest_mismatch")

    def put_download(self, digest: str, size: int, fetch: Callable[[Path], None]) -> None:
        """Let ``fetch`` write a blob to a path in a private incoming directory, verify it, publish it.

        The directory (``blobs/.incoming/.mr.<pid>.<random>.mrtmp``) holds whatever the fetch writes,
        the temporary names of a transfer library included, and is removed when the download
        ends, however it ends; after a kill -9 its dead pid makes it a leftover for verify and gc.
        Bytes that do not hash to ``digest`` are an IntegrityError ``digest_mismatch``; bytes that
        do but are not ``size`` long mean the manifest is wrong (``size_mismatch``).
        """
        import shutil

        hexpart = hex_of(digest)
        work = self._download_dir()
        try:
            tmp = work / hexpart
            fetch(tmp)
            actual, actual_size = sha256_file(tmp, size + 1)
            if actual != digest:
                raise IntegrityError(
                    f"blob {digest} fetched from the remote does not match its digest (got {actual})",
                    code="digest_mismatch",
                )
            if actual_size != size:
                raise IntegrityError(
                    f"blob {digest} has {actual_size} bytes but its manifest records {size}: the manifest is wrong",
                    code="size_mismatch",
                )
            if self.chunked(size):
                self.put_verified(tmp, digest, size)
            else:
                os.chmod(tmp, 0o444)
                self._publish(tmp, digest)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def put_verified(self, path: Path, digest: str, size: int) -> None:
        """Store as chunks a file already known to hold ``digest`` (a download, a whole blob being
        upgraded); its bytes are hashed again on the way in, and must still match."""
        fd = open_regular(path)
        try:
            actual, actual_size, recipe = self.chunks.put_fd(fd, size)
        finally:
            os.close(fd)
        if (actual, actual_size) != (digest, size):
            raise IntegrityError(f"{path} changed while it was stored as chunks", code="digest_mismatch")
        self.chunks.write_recipe(recipe)

    def iter_digests(self) -> Iterator[tuple[str, Path]]:
        base = self.tree.inside(self.root / "sha256" / "00" / "x").parent.parent
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if shard.is_dir() and not shard.is_symlink():
                for blob in sorted(shard.iterdir()):
                    if _HEX_RE.fullmatch(blob.name):
                        yield "sha256:" + blob.name, blob

    def leftovers(self) -> list[Path]:
        """Temporary files of interrupted writes, and the incoming directories of downloads whose
        process is gone (``.incoming/.mr.<pid>.<random>.mrtmp``): harmless, removed by gc."""
        return leftovers(self.root)

    # -- downloads, and blobs found corrupt -----------------------------------------------------

    def _download_dir(self) -> Path:
        """A new directory ``.incoming/.mr.<pid>.<random>.mrtmp``: a temporary name, so its pid is known."""
        work = tmp_name(self._own_dir(self.root / INCOMING) / "download")
        work.mkdir(mode=0o700)
        return work

    def quarantine(self, digest: str) -> Path | None:
        """Move a blob whose bytes do not match its name to ``blobs/quarantine/<hex>.<time>.<random>``
        (kept, never deleted), so that the next pull or fetch gets a good copy; None if it is gone."""
        return move_aside(self.path(digest), self._own_dir(self.root / QUARANTINE), hex_of(digest))

    def _own_dir(self, path: Path) -> Path:
        """A directory of the store, created if needed, never through a symlink."""
        self.tree.inside(path / "entry")  # no symlink on the way there
        path.mkdir(parents=True, exist_ok=True)
        self.tree.inside(path / "entry")  # nor at it
        return path


def _put_chunked(
    store: LocalBlobStore, src: Path, fd: int, before: os.stat_result, progress: Progress | None
) -> tuple[str, int]:
    digest, size, recipe = store.chunks.put_fd(fd, before.st_size, progress)
    after = os.fstat(fd)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or size != before.st_size:
        raise UsageError(f"{src}: the file changed while it was being registered; try again")
    store.chunks.write_recipe(recipe)  # only now, with the source found unchanged, does the file exist here
    return digest, size


def _problem(self: LocalBlobStore, digest: str, size: int, quick: bool) -> str | None:
    if not self.is_whole(digest) and self.chunks.has_recipe(digest):
        try:
            recipe = self.chunks.recipe(digest, size)
        except IntegrityError as exc:
            return exc.message
        if self.chunks.missing(recipe):
            return "missing"
        if quick:
            return None
        try:
            self.chunks.verify(digest, size)
        except IntegrityError as exc:
            return exc.message
        except NotFoundError:
            return "missing"
        return None
    try:
        actual_size = os.lstat(self.path(digest)).st_size
    except FileNotFoundError:
        return "missing"
    if actual_size != size:
        return f"size is {actual_size}, the manifest says {size}"
    if quick:
        return None
    try:
        self.verify(digest, size)
    except IntegrityError:
        return "bytes do not match the digest"
    except NotFoundError:
        return "missing"
    return None


INCOMING = ".incoming"
"""``blobs/.incoming/``: one directory per download in flight, named after its process."""
QUARANTINE = "quarantine"
"""``blobs/quarantine/``: local blobs found corrupt, kept for inspection (gc never removes them)."""


_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def _clone(src_fd: int, dst_fd: int) -> bool:
    """A copy-on-write clone of src into dst where the filesystem supports it."""
    try:
        import fcntl

        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
    except (OSError, ImportError, AttributeError):
        return False
    return True
