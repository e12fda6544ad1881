"""``list``: every model with its latest version and stage holders, or one model's versions."""

from __future__ import annotations

import marshal
import os
import stat
import time
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from modelreg.records.manifest import Version
from modelreg.records.removals import REMOVED_NAME
from modelreg.records.state import ModelState
from modelreg.repo import Repo
from modelreg.repo.published import PublishedRepo


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int | None  # None: every version was removed
    stages: dict[str, Any]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    created_by: str = ""
    aliases: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest_version": self.latest_version,
            "stages": self.stages,
            "aliases": dict(self.aliases),
            "description": self.description,
            "tags": dict(self.tags),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def summary(repo: Repo, name: str, state: ModelState | None = None) -> ModelSummary:
    state = state or repo.state(name)
    index = state.index
    return ModelSummary(
        name=index.name,
        latest_version=state.latest_live,  # issue 13: latest skips removed versions
        stages=state.stage_map(repo.config.stages, repo.config.exclusive),
        description=index.description,
        tags=dict(index.tags),
        created_at=index.created_at,
        created_by=index.created_by,
        aliases=dict(sorted(state.aliases.targets.items())),
    )


def list_models(repo: Repo, *, stage: str | None = None, tags: dict[str, str] | None = None) -> list[ModelSummary]:
    if stage is not None:
        repo.config.check_stage(stage)
    if stage is None and not tags and not isinstance(repo, PublishedRepo):
        return _every_summary(repo)
    result = []
    for name in repo.model_names():
        state = repo.state(name)
        if tags and any(state.index.tags.get(k) != v for k, v in tags.items()):
            continue
        if stage is not None and not state.holders(stage):
            continue
        result.append(summary(repo, name, state))
    return result


def list_versions(
    repo: Repo,
    name: str,
    *,
    stage: str | None = None,
    tags: dict[str, str] | None = None,
    where: list[str] | None = None,
    sort: str | None = None,
    limit: int | None = None,
) -> list[Version]:
    """A model's versions, filtered by stage, tags and ``where`` conditions, sorted and cut
    (see ops/query.py)."""
    from modelreg.ops.queries.query import parse_condition, parse_sort, select

    if stage is not None:
        repo.config.check_stage(stage)
    for text in where or []:
        parse_condition(text)  # a malformed query is refused before anything is read
    if sort is not None:
        parse_sort(sort)
    state = repo.state(name)
    numbers = state.holders(stage) if stage is not None else state.numbers()
    result = [repo.load_version(state, n, cached=False) for n in numbers]
    if tags:
        result = [v for v in result if all(v.tags.get(k) == val for k, val in tags.items())]
    observed = None
    if any(text.lstrip("-").strip().startswith("observed.") for text in [*(where or []), *([sort] if sort else [])]):
        from modelreg.records.observations import latest, observations

        readings = latest(observations(repo.history_view.entries(name)))
        observed = {n: {k: r.value for k, r in found.items()} for n, found in readings.items()}
    return select(result, where, sort, limit, observed)


# -- every model's summary, kept while the files it came from stay the same -----------------------
#
# Listing 1,000 models reads some 4,000 files. Each summary is kept in ``.modelreg/cache/listing``
# with the identity (lstat: device, inode, type, size, modification and change times) of the model's
# directory and of every file it was read from (with a claim engine, the versions directory too),
# and reused only while each identity is the same. No writer chooses a change time (the kernel
# stamps it), so a write, a rename or a link makes a summary stale. A summary is kept only when
# those times were two seconds old as it was made, so a file rewritten within the filesystem's
# timestamp granularity is never taken for the old one (git's "racily clean" rule); identities are
# read before the files, so a change between the two leaves a summary stale, never wrong. The
# cache counts only with this machine's MAC and names the registry and the configuration it was
# made for: one that came with a clone or from another registry is ignored.

_LISTING_PURPOSE = b"modelreg listing cache v1"  # a new version with any change to what an entry holds
_LISTING_LIMIT = 64 << 20
SETTLED_NS = 2_000_000_000
_READ_FROM = ("", "model.yaml", "stages.yaml", "aliases.yaml", REMOVED_NAME)
_FIELDS = 7  # ModelSummary after its name

Identity = tuple[int, int, int, int, int, int] | None  # None: absent
Signature = tuple[Identity, ...]


def _signature(model_dir: str, parts: tuple[str, ...]) -> Signature | None:
    """The identity of a model's directory and files, or None when one is of a kind the slow path
    must judge (a symlink, a directory where a file belongs)."""
    found: list[Identity] = []
    for part in parts:
        try:
            st = os.lstat(f"{model_dir}/{part}" if part else model_dir)
        except FileNotFoundError:
            if part in ("", "model.yaml"):
                return None
            found.append(None)
            continue
        if not (stat.S_ISDIR(st.st_mode) if part in ("", "versions") else stat.S_ISREG(st.st_mode)):
            return None
        found.append((st.st_dev, st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(found)


def _settled(signature: Signature, before: int) -> bool:
    return all(item is None or (item[4] < before and item[5] < before) for item in signature)


def _matches(hit: Any, signature: Signature) -> bool:
    return (
        isinstance(hit, tuple)
        and len(hit) == 2
        and hit[0] == signature
        and isinstance(hit[1], tuple)
        and len(hit[1]) == _FIELDS
    )


def _every_summary(repo: Repo) -> list[ModelSummary]:
    from modelreg.base.fs import atomic_write, read_own
    from modelreg.base.machine import seal, unseal
    from modelreg.errors import StorageError

    path = repo.tree.inside(repo.state_dir / "cache" / "listing")
    config = repo.config
    key = repr((str(repo.root), config.stages, sorted(config.exclusive), config.claims.engine))
    parts = _READ_FROM + (("versions",) if config.claims.engine else ())
    cached: dict[str, Any] = {}
    raw = read_own(path, _LISTING_LIMIT)
    data = unseal(raw, _LISTING_PURPOSE) if raw is not None else None
    if data is not None:
        with suppress(ValueError, EOFError, TypeError):
            loaded = marshal.loads(data)
            if isinstance(loaded, tuple) and len(loaded) == 2 and loaded[0] == key and isinstance(loaded[1], dict):
                cached = loaded[1]
    settled_before = time.time_ns() - SETTLED_NS
    models_dir = str(repo.root / "models")
    kept: dict[str, Any] = {}
    result = []
    for name in repo.model_names():
        signature = _signature(f"{models_dir}/{name}", parts)
        hit: Any = cached.get(name)
        if signature is not None and _matches(hit, signature):
            result.append(ModelSummary(name, *hit[1]))
            kept[name] = hit
            continue
        item = summary(repo, name)
        result.append(item)
        if signature is not None and _settled(signature, settled_before):
            fields = (item.latest_version, item.stages, item.description, item.tags, item.created_at)
            kept[name] = (signature, (*fields, item.created_by, item.aliases))
    if kept != cached:
        # A registry that cannot be written is listed the slow way each time.
        with suppress(OSError, ValueError, StorageError):
            sealed = seal(marshal.dumps((key, kept)), _LISTING_PURPOSE)
            if sealed is not None:
                atomic_write(path, sealed, durable=False)
    return result
