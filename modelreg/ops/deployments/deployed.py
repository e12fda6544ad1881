"""``deployed``: what runs where, now or at any moment.

Now is read from the models' ``deployments.yaml`` files. A moment (``--at``) is replayed from
the history of each model that was ever deployed (those with the file, or the one ``--model``
names), read through the per-model history view: other models' entries cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import ModelregError
from modelreg.records.refs import parse_time
from modelreg.records.timeline import replay
from modelreg.repo import Repo

from .deploy import check_env


@dataclass(frozen=True)
class Row:
    env: str
    model: str
    version: int
    digest: str | None  # None: the manifest could not be read (verify says why)
    since: str
    by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
            "since": self.since,
            "by": self.by,
        }


@dataclass
class DeployedResult:
    at: str | None  # the moment asked about (None: now)
    deployments: list[Row] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "deployments": [r.to_json() for r in self.deployments]}


def deployed_models(repo: Repo) -> list[str]:
    """Models that were ever deployed: those with a deployment file."""
    return [m for m in repo.model_names() if repo.tree.inside(repo.deployments_path(m)).is_file()]


def _digest(repo: Repo, model: str, number: int, cache: dict[tuple[str, int], str | None]) -> str | None:
    key = (model, number)
    if key not in cache:
        try:
            cache[key] = repo.load_version(repo.state(model), number).digest
        except ModelregError:
            cache[key] = None
    return cache[key]


def deployed(repo: Repo, *, env: str | None = None, model: str | None = None, at: str | None = None) -> DeployedResult:
    """Every deployment (of ``model``, to ``env``), now or at ``at`` (as inside ``@{...}``)."""
    if env is not None:
        check_env(env)
    moment = parse_time(at) if at is not None else None
    if model is not None:
        repo.state(model)  # an unknown model is not found, not an empty answer
        models = [model]
    else:
        models = deployed_models(repo)
    digests: dict[tuple[str, int], str | None] = {}
    rows: list[Row] = []
    for name in models:
        if moment is None:
            found = repo.deployments(name)
            now = {} if found is None else {e: (d.version, d.since, d.by) for e, d in found.envs.items()}
        else:
            now = replay(repo.history_view.entries(name), moment).deployed
        for where, (number, since, by) in now.items():
            if env is None or where == env:
                rows.append(Row(where, name, number, _digest(repo, name, number, digests), since, by))
    rows.sort(key=lambda r: (r.env, r.model))
    return DeployedResult(moment, rows)


def environments_of(repo: Repo, model: str, version: int, moment: str) -> list[str]:
    """The environments that served ``model@version`` at ``moment``, by the model's history."""
    timeline = replay(repo.history_view.entries(model), moment)
    return sorted(e for e, (number, _, _) in timeline.deployed.items() if number == version)
