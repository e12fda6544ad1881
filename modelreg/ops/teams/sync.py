"""``sync`` and ``remote check``: this clone against its claim engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import NotFoundError, RemoteError, StorageError, UsageError
from modelreg.ops.teams.base import unreachable
from modelreg.ops.teams.check import CheckReport, check_backend, check_engine, remember
from modelreg.ops.teams.engine import Engine, ObjectEngine, open_engine
from modelreg.ops.teams.pointers import ModelSync, sync_models
from modelreg.repo import Repo


@dataclass(frozen=True)
class SyncResult(Reported):
    engine: str
    models: list[ModelSync] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "models": [m.to_json() for m in self.models], **self.effects_json()}


def _remote_engine(repo: Repo) -> Engine:
    from modelreg.stores.remotes.backend import Retrying
    from modelreg.stores.remotes.blob_remote import BlobRemote

    remote = repo.remote() if repo.config.remote_url() else None
    if not isinstance(remote, BlobRemote):
        raise UsageError(
            "this registry has neither a claim engine ([claims]) nor a [remote] store to check", code="no_engine"
        )
    return ObjectEngine(Retrying(remote.backend, attempts=3, pause=0.1))


def sync(repo: Repo, name: str | None = None) -> SyncResult:
    engine = open_engine(repo)
    if engine is None:
        repo.warnings.append("this registry has no claim engine ([claims] in modelreg.toml): nothing to sync")
        return SyncResult("")
    names = [name] if name is not None else repo.model_names()
    if name is not None:
        repo.state(name)  # an unknown model is "not found"
    try:
        from modelreg.ops.teams.git_engine import GitEngine

        if isinstance(engine, GitEngine):
            engine.fetch_all()  # the claims and pointers refs, never the user's branch
        models = sync_models(repo, engine, names)
    except (RemoteError, NotFoundError, StorageError) as exc:
        raise unreachable(engine, exc) from exc
    return SyncResult(engine.name, models)


def remote_check(repo: Repo) -> CheckReport:
    """Check the claim engine, or without one the [remote] store (before it becomes one)."""
    engine = open_engine(repo) if repo.config.claims.engine else _remote_engine(repo)
    assert engine is not None
    try:
        report = check_backend(engine.backend) if isinstance(engine, ObjectEngine) else check_engine(engine)
    except (RemoteError, NotFoundError, StorageError) as exc:
        raise unreachable(engine, exc) from exc
    remember(report)
    return report
