"""``stats [NAME]``: logical bytes (what the versions hold) against stored bytes (what the store
keeps for them, each blob and chunk once), per model and in total."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from modelreg.base.effects import Accumulated
from modelreg.errors import IntegrityError, NotFoundError
from modelreg.records.manifest import Version
from modelreg.repo import Repo


@dataclass
class Usage:
    name: str
    versions: int = 0
    files: int = 0
    logical: int = 0
    stored: int = 0
    missing: int = 0  # logical bytes of files this store does not hold (pull fetches them)
    _blobs: set[str] = field(default_factory=set, repr=False)
    _chunks: set[bytes] = field(default_factory=set, repr=False)

    @property
    def saving(self) -> float:
        return 0.0 if not self.logical else max(0.0, 1 - self.stored / self.logical)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "versions": self.versions,
            "files": self.files,
            "logical_bytes": self.logical,
            "stored_bytes": self.stored,
            "missing_bytes": self.missing,
            "saving": round(self.saving, 4),
        }


@dataclass
class Stats(Accumulated):
    format_version: int
    models: list[Usage]
    total: Usage
    on_disk: int  # bytes of the store's files, garbage included (gc removes what nothing references)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "models": [m.to_json() for m in self.models],
            "total": {**self.total.to_json(), "on_disk_bytes": self.on_disk},
        }


def stats(reg: Repo, name: str | None = None) -> Stats:
    names = [name] if name is not None else reg.model_names()
    total = Usage("total")
    models = []
    for model in names:
        usage = Usage(model)
        for version in reg.versions(model):
            if version.removed:
                continue  # a recall's bytes are garbage (gc takes them), not what the registry holds
            _count(reg, version, usage)
            _count(reg, version, total)
        models.append(usage)
    return Stats(reg.config.format_version, models, total, _on_disk(reg))


def _count(reg: Repo, version: Version, usage: Usage) -> None:
    usage.versions += 1
    store = reg.blobs
    for entry in version.files:
        usage.files += 1
        usage.logical += entry.size
        if entry.digest in usage._blobs:
            continue
        usage._blobs.add(entry.digest)
        if store.is_whole(entry.digest):
            usage.stored += entry.size
            continue
        try:
            recipe = store.chunks.recipe(entry.digest, entry.size)
        except (NotFoundError, IntegrityError):
            usage.missing += entry.size
            continue
        index = store.chunks.index()
        for cid, n in recipe.chunks:
            if cid not in usage._chunks and cid in index:
                usage._chunks.add(cid)
                usage.stored += n


def _on_disk(reg: Repo) -> int:
    total = 0
    root = reg.tree.inside(reg.blobs.root / "x").parent
    for dirpath, _dirs, files in os.walk(root):
        for fname in files:
            try:
                total += os.lstat(os.path.join(dirpath, fname)).st_size
            except OSError:
                continue
    return total
