"""``trust``: which registries' commands (hooks, gate checks) this machine agreed to run.

A registry arrives through git from other people, so the commands in its ``modelreg.toml`` are
someone else's code. None of them runs until this user has trusted them: ``trust`` records the
digest of the registry's commands in the user's config directory, keyed by the registry's
resolved path. When any command changes, the digest no longer matches and none of them runs
until trusted again. ``MODELREG_TRUST=1`` trusts them for one run (CI, after review).

The record (``$XDG_CONFIG_HOME/modelreg/trust.json``) is outside every registry, so no registry
can trust itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write, read_limited
from modelreg.base.machine import config_dir
from modelreg.repo import Repo

TRUST_ENV = "MODELREG_TRUST"
TRUST_FORMAT = 1
MAX_TRUST_BYTES = 8 << 20


@dataclass(frozen=True)
class TrustStatus:
    path: str
    digest: str
    commands: dict[str, dict[str, list[str]]]
    trusted: bool
    by_environment: bool = False
    trusted_digest: str | None = None  # what this machine trusted before, if anything
    changed: bool = False  # this call changed the record

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "digest": self.digest,
            "commands": self.commands,
            "trusted": self.trusted,
            "by_environment": self.by_environment,
            "trusted_digest": self.trusted_digest,
            "changed": self.changed,
        }


def trust_file() -> Path:
    return config_dir() / "trust.json"


def _key(repo: Repo) -> str:
    return str(repo.root.resolve())


def _read() -> dict[str, Any]:
    try:
        data = json.loads(read_limited(trust_file(), MAX_TRUST_BYTES))
    except (OSError, ValueError, OverflowError):
        return {}
    registries = data.get("registries") if isinstance(data, dict) else None
    return registries if isinstance(registries, dict) else {}


def _trusted_digest(repo: Repo) -> str | None:
    entry = _read().get(_key(repo))
    digest = entry.get("digest") if isinstance(entry, dict) else None
    return digest if isinstance(digest, str) else None


def status(repo: Repo) -> TrustStatus:
    policy = repo.config.policy
    digest = policy.commands_digest()
    before = _trusted_digest(repo)
    by_env = os.environ.get(TRUST_ENV) == "1"
    trusted = not policy.has_commands or by_env or before == digest
    return TrustStatus(_key(repo), digest, policy.commands(), trusted, by_env, before)


def is_trusted(repo: Repo) -> bool:
    return status(repo).trusted


def trust(repo: Repo, *, revoke: bool = False) -> TrustStatus:
    """Trust the registry's current commands (or forget this registry with ``revoke``)."""
    from modelreg.base.locks import hold
    from modelreg.ops.capture.lineage import now_utc

    current = status(repo)
    with hold(config_dir() / "trust.lock", repo.config.lock_timeout, "the trust record"):
        registries = _read()
        key = _key(repo)
        if revoke:
            changed = registries.pop(key, None) is not None
        else:
            entry = {"digest": current.digest, "trusted_at": now_utc(), "commands": current.commands}
            changed = not isinstance(registries.get(key), dict) or registries[key].get("digest") != current.digest
            registries[key] = entry
        if changed:
            body = {"format_version": TRUST_FORMAT, "registries": dict(sorted(registries.items()))}
            atomic_write(trust_file(), (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())
    after = status(repo)
    return TrustStatus(
        after.path, after.digest, after.commands, after.trusted, after.by_environment, current.trusted_digest, changed
    )
