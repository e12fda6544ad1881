"""``deploy-check NAME --env ENV --path DIR``: a readiness probe.

Passes when DIR holds exactly the files of the version the registry records for NAME in ENV;
otherwise an integrity error (exit 5) naming each difference. A stamped served copy is checked
without reading its bytes (``copies.differences``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import NotFoundError
from modelreg.records.manifest import Version
from modelreg.repo import Repo

from .copies import differences, drift
from .deploy import check_env


@dataclass
class DeployCheckResult:
    env: str
    version: Version
    path: Path
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "model": self.version.name,
            "version": self.version.version,
            "digest": self.version.digest,
            "path": str(self.path),
            "ok": True,
        }


def deploy_check(repo: Repo, name: str, env: str, path: Path) -> DeployCheckResult:
    check_env(env)
    state = repo.state(name)
    found = repo.deployments(name)
    held = found.envs.get(env) if found is not None else None
    if held is None:
        raise NotFoundError(
            f"{name!r} is not deployed in {env!r}; see: modelreg deployed --env {env}", code="not_deployed"
        )
    version = repo.load_version(state, held.version)
    problems = differences(repo, version, path)
    if problems:
        raise drift(path, version, problems)
    return DeployCheckResult(env, version, path.absolute())
