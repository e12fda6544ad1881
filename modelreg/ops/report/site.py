"""Writing the site all or nothing: staged in a directory beside the destination, then swapped in.

The destination is new, empty, or a report written before (it holds ``modelreg-report.json``,
which lists every file the report wrote). Anything else there — a file the report did not
write, a symlink — and nothing is written: the report never deletes what it did not make. The
swap is one ``renameat2(RENAME_EXCHANGE)`` where the system has it (a reader or a static host
sees the old site or the new one, never a mix, never nothing), else two renames.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from pathlib import Path

from modelreg.base.fs import pid_alive, read_limited, refused
from modelreg.errors import UsageError
from modelreg.records.filepaths import folders_of

MARKER = "modelreg-report.json"
MARKER_FORMAT = 1
_STAGE_SUFFIX = ".report-tmp"


def _refuse(dest: Path, why: str) -> UsageError:
    return UsageError(f"refusing to write the report into {dest}: {why}", code="invalid_destination")


def resolve_destination(given: Path, registry: Path) -> Path:
    """Where the site goes: never through a link named as DIR (a dangling one would make its
    target), never among the registry's own records."""
    absolute = Path(os.path.abspath(given))
    if absolute.is_symlink():
        raise _refuse(absolute, "it is a symbolic link; name the directory itself")
    dest = absolute.resolve()
    root = registry.resolve()
    for own in ("models", "blobs", ".modelreg"):
        if dest == root / own or root / own in dest.parents:
            raise _refuse(dest, f"it is inside the registry's {own}/; write it elsewhere")
    return dest


def check_destination(dest: Path) -> None:
    """Raise unless ``dest`` is absent, empty, or holds only files an earlier report wrote."""
    try:
        here = Path.cwd().resolve()
    except OSError:
        here = None
    if here is not None and (here == dest or dest in here.parents):
        raise _refuse(dest, "it is or holds the current directory, which the swap would take away; run from elsewhere")
    if not os.path.lexists(dest):
        return
    if not dest.is_dir():
        raise _refuse(dest, "it exists and is not a directory")
    entries = os.listdir(dest)
    if not entries:
        return
    if MARKER not in entries:
        raise _refuse(dest, "it is not empty and is not a report modelreg wrote; choose a new or empty directory")
    try:
        listed = json.loads(read_limited(dest / MARKER, 16 << 20))
        ours = {str(p) for p in listed["files"]} | {MARKER}
    except (OSError, ValueError, KeyError, TypeError):
        raise _refuse(dest, f"its {MARKER} is not one modelreg wrote") from None
    dirs = folders_of(ours)
    for top, dirnames, filenames in os.walk(dest):
        rel_top = Path(top).relative_to(dest).as_posix()
        for name in sorted([*dirnames, *filenames]):
            rel = name if rel_top == "." else f"{rel_top}/{name}"
            path = Path(top) / name
            known = rel in dirs if name in dirnames and not path.is_symlink() else rel in ours
            if path.is_symlink() or not known:
                raise _refuse(dest, f"it holds {rel}, which the report did not write; move it away first")


class Staging:
    """A directory beside the destination that the new site is written into."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.files: list[str] = []
        parent = dest.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise refused(exc, parent) from None
        _remove_leftovers(dest)
        self.root = parent / f".{dest.name}.{os.getpid()}.{os.urandom(4).hex()}{_STAGE_SUFFIX}"
        try:
            self.root.mkdir()
        except OSError as exc:
            raise refused(exc, parent) from None

    def write(self, rel: str, data: str | bytes) -> None:
        path = self.root / rel
        raw = data.encode() if isinstance(data, str) else data
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as fh:
                fh.write(raw)
        except OSError as exc:
            raise refused(exc, self.dest / rel) from None
        self.files.append(rel)

    def finish(self) -> None:
        """Write the marker, then swap the staged site in place of the destination."""
        marker = {"generator": "modelreg report", "format": MARKER_FORMAT, "files": sorted(self.files)}
        self.write(MARKER, json.dumps(marker, indent=1) + "\n")
        check_destination(self.dest)  # again: something may have appeared there while we wrote
        try:
            if not os.path.lexists(self.dest):
                os.rename(self.root, self.dest)
                return
            if not _exchange(self.root, self.dest):
                old = self.root.with_name(self.root.name + "-old")
                os.rename(self.dest, old)
                os.rename(self.root, self.dest)
                self.root = old
        except OSError as exc:
            raise refused(exc, self.dest) from None
        self.discard()  # the old site, now at the staging name

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux renameat2); False where that is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove_leftovers(dest: Path) -> None:
    """Staging directories of report runs that were killed (their process is gone)."""
    prefix = f".{dest.name}."
    try:
        names = os.listdir(dest.parent)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and (name.endswith(_STAGE_SUFFIX) or name.endswith(_STAGE_SUFFIX + "-old"))):
            continue
        try:
            pid = int(name[len(prefix) :].split(".")[0])
        except ValueError:
            continue
        path = dest.parent / name
        if not pid_alive(pid) and path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
