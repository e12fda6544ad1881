"""``ModelregArtifactRepository``: a version's files for the ``modelreg:`` download URIs the store
gives (entry point ``mlflow.artifact_repository``), so ``models:/NAME@ALIAS``, ``models:/NAME/STAGE``
and ``models:/NAME/N`` load from the registry.

The files come from the registry's verified copy of the version (``Registry.materialize``, which
fetches missing blobs from the remote), and every byte handed to MLflow is hashed again on the
way out and checked against the version's manifest. Writing is refused: a version's files are
written once, by a register.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from mlflow.entities import FileInfo
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as codes
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from modelreg.registry import Registry

from . import uris
from .errors import invalid, not_found, translated

if TYPE_CHECKING:
    from modelreg.records.manifest import FileEntry, Version

_CHUNK = 1 << 20


class ModelregArtifactRepository(ArtifactRepository):
    """MLflow may open the repository at a version (``.../versions/N``) or, splitting a URI
    into a parent and a name, at its parent (``.../versions`` with paths ``N/...``): every path
    is joined to the URI's and read as ``REGISTRY/models/NAME/versions/N[/path]``."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None) -> None:
        super().__init__(artifact_uri, tracking_uri, registry_uri)
        parsed = urlparse(artifact_uri)
        if parsed.scheme != uris.SCHEME or parsed.netloc or parsed.query or parsed.fragment:
            invalid(f"not a modelreg download URI: {artifact_uri!r}")
        self.base = posixpath.normpath(unquote(parsed.path))
        if not self.base.startswith("/"):
            invalid(f"not a modelreg download URI: {artifact_uri!r}")

    # -- reading ---------------------------------------------------------------
    def _locate(self, path: str | None) -> tuple[uris.VersionFiles, Registry, Version]:
        parts = [p for p in (path or "").split("/") if p not in ("", ".")]
        if ".." in parts:
            invalid(f"{path!r} leaves the version's files")
        full = posixpath.join(self.base, *parts)
        try:
            where = uris.version_files(uris.SCHEME + "://" + quote(full))
        except uris.BadUri as exc:
            invalid(str(exc))
        with translated():
            registry = Registry(where.root)
            version = registry.resolve(f"{where.name}@{where.number}")
        if version.removed:
            not_found(f"Model Version (name={where.name}, version={where.number}) not found: it was removed")
        return where, registry, version

    def _shown(self, where: uris.VersionFiles, inside: str) -> str:
        """A path of the version's files as MLflow knows it: relative to the repository's URI."""
        top = posixpath.join(where.root.as_posix(), "models", where.name, "versions", str(where.number))
        return posixpath.relpath(posixpath.join(top, inside), self.base)

    @staticmethod
    def _chosen(version: Version, inside: str) -> list[FileEntry]:
        exact = [f for f in version.files if f.path == inside]
        return exact or [f for f in version.files if not inside or f.path.startswith(inside + "/")]

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        where, _, version = self._locate(path)
        prefix = where.subpath
        seen: dict[str, FileInfo] = {}
        for entry in version.files:
            if prefix and not entry.path.startswith(prefix + "/"):
                continue
            rest = entry.path[len(prefix) + 1 :] if prefix else entry.path
            head, sep, _ = rest.partition("/")
            shown = self._shown(where, f"{prefix}/{head}" if prefix else head)
            seen[shown] = FileInfo(shown, True, None) if sep else FileInfo(shown, False, entry.size)
        return [seen[k] for k in sorted(seen)]

    def download_artifacts(self, artifact_path: str | None, dst_path: str | None = None) -> str:
        where, registry, version = self._locate(artifact_path)
        chosen = self._chosen(version, where.subpath)
        if not chosen:
            not_found(f"{version.name}@{version.version} has no file or folder {where.subpath!r}")
        if dst_path:
            dst = Path(dst_path).absolute()
            if not dst.is_dir():
                raise MlflowException(
                    f"The destination path for downloaded artifacts does not exist or is no directory: {dst}",
                    error_code=codes.RESOURCE_DOES_NOT_EXIST,
                )
        else:
            dst = Path(tempfile.mkdtemp(prefix="modelreg-"))
        with translated():
            served = registry.materialize(version)
        for entry in chosen:
            _copy_verified(served, entry, dst / self._shown(where, entry.path))
        asked = self._shown(where, where.subpath) if where.subpath else self._shown(where, "")
        return str(dst if asked == "." else dst / asked)

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        where, registry, version = self._locate(remote_file_path)
        entry = next((f for f in version.files if f.path == where.subpath), None)
        if entry is None:
            not_found(f"{version.name}@{version.version} has no file {where.subpath!r}")
        with translated():
            served = registry.materialize(version)
        _copy_verified(served, entry, Path(local_path))

    # -- writing: refused --------------------------------------------------------
    def _refuse(self, *_: Any, **__: Any) -> None:
        raise MlflowException(
            "a modelreg version's files are written once, when it is registered; register a new version",
            error_code=codes.INVALID_STATE,
        )

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        self._refuse()

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        self._refuse()

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        self._refuse()


def _copy_verified(served: Path, entry: FileEntry, target: Path) -> None:
    """Copy one file of the served copy to ``target``, hashing it on the way: a byte that differs
    from the manifest's digest fails the download (DATA_LOSS) and leaves no file behind."""
    parts = entry.path.split("/")
    if any(p in ("", ".", "..") for p in parts):  # never written outside the destination
        invalid(f"refusing the stored path {entry.path!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".modelreg-partial")
    digest = hashlib.sha256()
    try:
        with open(served.joinpath(*parts), "rb") as src, open(partial, "wb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        if "sha256:" + digest.hexdigest() != entry.digest:
            raise MlflowException(
                f"{entry.path}: its bytes do not match the version's digest {entry.digest}; "
                "run `modelreg verify` on the registry",
                error_code=codes.DATA_LOSS,
            )
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
