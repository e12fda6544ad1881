"""A model's pointers (stage holders, aliases, removals, deployments) compared and swapped on the
claim engine.

The engine keeps one pointers object per model, naming the content of the model's pointer files
(``stages.yaml``, ``aliases.yaml``, ``removed.yaml``, ``deployments.yaml``) as the last writer left them. A change of
those files in a clone first swaps the object from the view the clone holds to the view it is about
to write: if another clone moved them since, the view differs, the swap is refused and so is the
change (exit 4, run ``modelreg sync``), so that no clone ever archives a holder it has not seen.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import ConflictError, IntegrityError
from modelreg.ops.teams.claims import host_name, new_nonce
from modelreg.ops.teams.engine import Engine
from modelreg.records.deployments import DEPLOYMENTS_NAME
from modelreg.records.journal import Change, crash_point
from modelreg.records.removals import REMOVED_NAME
from modelreg.repo import Repo

POINTERS_FORMAT = 1
POINTER_FILES = ("stages.yaml", "aliases.yaml", REMOVED_NAME, DEPLOYMENTS_NAME)
# Files that joined the view later count only once they exist, so the view of a model that never
# had one is the view engines already hold.
_COUNTED_WHEN_PRESENT = frozenset({DEPLOYMENTS_NAME})
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{0,256}")


@dataclass(frozen=True)
class Pointers:
    model: str
    view: str  # sha256 of the model's pointer files as this writer left them
    actor: str
    time: str
    action: str
    nonce: str

    def to_bytes(self) -> bytes:
        body = {
            "format": POINTERS_FORMAT,
            "model": self.model,
            "view": self.view,
            "actor": self.actor,
            "time": self.time,
            "action": self.action,
            "nonce": self.nonce,
            "host": host_name(),
        }
        return (json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes, model: str, where: str) -> Pointers:
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if (
            not isinstance(data, dict)
            or data.get("format") != POINTERS_FORMAT
            or data.get("model") != model
            or not isinstance(data.get("view"), str)
            or not _DIGEST.fullmatch(data["view"])
            or not all(
                isinstance(data.get(k), str) and _PRINTABLE.fullmatch(data[k])
                for k in ("actor", "time", "action", "nonce")
            )
        ):
            raise IntegrityError(f"the pointers of {model} on {where} are not valid", code="corrupt_claim")
        return cls(model, data["view"], data["actor"], data["time"], data["action"], data["nonce"])

    def describe(self) -> str:
        return f"{self.action} by {self.actor} at {self.time}"


def local_view(repo: Repo, model: str, writes: dict[str, str] | None = None) -> str:
    """The digest of the model's pointer files here (as ``writes`` would leave them, if given)."""
    digest = hashlib.sha256()
    for name in POINTER_FILES:
        path = repo.model_dir(model) / name
        rel = repo.rel(path)
        if writes is not None and rel in writes:
            data: bytes | None = writes[rel].encode("utf-8")
        else:
            try:
                data = repo.tree.inside(path).read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                data = None
        if data is None and name in _COUNTED_WHEN_PRESENT:
            continue
        part = "-" if data is None else hashlib.sha256(data).hexdigest()
        digest.update(f"{name}:{part}\n".encode())
    return "sha256:" + digest.hexdigest()


def touches_pointers(repo: Repo, change: Change) -> bool:
    names = {repo.rel(repo.model_dir(change.model) / name) for name in POINTER_FILES}
    return any(rel in names for rel in change.writes)


def moved(model: str, engine: Engine, held: Pointers | None) -> ConflictError:
    what = f" ({held.describe()})" if held is not None else ""
    return ConflictError(
        f"another clone changed the stage holders, aliases or deployments of {model!r} on {engine.name}{what}: "
        "run 'modelreg sync' (and pull the registry's branch), then try again; nothing was changed",
        code="pointers_moved",
    )


def read_pointers(engine: Engine, model: str) -> tuple[Pointers, str] | None:
    tagged = engine.read_pointers(model)
    if tagged is None:
        return None
    return Pointers.parse(tagged.data, model, engine.name), tagged.tag


