"""``which ID``: the version that made a prediction, and the environments serving it then.

The id (records/prediction_ids.py) carries the moment it was minted and the start of the
version's digest. The digest finds the versions with those files through the digest index of
the history view (a few lines of the log, whatever its size); each candidate's own history says
where it ran at that moment. Versions registered after the moment could not have made it, and
among several versions with the same files the ones deployed at that moment win.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelreg.errors import NotFoundError, UsageError
from modelreg.records.manifest import Version
from modelreg.records.prediction_ids import parse
from modelreg.repo import Repo

from .copies import versions_with_digest
from .deployed import environments_of


@dataclass
class WhichResult:
    id: str
    at: str  # when the id was minted
    version: Version
    environments: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "name": self.version.name,
            "version": self.version.version,
            "digest": self.version.digest,
            "environments": list(self.environments),
        }


def which(repo: Repo, prediction_id: str) -> WhichResult:
    pid = parse(prediction_id)
    moment = pid.time
    candidates = [
        v for v in versions_with_digest(repo, pid.digest_prefix) if v.created_at <= moment or not v.created_at
    ]
    if not candidates:
        raise NotFoundError(
            f"no version of this registry has digest sha256:{pid.digest_prefix}… as of {moment}; "
            "was the id minted from another registry's version?",
            code="unknown_prediction",
        )
    placed = [(v, environments_of(repo, v.name, v.version, moment)) for v in candidates]
    if len(placed) > 1:
        placed = [p for p in placed if p[1]] or placed
    if len(placed) > 1:
        listed = ", ".join(f"{v.name}@{v.version}" for v, _ in placed)
        raise UsageError(
            f"prediction {pid} names files that several versions hold ({listed}) and none of them alone was "
            "deployed then",
            code="ambiguous_ref",
        )
    version, envs = placed[0]
    return WhichResult(str(pid), moment, version, envs)
