"""``models/NAME/deployments.yaml``: which version of the model each environment serves now.

One small file per model, like ``stages.yaml``: ``deploy`` and ``undeploy`` rewrite only it, so
two git branches that deploy different models merge without conflict, and a register or a
promotion of the same model on another branch never touches it. ``since`` and ``by`` repeat
what the ``deploy`` audit entry that put the version there says (its ``time`` and ``actor``):
the audit log is the truth and ``verify`` replays it against this file.

```yaml
format_version: 1
name: churn
deployments:
  prod-eu: {version: 3, since: '2026-11-20T09:00:00.000000Z', by: ada}
```

A model that was deployed once keeps its file (possibly with no deployments): the models that
ever ran anywhere are the ones with this file, which is what ``deployed --at`` replays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .manifest import SchemaError
from .names import MAX_VERSION, is_valid_name

DEPLOYMENTS_FORMAT = 1
DEPLOYMENTS_NAME = "deployments.yaml"


@dataclass(frozen=True)
class Deployment:
    version: int
    since: str  # the time of the deploy entry that put this version there
    by: str  # its actor

    def to_yaml_data(self) -> dict[str, Any]:
        return {"version": self.version, "since": self.since, "by": self.by}


@dataclass(frozen=True)
class DeploymentFile:
    name: str
    envs: dict[str, Deployment] = field(default_factory=dict)  # environment -> what it serves

    def to_yaml_data(self) -> dict[str, Any]:
        return {
            "format_version": DEPLOYMENTS_FORMAT,
            "name": self.name,
            "deployments": {env: d.to_yaml_data() for env, d in sorted(self.envs.items())},
        }

    def with_env(self, env: str, deployment: Deployment | None) -> DeploymentFile:
        envs = {e: d for e, d in self.envs.items() if e != env}
        if deployment is not None:
            envs[env] = deployment
        return DeploymentFile(self.name, envs)

    @classmethod
    def parse(cls, data: Any) -> DeploymentFile:
        if not isinstance(data, dict) or data.get("format_version") != DEPLOYMENTS_FORMAT:
            raise SchemaError("not a deployment file of a supported format_version")
        name, envs = data.get("name"), data.get("deployments") or {}
        if not isinstance(name, str) or not isinstance(envs, dict):
            raise SchemaError("a deployment file holds a name and a mapping of environments to deployments")
        parsed: dict[str, Deployment] = {}
        for env, item in envs.items():
            if not isinstance(env, str) or not is_valid_name(env):
                raise SchemaError(f"invalid environment name {env!r}")
            if not isinstance(item, dict) or set(item) != {"version", "since", "by"}:
                raise SchemaError(f"deployment to {env!r} must hold version, since and by")
            version, since, by = item["version"], item["since"], item["by"]
            if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
                raise SchemaError(f"deployment to {env!r} must name a version number")
            if not isinstance(since, str) or not isinstance(by, str):
                raise SchemaError(f"deployment to {env!r}: since and by must be strings")
            parsed[env] = Deployment(version, since, by)
        return cls(name, parsed)