def guarded_commit(
    repo: Repo, engine: Engine, change: Change, commit: Callable[[Change], list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Swap the model's pointers on the engine from this clone's view to the change's, then commit."""
    from modelreg.ops.capture.lineage import author, now_utc

    if not touches_pointers(repo, change):
        return commit(change)
    model = change.model
    before, after = local_view(repo, model), local_view(repo, model, change.writes)
    # The move itself names the change (a promote rather than the archive it caused).
    actions = [str(r.get("action")) for r in change.records if r.get("action")]
    action = next((a for a in reversed(actions) if a != "archive"), actions[-1] if actions else "change")
    actor = next((str(r.get("actor")) for r in change.records if r.get("actor")), None) or author()
    mine = Pointers(model, after, actor, now_utc(), action, new_nonce())
    current = read_pointers(engine, model)
    if current is None:
        # First pointer change of this model on the engine: publish the view this clone holds.
        first = Pointers(model, before, actor, mine.time, "publish", new_nonce())
        if not engine.create_pointers(model, first.to_bytes()):
            pass  # another clone published first: compare with what it published
        current = read_pointers(engine, model)
        if current is None:
            raise moved(model, engine, None)
    held, tag = current
    if held.view != before:
        undone = _undo_lost_swap(repo, engine, model, held, tag, before)
        if undone is None:
            raise moved(model, engine, held)
        tag = undone
    # Kept until the change is recorded here: if this process dies between the swap and the
    # commit, the next change in this clone knows the engine's view as its own lost change.
    _note_pending(repo, model, mine.nonce, before)
    if not engine.swap_pointers(model, mine.to_bytes(), tag):
        again = read_pointers(engine, model)
        if again is None or again[0].nonce != mine.nonce:  # not our own swap whose answer was lost
            _clear_pending(repo, model)
            raise moved(model, engine, again[0] if again else None)
    crash_point("after-swap")
    entries = commit(change)
    _clear_pending(repo, model)
    return entries


_PENDING_PURPOSE = b"modelreg pending pointer swap"


def _pending_path(repo: Repo, model: str) -> Path:
    return repo.tree.inside(repo.state_dir / "pointers-pending" / f"{model}.json")


def _note_pending(repo: Repo, model: str, nonce: str, before: str) -> None:
    from modelreg.base.fs import atomic_write
    from modelreg.base.machine import seal

    sealed = seal(json.dumps({"model": model, "nonce": nonce, "before": before}).encode(), _PENDING_PURPOSE)
    if sealed is None:
        return  # no key on this machine: a lost change is then resolved by hand (see sync)
    path = _pending_path(repo, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, sealed)


def _clear_pending(repo: Repo, model: str) -> None:
    _pending_path(repo, model).unlink(missing_ok=True)


def _undo_lost_swap(repo: Repo, engine: Engine, model: str, held: Pointers, tag: str, here: str) -> str | None:
    """When the engine holds a swap this clone made and never recorded (the process died between
    the two), put the engine back to this clone's view: the change happened nowhere else. The new
    tag, or None when the engine's view is not such a lost change."""
    from modelreg.base.fs import read_own
    from modelreg.base.machine import unseal
    from modelreg.ops.capture.lineage import now_utc

    raw = read_own(_pending_path(repo, model), 4096)
    data = None if raw is None else unseal(raw, _PENDING_PURPOSE)
    try:
        pending = json.loads(data) if data is not None else None
    except ValueError:
        pending = None
    if not isinstance(pending, dict) or pending.get("nonce") != held.nonce or pending.get("before") != here:
        return None
    back = Pointers(model, here, held.actor, now_utc(), "undo", new_nonce())
    # Whether the swap says it won or not, the read decides: a refusal may be this very undo,
    # applied by the engine on an earlier attempt whose answer was lost.
    engine.swap_pointers(model, back.to_bytes(), tag)
    again = read_pointers(engine, model)
    if again is None or again[0].nonce != back.nonce:
        return None
    _clear_pending(repo, model)
    return again[1]


@dataclass(frozen=True)
class ModelSync:
    name: str
    state: str  # "in step", "behind" (the engine moved: pull the branch), "published" (first publication),
    # "restored" (the engine held a swap of this clone's that was never recorded: put back)
    pointers: Pointers | None
    claimed: int  # the highest number claimed on the engine
    here: int  # the highest version here
    unpulled: int  # claimed numbers above ours without a version here

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pointers": self.state,
            "last_change": None
            if self.pointers is None
            else {"action": self.pointers.action, "by": self.pointers.actor, "at": self.pointers.time},
            "highest_claimed": self.claimed,
            "highest_here": self.here,
            "claimed_elsewhere": self.unpulled,
        }


def sync_models(repo: Repo, engine: Engine, names: list[str]) -> list[ModelSync]:
    """What the engine says of each model against this clone; publishes pointers the engine lacks."""
    from modelreg.ops.capture.lineage import author, now_utc

    result = []
    for name in names:
        state = repo.state(name)
        claimed = engine.claimed(name)
        top = claimed[-1] if claimed else 0
        unpulled = sum(1 for n in claimed if n > state.latest or n in state.absent)
        view = local_view(repo, name)
        current = read_pointers(engine, name)
        status = "in step"
        if current is None:
            engine.create_pointers(name, Pointers(name, view, author(), now_utc(), "publish", new_nonce()).to_bytes())
            current = read_pointers(engine, name)
            status = "published"
        held = current[0] if current else None
        if current is not None and held is not None and held.view != view:
            # A swap this clone made and never recorded (killed, or every answer lost) is put
            # back here rather than reported as another clone's move that no pull would bring.
            if _undo_lost_swap(repo, engine, name, held, current[1], view) is not None:
                current = read_pointers(engine, name)
                held = current[0] if current else None
                status = "restored"
            else:
                status = "behind"
        result.append(ModelSync(name, status, held, top, state.latest, unpulled))
    return result
