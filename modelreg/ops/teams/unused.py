"""Numbers claimed on the engine that have no version in this clone (``show`` reports them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.errors import ModelregError
from modelreg.repo import Repo


@dataclass(frozen=True)
class UnusedClaim:
    version: int
    actor: str | None  # None: the engine could not be asked
    time: str | None
    host: str | None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "claimed_by": self.actor, "claimed_at": self.time, "host": self.host}


def unused_claims(repo: Repo, name: str) -> list[UnusedClaim]:
    """Each number below the model's latest without a version here, with who claimed it when.

    Such a number was claimed by a writer that died before recording it (abandoned: it is never
    reused), or by a clone whose version has not been pulled yet. When the engine cannot be
    asked, the numbers are still listed, and a warning says why their claims are unknown."""
    from modelreg.ops.teams.claims import read_claim
    from modelreg.ops.teams.engine import open_engine

    state = repo.state(name)
    if not state.absent:
        return []
    try:
        engine = open_engine(repo)
        if engine is None:
            return []
        claims = {n: read_claim(engine, name, n) for n in sorted(state.absent)}
    except ModelregError as exc:
        repo.warnings.append(f"the claims of {name} were not read: {exc.message}")
        return [UnusedClaim(n, None, None, None) for n in sorted(state.absent)]
    found = []
    for n, claim in claims.items():
        if claim is None:
            found.append(UnusedClaim(n, None, None, None))
        else:
            found.append(UnusedClaim(n, claim.actor, claim.time, claim.host))
    return found
