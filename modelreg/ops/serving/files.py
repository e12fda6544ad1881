"""``get``, ``get-production`` and ``export`` as one call: a version and where its verified files are.

``output`` writes the files into a directory (all or nothing); ``path`` locates the served copy
in the cache. ``strict`` decides what a copy that cannot be built means: an error (``get
--path``, which has nothing else to say), or ``path`` None and a warning (``get --json``: the
caller still learns which version it is, from a clone without the blobs, a remote that is down
or a registry it cannot write).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.base.effects import Reported, current
from modelreg.errors import ConflictError, NotFoundError, RemoteError, StorageError

if TYPE_CHECKING:
    from modelreg.records.manifest import Version
    from modelreg.repo import Repo


@dataclass(frozen=True)
class Served(Reported):
    """A version handed out: ``output`` the directory its files were written to (or None),
    ``path`` the directory holding its verified files (None when it could not be built), and
    ``located`` whether the path was asked for at all (``path`` is then in the JSON)."""

    version: Version
    output: Path | None = None
    path: Path | None = None
    located: bool = False
    files: tuple[Path, ...] = ()  # what ``output`` holds now
    document: dict[str, Any] | None = None  # the version as shown, its files judged (set by the registry)

    @property
    def size(self) -> int:
        return sum(f.size for f in self.version.files)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.document) if self.document is not None else self.version.to_json()
        if self.output is not None:
            data["output"] = str(self.output)
        if self.located:
            data["path"] = None if self.path is None else str(self.path)
        return data


def refuse_removed(version: Version) -> None:
    """A removed version is a recall: its files are not handed out any more."""
    if version.removed:
        removal = version.removed
        raise ConflictError(
            f"{version.name}@{version.version} was removed {removal['removed_at']} by {removal['removed_by']} "
            f"({removal['reason']}); its files are not served",
            code="removed",
        )


def serve(
    repo: Repo,
    version: Version,
    *,
    output: Path | None = None,
    path: bool = True,
    strict: bool = False,
    progress: Callable[[int], None] | None = None,
    planned: Callable[[int, str], None] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Served:
    """``extra`` names more files written into ``output`` beside the version's (a signature)."""
    size = sum(f.size for f in version.files)
    copies = (output is not None) + (path and (output is None or strict))
    if planned is not None:
        # an unchanged served copy moves nothing: the caller's bar then never starts
        planned(size * copies, f"{version.name}@{version.version}")
    files: tuple[Path, ...] = ()
    written: Path | None = None
    if output is not None:
        from modelreg.ops.serving.destination import export

        refuse_removed(version)
        files = tuple(export(repo, version, output, progress=progress, extra=extra))
        written = output.resolve()
    located: Path | None = None
    if path and written is not None and not strict:
        located = written  # the files just written are verified: no second copy needed
    elif path:
        located = _locate(repo, version, strict, progress)
    return Served(version, written, located, path, files)


def _locate(repo: Repo, version: Version, strict: bool, progress: Callable[[int], None] | None) -> Path | None:
    from modelreg.ops.serving.served_copy import materialize

    refuse_removed(version)
    if strict:
        return materialize(repo, version, progress=progress)
    try:
        return materialize(repo, version, progress=progress)
    except (NotFoundError, RemoteError, StorageError) as exc:
        current().warnings.append(exc.message)
        return None
