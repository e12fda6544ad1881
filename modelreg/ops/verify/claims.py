"""What verify checks in a registry with a claim engine: every version holds the number its
register claimed, and every number without a version here is explained by its claim."""

from __future__ import annotations

from typing import Any

from modelreg.errors import ModelregError
from modelreg.ops.findings import ERROR, WARNING, Finding
from modelreg.records.state import ModelState
from modelreg.repo import Repo


def claim_findings(
    reg: Repo, state: ModelState, present: set[int], entries: list[dict[str, Any]], *, quick: bool
) -> list[Finding]:
    from modelreg.ops.teams.claims import read_claim
    from modelreg.ops.teams.engine import open_engine

    model = state.index.name
    where = str(reg.model_dir(model) / "versions")
    nonces = {
        e["version"]: e.get("claim")
        for e in entries
        if e.get("action") == "register" and isinstance(e.get("version"), int)
    }
    found: list[Finding] = []
    absent = sorted(state.absent)
    for n in absent:
        if n in nonces:
            found.append(
                Finding(ERROR, "manifest", str(reg.manifest_path(model, n)), f"manifest of {model}@{n} is missing")
            )
    # With --quick, only the numbers without a version here are looked up on the engine.
    asked = [n for n in absent if n not in nonces] + ([] if quick else sorted(n for n in present if nonces.get(n)))
    if not asked and quick:
        return found
    try:
        engine = open_engine(reg)
        assert engine is not None
        from modelreg.ops.teams.git_engine import GitEngine

        if isinstance(engine, GitEngine):
            engine.fetch_all()  # one fetch, then every claim is read here
        if not quick:
            # A number claimed above the latest version here: its writer died on the model's
            # last register, or another clone's version is not pulled yet. Reported all the same.
            asked += [n for n in engine.claimed(model) if n > state.latest]
        claims = {n: read_claim(engine, model, n) for n in asked}
    except ModelregError as exc:
        found.append(Finding(WARNING, "claims", where, f"the claims of {model} were not checked: {exc.message}"))
        return found
    for n in asked:
        claim = claims[n]
        if n in present:
            if claim is None:
                found.append(
                    Finding(
                        ERROR, "claims", where, f"{model}@{n} was registered with a claim that the engine does not hold"
                    )
                )
            elif claim.nonce != nonces[n]:
                found.append(
                    Finding(
                        ERROR,
                        "claims",
                        where,
                        f"{model}@{n} holds a number claimed by another writer ({claim.actor} at {claim.time} on "
                        f"{claim.host}): two versions under one number",
                    )
                )
        elif claim is None:
            found.append(Finding(ERROR, "claims", where, f"{model}@{n} is neither here nor claimed on {engine.name}"))
        else:
            found.append(
                Finding(
                    WARNING,
                    "claims",
                    where,
                    f"{model}@{n} was claimed by {claim.actor} at {claim.time} on {claim.host} and has no version "
                    "here: abandoned (its writer died), or registered in a clone not pulled yet; never reused",
                )
            )
    return found
