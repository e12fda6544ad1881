"""``annotate``: the description and tags of a model or a version, its only mutable parts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError, NotFoundError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.records.journal import Change
from modelreg.records.names import validate_key, validate_name
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.state import ModelIndex
from modelreg.repo import Repo

CREATED = "model created"  # the reason of the annotate entry that creates a model with no version


@dataclass(frozen=True)
class AnnotateResult(Reported):
    name: str
    version: int | None
    description: str
    tags: dict[str, str]
    changed: bool
    missing_tags: tuple[str, ...] = ()  # --untag keys that were not set

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "tags": self.tags,
            "changed": self.changed,
            **self.effects_json(),
        }


def annotate(
    repo: Repo,
    target: Ref | str,
    *,
    description: str | None = None,
    set_tags: dict[str, str] | None = None,
    unset_tags: list[str] | None = None,
    actor: str | None = None,
) -> AnnotateResult:
    """Change the description and tags of a model (NAME) or a version (NAME@REF)."""
    from modelreg.ops.capture.lineage import author
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(target, str):
        target = parse_ref(target)
    if description is not None:
        check_text(description, "description")
    set_tags = {validate_key(k, "tag"): v for k, v in (set_tags or {}).items()}
    unset = [validate_key(k, "tag") for k in (unset_tags or [])]
    who = author(actor)
    name = target.name
    with repo.model_lock(name):
        state = repo.locked_state(name)
        if target.explicit:
            version = resolve_in(repo, state, target)
            old_desc, old_tags = version.description, version.tags
        else:
            version = None
            old_desc, old_tags = state.index.description, state.index.tags
        new_desc = old_desc if description is None else description
        missing = tuple(k for k in unset if k not in old_tags)
        new_tags = {k: v for k, v in {**old_tags, **set_tags}.items() if k not in unset}
        number = version.version if version else None
        if new_desc == old_desc and new_tags == old_tags:
            return AnnotateResult(name, number, new_desc, new_tags, False, missing)
        change = Change(name)
        if version is not None:
            updated = replace(version, description=new_desc, tags=new_tags)
            write_yaml(repo, change, repo.manifest_path(name, version.version), updated.to_manifest())
        else:
            index = replace(_index_on_disk(repo, name, state.index), description=new_desc, tags=new_tags)
            write_yaml(repo, change, repo.model_dir(name) / "model.yaml", index.to_yaml_data())
        changed_keys = sorted(k for k in {*old_tags, *new_tags} if old_tags.get(k) != new_tags.get(k))
        detail = ("description" if new_desc != old_desc else "") + (
            (" tags " + ",".join(changed_keys)) if changed_keys else ""
        )
        change.records.append(record("annotate", name, number, actor=who, reason=detail.strip()))
        entries = repo.commit(change)
    hooks.after(repo, entries)  # issue 13: once the lock is released
    return AnnotateResult(name, number, new_desc, new_tags, True, missing)


def _index_on_disk(repo: Repo, name: str, seen: ModelIndex) -> ModelIndex:
    """The model file as it is, to change its annotations only. With a claim engine the state
    seen is a view (the latest version and the stages versions started in come from per-version
    files): writing the view back would put those into the model file, where clones meet."""
    if not repo.config.claims.engine:
        return seen
    return ModelIndex.parse(repo.load(repo.model_dir(name) / "model.yaml", "model file", cached=False))


def create_model(
    repo: Repo, name: str, *, description: str = "", tags: dict[str, str] | None = None, actor: str | None = None
) -> AnnotateResult:
    """A model with no version yet, its description and tags (an ``annotate`` entry): clients
    such as MLflow's create the model first and register into it later. An existing model is
    refused (code ``model_exists``)."""
    from modelreg.ops.capture.lineage import author

    validate_name(name)
    check_text(description, "description")
    tags = {validate_key(k, "tag"): v for k, v in (tags or {}).items()}
    who = author(actor)
    with repo.model_lock(name, new=True):
        try:
            repo.locked_state(name)
        except NotFoundError:
            pass
        else:
            raise ConflictError(f"model {name!r} already exists", code="model_exists")
        entry = record("annotate", name, None, actor=who, reason=CREATED)
        index = ModelIndex(name, entry["time"], who, repo.config.default_stage, description=description, tags=tags)
        change = Change(name)
        write_yaml(repo, change, repo.model_dir(name) / "model.yaml", index.to_yaml_data())
        change.records.append(entry)
        entries = repo.commit(change)
    hooks.after(repo, entries)
    return AnnotateResult(name, None, description, dict(tags), True)
