"""A directory of served files against a version: the same files, or what differs.

A served copy that ``get --path`` built carries a stamp (``ops/served_copy.py``): while its
files keep the inode, size, mtime and ctime they had when verified, it is answered without
reading a byte, so a probe of a large model costs a few ``stat`` calls. A destination this
machine wrote with ``--output`` or ``export`` is answered the same way from the record it keeps
of what it wrote there (``ops/serve.py``). Any other directory (a container image's copy, one
edited since) is hashed file by file. Symbolic links are
never followed: a link where a file should be is a difference.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from modelreg.errors import IntegrityError, NotFoundError, UsageError
from modelreg.ops.serving.destination import output_digest
from modelreg.ops.serving.served_copy import stamp_matches, stamped_digest
from modelreg.records.manifest import FileEntry, Version, file_set_digest
from modelreg.repo import Repo
from modelreg.stores.hashing import sha256_file

_HEX64 = re.compile(r"[0-9a-f]{64}")
MAX_SHOWN = 5


def _walk(directory: Path) -> tuple[dict[str, Path], list[str]]:
    """The regular files under ``directory`` by relative path, and what is neither a file nor a
    directory (links, FIFOs), never following a link."""
    files: dict[str, Path] = {}
    odd: list[str] = []
    for top, dirs, names in os.walk(directory):
        base = Path(top)
        rel = base.relative_to(directory).as_posix()
        prefix = "" if rel == "." else rel + "/"
        for d in list(dirs):
            if os.path.islink(base / d):
                odd.append(prefix + d)
                dirs.remove(d)
        for n in names:
            if stat.S_ISREG(os.lstat(base / n).st_mode):
                files[prefix + n] = base / n
            else:
                odd.append(prefix + n)
    return files, sorted(odd)


def _check_dir(directory: Path) -> None:
    if os.path.islink(directory) or not directory.is_dir():
        raise UsageError(f"{directory} is not a directory", code="invalid_path")


def differences(repo: Repo, version: Version, directory: Path) -> list[str]:
    """How ``directory`` differs from ``version``'s files ([] when it holds exactly them)."""
    _check_dir(directory)
    if stamp_matches(version, directory.absolute()) or output_digest(repo, directory) == version.digest:
        return []
    files, odd = _walk(directory)
    wanted = {e.path: e for e in version.files}
    found = [f"{p}: not a regular file (a link?)" for p in odd]
    found += [f"{p}: missing" for p in sorted(set(wanted) - set(files) - set(odd))]
    found += [f"{p}: not a file of {version.name}@{version.version}" for p in sorted(set(files) - set(wanted))]
    for path in sorted(set(files) & set(wanted)):
        entry = wanted[path]
        digest, size = sha256_file(files[path], entry.size + 1)
        if (digest, size) != (entry.digest, entry.size):
            found.append(f"{path}: content differs from the version's ({'size' if size != entry.size else 'bytes'})")
    return found


def hashed_digest(directory: Path) -> str:
    """The file-set digest of what ``directory`` holds (every byte read)."""
    _check_dir(directory)
    files, odd = _walk(directory)
    if odd:
        raise IntegrityError(
            f"{directory / odd[0]} is not a regular file: a served copy holds only files", code="drift"
        )
    entries = []
    for rel, path in files.items():
        digest, size = sha256_file(path)
        entries.append(FileEntry(rel, size, digest))
    return file_set_digest(entries)


def versions_with_digest(repo: Repo, prefix: str, *, name: str | None = None) -> list[Version]:
    """Versions whose digest starts with ``sha256:<prefix>``, found through the register entries'
    digest index (no scan of every manifest) and confirmed against each version's manifest."""
    found: list[Version] = []
    seen: set[tuple[str, int]] = set()
    for entry in repo.history_view.registered(prefix):
        model, number = entry.get("model"), entry.get("version")
        if not isinstance(model, str) or not isinstance(number, int) or (model, number) in seen:
            continue
        if name is not None and model != name:
            continue
        seen.add((model, number))
        try:
            version = repo.load_version(repo.state(model), number)
        except (NotFoundError, IntegrityError, UsageError):
            continue  # a model or version the files no longer have: verify reports it
        if version.digest.startswith("sha256:" + prefix):
            found.append(version)
    return sorted(found, key=lambda v: (v.name, v.version))


def identify(repo: Repo, directory: Path, *, name: str | None = None) -> Version:
    """The version ``directory`` holds, verified: by its stamp or output record when valid, else
    by its bytes.

    A served copy of ``get --path`` names its version's digest (the directory's name), so a copy
    that changed since is an integrity error naming the files; any other directory is hashed
    and must be some version's files. ``name`` chooses among versions with the same files."""
    _check_dir(directory)
    directory = directory.absolute()
    # What the directory is meant to hold: its stamp's version, the version this machine wrote
    # there (even if it changed since: the difference is then named), or its cache name.
    digest = stamped_digest(directory) or output_digest(repo, directory, unchanged=False)
    if digest is None and _HEX64.fullmatch(directory.name) and directory.parent.name == "versions":
        digest = "sha256:" + directory.name  # a served copy whose stamp no longer holds
    if digest is None:
        digest = hashed_digest(directory)
        candidates = versions_with_digest(repo, digest.removeprefix("sha256:"), name=name)
        if not candidates:
            raise IntegrityError(
                f"{directory} does not hold the files of any version{f' of {name!r}' if name else ''} of "
                f"{repo.root} (its files' digest is {digest})",
                code="drift",
            )
    else:
        candidates = versions_with_digest(repo, digest.removeprefix("sha256:"), name=name)
        if not candidates:
            raise NotFoundError(f"no version of {repo.root} has digest {digest} (served from {directory})")
    live = [v for v in candidates if not v.removed] or candidates
    if len(live) > 1:
        listed = ", ".join(f"{v.name}@{v.version}" for v in live)
        raise UsageError(
            f"{directory} holds the files of several versions ({listed}); name the model", code="ambiguous_ref"
        )
    version = live[0]
    problems = differences(repo, version, directory)
    if problems:
        raise drift(directory, version, problems)
    return version


def drift(directory: Path, version: Version, problems: list[str]) -> IntegrityError:
    shown = "; ".join(problems[:MAX_SHOWN]) + (
        f"; and {len(problems) - MAX_SHOWN} more" if len(problems) > MAX_SHOWN else ""
    )
    error = IntegrityError(f"{directory} differs from {version.name}@{version.version}: {shown}", code="drift")
    error.details = {"differences": problems}
    return error
