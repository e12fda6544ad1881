"""``deploy`` and ``undeploy``: recording that an environment now serves a version of a model.

Each is one journaled change of the model: its ``deployments.yaml`` rewritten and one audit
entry (``deploy`` with the ``env``, the version's ``digest`` and the ``previous`` version served
there; ``undeploy`` with the version it took out), then the event's hooks once the lock is
released. An environment's rule (``[environments.ENV] stage``) is checked under the model's lock
against the state the change is made on, so a refusal changes nothing.

With a claim engine (§ Teams), ``deployments.yaml`` is one of the model's pointer files: the
commit compares-and-swaps the model's pointers on the engine like ``promote`` does, so a clone that
has not seen another clone's deploy is refused (exit 4, run ``modelreg sync``) and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import ConflictError, NotFoundError, PolicyError, UsageError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.records.deployments import Deployment, DeploymentFile
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.names import NAME_RULE, is_valid_name
from modelreg.records.refs import Ref, parse_ref
from modelreg.repo import Repo


def check_env(env: str) -> str:
    """An environment follows the model-name rule (exit 2 otherwise)."""
    if not is_valid_name(env):
        raise UsageError(
            f"invalid environment {env!r}: {NAME_RULE.replace('a model name', 'an environment name')}",
            code="invalid_name",
        )
    return env


@dataclass
class DeployResult:
    env: str
    version: Version
    since: str
    by: str
    previous: int | None  # the version the environment served before (None: none)
    changed: bool
    hooks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.version.name,
            "version": self.version.version,
            "digest": self.version.digest,
            "since": self.since,
            "by": self.by,
            "previous": self.previous,
            "changed": self.changed,
            "hooks": list(self.hooks),
        }


@dataclass
class UndeployResult:
    env: str
    model: str
    version: int  # the version the environment stopped serving
    hooks: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.model,
            "version": self.version,
            "changed": True,
            "hooks": list(self.hooks),
        }


def _refuse(repo: Repo, env: str, version: Version) -> None:
    """The environment's rule, and what no environment may serve."""
    if version.removed:
        raise ConflictError(f"{version.name}@{version.version} was removed; it may not be deployed", code="removed")
    rule = repo.config.policy.environment(env)
    if rule.stage is not None and version.stage != rule.stage:
        detail = f"{version.name}@{version.version} is in {version.stage!r}, not {rule.stage!r}"
        raise PolicyError(
            f"deploy of {version.name}@{version.version} to {env} refused: environment {env!r} serves only "
            f"versions in {rule.stage!r} ({detail}); promote it first",
            failed=[{"rule": f"environments.{env}.stage = {rule.stage}", "passed": False, "detail": detail}],
        )


def deploy(
    repo: Repo, ref: Ref | str, env: str, *, reason: str | None = None, actor: str | None = None
) -> DeployResult:
    """Record that ``env`` now serves the version ``ref`` names (replacing what it served of the model)."""
    from modelreg.ops.capture.lineage import author
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    check_env(env)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    ran, warned = len(repo.hook_runs), len(repo.warnings)
    with repo.model_lock(ref.name):
        state = repo.locked_state(ref.name)
        version = resolve_in(repo, state, ref)
        _refuse(repo, env, version)
        current = repo.deployments(ref.name) or DeploymentFile(ref.name)
        held = current.envs.get(env)
        if held is not None and held.version == version.version:
            return DeployResult(env, version, held.since, held.by, held.version, False)
        entry = record(
            "deploy",
            ref.name,
            version.version,
            actor=who,
            reason=reason,
            env=env,
            digest=version.digest,
            previous=held.version if held else None,
        )
        after = current.with_env(env, Deployment(version.version, entry["time"], entry["actor"]))
        entries = _commit(repo, ref.name, after, entry)
    hooks.after(repo, entries)
    return DeployResult(
        env,
        version,
        entry["time"],
        entry["actor"],
        held.version if held else None,
        True,
        repo.hook_runs[ran:],
        repo.warnings[warned:],
    )


def undeploy(repo: Repo, name: str, env: str, *, reason: str | None = None, actor: str | None = None) -> UndeployResult:
    """Record that ``env`` no longer serves any version of ``name``."""
    from modelreg.ops.capture.lineage import author

    check_env(env)
    if reason is not None:
        check_text(reason, "reason")
    who = author(actor)
    ran, warned = len(repo.hook_runs), len(repo.warnings)
    with repo.model_lock(name):
        repo.locked_state(name)
        current = repo.deployments(name) or DeploymentFile(name)
        held = current.envs.get(env)
        if held is None:
            raise NotFoundError(
                f"{name!r} is not deployed in {env!r}; see: modelreg deployed --model {name}", code="not_deployed"
            )
        entry = record("undeploy", name, held.version, actor=who, reason=reason, env=env)
        entries = _commit(repo, name, current.with_env(env, None), entry)
    hooks.after(repo, entries)
    return UndeployResult(env, name, held.version, repo.hook_runs[ran:], repo.warnings[warned:])


def _commit(repo: Repo, name: str, after: DeploymentFile, entry: dict[str, Any]) -> list[dict[str, Any]]:
    change = Change(name)
    write_yaml(repo, change, repo.deployments_path(name), after.to_yaml_data())
    change.records.append(entry)
    return repo.commit(change)
