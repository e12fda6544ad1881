"""``remove NAME@REF --reason``: retire a version for good (a legal or safety recall).

The removal is a line of ``models/NAME/removed.yaml`` (records/removals.py) and a ``remove``
audit entry. From then on the version is in no stage (``holders`` skip it, so it leaves every
stage and ``NAME@production`` no longer names it), its aliases are deleted, ``latest`` skips it, gc no longer counts its
blobs, its open requests are cancelled, and its manifest stays for the history (``show`` marks
it removed). The stage file is not rewritten: it keeps the stage the version held, so a removal
and a promotion on two git branches merge without conflict, and replaying the history's stage
moves still gives what the stage file says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import UsageError
from modelreg.ops.changes import check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.ops.governance.request_store import open_requests_of, request_path
from modelreg.records.aliases import AliasFile
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.removals import REMOVED_NAME, Removal, RemovedFile
from modelreg.records.requests import Decision
from modelreg.records.state import ModelState
from modelreg.repo import Repo


@dataclass(frozen=True)
class RemoveResult(Reported):
    version: Version
    changed: bool
    from_stage: str | None
    cancelled: tuple[str, ...] = ()  # the open requests of the version, now cancelled
    aliases: tuple[str, ...] = ()  # the aliases that named it, now deleted

    def to_json(self) -> dict[str, Any]:
        return {
            **self.version.to_json(),
            "changed": self.changed,
            "from_stage": self.from_stage,
            "cancelled": list(self.cancelled),
            "aliases_deleted": list(self.aliases),
            "warnings": list(self.warnings),  # production left empty, said to the caller
            **self.effects_json(),
        }


def remove(repo: Repo, ref: Ref | str, *, reason: str | None, actor: str | None = None) -> RemoveResult:
    from modelreg.ops.capture.lineage import author, now_utc
    from modelreg.ops.queries.resolve import resolve_in

    if isinstance(ref, str):
        ref = parse_ref(ref)
    if not ref.explicit:
        raise UsageError(f"name the version to remove: {ref.name}@VERSION (remove never guesses)", code="invalid_ref")
    if not reason or not reason.strip():
        raise UsageError("a removal needs --reason (it is kept in the registry for good)", code="invalid_input")
    check_text(reason, "reason")
    who = author(actor)
    name = ref.name
    with repo.model_lock(name):
        state = repo.locked_state(name)
        version = resolve_in(repo, state, ref)
        if version.removed is not None:
            return RemoveResult(version, False, None)
        when = now_utc()
        removal = Removal(when, who, reason, version.stage)
        change = Change(name)
        removed = RemovedFile(name, {**state.removed, version.version: removal})
        write_yaml(repo, change, repo.model_dir(name) / REMOVED_NAME, removed.to_yaml_data())
        cancelled = []
        # The log says which requests are open: a recall is never blocked by a request file.
        for request in open_requests_of(repo, name, version.version):
            closed = request.close("cancelled", Decision(who, when, f"version removed: {reason}"))
            write_yaml(repo, change, request_path(repo, name, request.id), closed.to_yaml_data())
            cancelled.append(request.id)
        # Its aliases go too: the remove entry lists them (replaying it drops them, see ops/resolve.replay).
        dropped = list(state.aliases.of(version.version))
        if dropped:
            kept = {a: n for a, n in state.aliases.targets.items() if n != version.version}
            write_yaml(repo, change, repo.model_dir(name) / "aliases.yaml", AliasFile(name, kept).to_yaml_data())
        extras: dict[str, object] = {}
        if cancelled:
            extras["requests"] = cancelled
        if dropped:
            extras["aliases"] = dropped
        change.records.append(
            record(
                "remove",
                name,
                version.version,
                actor=who,
                from_stage=version.stage,
                to_stage=None,
                reason=reason,
                **extras,
            )
        )
        entries = repo.commit(change)
    hooks.after(repo, entries)
    after = repo.state(name)
    gone = repo.load_version(after, version.version)
    repo.warnings.extend(_left_empty(repo, name, version, after))
    return RemoveResult(gone, True, version.stage, tuple(cancelled), tuple(dropped))


def _left_empty(repo: Repo, name: str, version: Version, after: ModelState) -> tuple[str, ...]:
    """Removing the production holder leaves production empty until someone decides what serves:
    nothing moves in by itself (a recall must not promote an unreviewed version)."""
    from modelreg.ops.governance.justified import model_justification

    production = repo.config.production_stage()
    if version.stage != production or after.holders(production):
        return ()
    held = model_justification(repo, name).held(production)  # what a rollback would bring back
    previous = [n for n in held if n not in after.removed]
    if not previous:
        return (f"{production} is now empty: {name} has no earlier {production} version to roll back to",)
    return (
        f"{production} is now empty; `modelreg rollback {name}` brings back the previous holder "
        f"({name}@{previous[-1]})",
    )
