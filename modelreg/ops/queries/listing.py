"""``list``: every model with its latest version and stage holders, or one model's versions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.records.manifest import Version
from modelreg.records.state import ModelState
from modelreg.repo import Repo


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
