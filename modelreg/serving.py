"""What a serving process needs from modelreg: which version it serves, and ids for its predictions.

    from modelreg.serving import identity, prediction_id

    served = identity("/srv/model")            # once, at start-up: verifies the files
    ...
    response["prediction_id"] = prediction_id(served)   # per prediction: no I/O

``identity(path)`` verifies a directory of served files once and says which version it holds:
a copy that ``modelreg get --path`` built is answered from its stamp (a few ``stat`` calls,
whatever the model's size) while its files are unchanged; any other directory (``--output``, a
copy baked into an image) is hashed. Files that differ from the version raise
``modelreg.errors.IntegrityError`` naming them. ``prediction_id`` mints ids that sort by time and
carry the version's digest (format: ``modelreg/records/prediction_ids.py``); ``modelreg which
ID`` turns one back into the version and the environments that served it then.

This module imports nothing outside the standard library and modelreg, and no more of modelreg
than it needs, so it fits a lean serving image (no Typer, no rich).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.records.prediction_ids import mint

__all__ = ["Identity", "identity", "prediction_id"]


@dataclass(frozen=True)
class Identity:
    name: str
    version: int
    digest: str  # sha256:<hex> of the version's file set
    path: str  # the directory verified

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "digest": self.digest, "path": self.path}


def _registry_of(path: Path) -> Path | None:
    """The registry whose cache holds ``path`` (``REG/.modelreg/cache/versions/<digest>``)."""
    parents = path.parents
    if (
        len(parents) >= 4
        and parents[0].name == "versions"
        and parents[1].name == "cache"
        and parents[2].name == ".modelreg"
    ):
        root = parents[3]
        if (root / "modelreg.toml").is_file():
            return root
    return None


def identity(
    path: str | os.PathLike[str], *, registry: str | os.PathLike[str] | None = None, name: str | None = None
) -> Identity:
    """The version whose files ``path`` holds, verified once.

    The registry is ``registry`` (a directory, or a published registry: ``s3://bucket/prefix``),
    else the one whose cache holds ``path``, else ``$MODELREG_REGISTRY`` or the one above the
    working directory. ``name`` chooses among models
    that hold the very same files. Raises ``IntegrityError`` (files differ), ``NotFoundError``
    (no registry, no such version) or ``UsageError`` (not a directory, ambiguous)."""
    from modelreg.ops.deployments.copies import identify
    from modelreg.repo import Repo, find_root
    from modelreg.repo.locate import published_location
    from modelreg.repo.published import PublishedRepo

    directory = Path(os.fspath(path)).absolute()
    root = Path(os.fspath(registry)) if registry is not None else _registry_of(directory)
    published = published_location(None if root is None else os.fspath(registry or root))
    repo = PublishedRepo(published) if published is not None else Repo(find_root(root))
    version = identify(repo, directory, name=name)
    return Identity(version.name, version.version, version.digest, str(directory))


def prediction_id(served: Identity | str) -> str:
    """A new id for a prediction made by ``served`` (an ``Identity``, or a version digest)."""
    return mint(served.digest if isinstance(served, Identity) else served)
