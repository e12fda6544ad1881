"""Three clones of one registry as a state machine (hypothesis): real registry directories in real
git clones of a bare repository on disk, claiming on one shared directory engine whose answers may
be lost after it applied a write (retried, or never answered at all). The clones register, promote,
alias, remove, sync, commit and pull, in any order. After every step:

- no number is held by two different versions across clones, and each version's number is the
  claim that carries its register's nonce;
- claimed numbers are dense, in claim order (a register takes one past the highest claimed);
- a pointer change either applies (the engine then holds the clone's new view) or is refused
  (ConflictError ``pointers_moved`` naming ``modelreg sync``) with nothing changed; it applies
  exactly when the clone holds the engine's view (or owns the engine's unrecorded swap);
- the accepted changes form one line: each starts from the view the previous one left, so an
  archived holder is one the clone had seen;
- the engine's view is the view of the clone that made the last accepted change;
- git never meets a conflict when clones pull each other's work.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from support.teams import GIT_ENV

from modelreg import Registry
from modelreg.errors import ConflictError, ModelregError, RemoteError
from modelreg.ops.teams.check import remembered
from modelreg.ops.teams.claims import read_claim
from modelreg.ops.teams.engine import ObjectEngine
from modelreg.ops.teams.pointers import local_view, read_pointers
from modelreg.stores.remotes import backend as backend_module
from modelreg.stores.remotes.backend import Backend, Retrying
from modelreg.stores.remotes.blob_remote import BlobRemote
from modelreg.stores.remotes.directory import DirectoryBackend

MODEL = "churn"
CLONES = 3
# How many answers of the engine's conditional writes the next command loses. The engine is
# opened with three attempts per write: three lost answers exhaust them and the command fails.
LOSSES = st.sampled_from([0, 0, 1, 2, 3, 3])
PICK = st.integers(min_value=0, max_value=50)
# A register into an exclusive stage is a pointer change (swapped on the engine); into another
# stage it writes a file of the version's own, which never meets another clone's.
REGISTER_STAGES: list[str | None] = [None, None, "staging", "production"]


class LosingAnswers(DirectoryBackend):
    """The shared directory engine; ``plan["lose"]`` answers of conditional writes are lost after
    the write was (or was not) applied, as when a connection drops before the reply."""

    def __init__(self, path: Path, plan: dict[str, int]) -> None:
        super().__init__(path)
        self.plan = plan

    def transient(self, exc: BaseException) -> bool:
        return isinstance(exc, RemoteError) and "answer was lost" in exc.message

    def _answer(self, applied: bool) -> bool:
        if self.plan["lose"] > 0:
            self.plan["lose"] -= 1
            self.plan["lost"] += 1
            raise RemoteError("connection reset: the answer was lost")
        return applied

    def create(self, key: str, data: bytes) -> bool:
        return self._answer(super().create(key, data))

    def swap(self, key: str, data: bytes, expected_tag: str) -> bool:
        return self._answer(super().swap(key, data, expected_tag))


def saw(what: str) -> None:
    """Count ``what`` in hypothesis's statistics (outside a hypothesis run: nothing)."""
    with contextlib.suppress(InvalidArgument):
        hypothesis_event(what)


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, timeout=120
    )
    assert not check or done.returncode == 0, f"git {args} in {cwd.name}: {done.stdout}{done.stderr}"
    return done


class Team(RuleBasedStateMachine):
    # Every example starts from a copy of one team (see the fixture), at one place, so that the
    # engine's url, and the verdict of its check, stay the same from one example to the next.
    template: Path
    place: Path

    def __init__(self) -> None:
        super().__init__()
        self.model = MODEL
        self.base = self.place
        self.shared = self.base / "shared"
        self.plan = {"lose": 0, "lost": 0}
        self.engine = ObjectEngine(DirectoryBackend(self.shared))  # the truth, read without faults
        self.clones = [self.base / f"clone{n}" for n in range(CLONES)]
        self.files = 0
        # What the clones did, as the machine saw it.
        self.versions: dict[int, bytes] = {}  # number -> manifest of the version it went to
        self.accepted: str | None = None  # the engine's view after the last accepted change
        self.last: int | None = None  # the clone that made it
        self.limbo: tuple[int, str] | None = None  # a clone's swap the engine took and it never recorded
        self.history: list[dict[str, list[int]]] = []  # production holders after each accepted change

    def teardown(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)

    # -- helpers ----------------------------------------------------------------------------------

    def open(self, i: int) -> Registry:
        reg = Registry.open(self.clones[i])
        reg._remote = BlobRemote(LosingAnswers(self.shared, self.plan))
        return reg

    def view(self, i: int) -> str:
        return local_view(Registry.open(self.clones[i]), self.model)

    def engine_view(self) -> str | None:
        held = read_pointers(self.engine, self.model)
        return None if held is None else held[0].view

    def pointer_files(self, i: int) -> dict[str, bytes]:
        folder = self.clones[i] / "models" / self.model
        names = ("stages.yaml", "aliases.yaml", "removed.yaml")
        return {n: (folder / n).read_bytes() for n in names if (folder / n).is_file()}

    def present(self, i: int) -> list[int]:
        folder = self.clones[i] / "models" / self.model / "versions"
        if not folder.is_dir():
            return []
        return sorted(int(p.name.split(".")[0].lstrip("v")) for p in folder.iterdir() if p.name.endswith(".yaml"))

    def holders(self, i: int, stage: str) -> list[int]:
        if not self.present(i):
            return []
        return sorted(self.open(i).state(self.model).holders(stage))

    def expect_accept(self, i: int) -> bool:
        """Whether a pointer change in clone ``i`` must be accepted by the engine now."""
        held = self.engine_view()
        here = self.view(i)
        if self.limbo is not None:
            owner, noted = self.limbo
            return owner == i and here == noted
        return held is None or held == here

    def pointer_change(self, i: int, lose: int, action: str, call: Any) -> None:
        """Run one change of clone ``i``'s pointers and check what happened against the engine."""
        reg = self.open(i)
        before_files, before_view, before_engine = self.pointer_files(i), self.view(i), self.engine_view()
        production_before = self.holders(i, "production")
        must_accept = self.expect_accept(i)
        self.plan["lose"], self.plan["lost"] = lose, 0
        try:
            result = call(reg)
        except RemoteError as exc:  # (a ConflictError too: caught first)
            self.plan["lose"] = 0
            assert lose >= 3, f"{action} failed with only {lose} lost answers: {exc.message}"
            assert exc.code == "claims_unavailable" and "may have taken the write" in exc.message, exc.message
            assert self.pointer_files(i) == before_files, f"{action} failed but changed the pointer files"
            after_engine = self.engine_view()
            if after_engine != before_engine and after_engine != before_view:
                # The engine took this clone's swap and the clone never recorded it.
                self.limbo = (i, before_view)
                saw("a swap taken by the engine, never recorded by its clone")
            elif self.limbo is not None and after_engine == before_view == self.limbo[1]:
                self.limbo = None  # the undo of the earlier lost swap was applied
            return
        except ConflictError as exc:
            self.plan["lose"] = 0
            assert self.pointer_files(i) == before_files, f"{action} refused but changed the pointer files"
            if exc.code == "pointers_moved":
                assert exc.exit_code == 4 and "modelreg sync" in exc.message
                assert not must_accept, f"{action} in clone {i} refused although it holds the engine's view"
                saw("a pointer change refused: pointers moved")
            assert self.engine_view() == before_engine, f"{action} refused ({exc.code}) but moved the engine"
            return
        except ModelregError:
            self.plan["lose"] = 0
            assert self.pointer_files(i) == before_files
            assert self.engine_view() == before_engine
            return
        self.plan["lose"] = 0
        after_view = self.view(i)
        if after_view == before_view:
            return  # nothing to change (already so): the engine is not asked
        assert must_accept, f"{action} in clone {i} moved pointers the engine says it has not seen"
        assert self.engine_view() == after_view, f"{action} applied here but the engine holds another view"
        if self.accepted is not None:
            assert before_view == self.accepted, f"{action} started from a view that is not the last accepted"
        archived = list(getattr(result, "archived", ()))
        if archived:
            # Only a holder this clone had seen, and that was the holder in the last accepted view.
            assert set(archived) <= set(production_before), (archived, production_before)
            if self.history:
                assert set(archived) <= set(self.history[-1].get("production", [])), archived
        if self.limbo is not None:
            saw("a lost swap undone by the next change of its clone")
        if self.plan["lost"]:
            saw("a pointer change accepted after lost answers")
        self.accepted, self.last, self.limbo = after_view, i, None
        self.history.append({"production": self.holders(i, "production")})

    # -- set-up -----------------------------------------------------------------------------------

    @initialize()
    def clone(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.copytree(self.template, self.base, symlinks=True)
        assert remembered(str(self.shared)), "the engine was checked when the team was made"
        self.versions[1] = self.manifest(0, 1)
        self.accepted = local_view(Registry.open(self.clones[0]), self.model)  # no pointer moved yet

    # -- rules ------------------------------------------------------------------------------------

    @rule(i=st.integers(0, CLONES - 1), lose=LOSSES, stage=st.sampled_from(REGISTER_STAGES))
    def register(self, i: int, lose: int, stage: str | None) -> None:
        self.files += 1
        src = self.base / f"model-{self.files}.bin"
        src.write_bytes(f"weights {self.files}".encode())
        top = (self.engine.claimed(self.model) or [0])[-1]
        if stage is not None:
            self.pointer_change(
                i, lose, "register", lambda reg: reg.register(self.model, src, stage=stage, author=f"c{i}")
            )
            claimed = self.engine.claimed(self.model)
            assert claimed[-1] <= top + 1, "one register took two numbers"
            new = [v for v in self.present(i) if v > top]
            for number in new:
                self.versions[number] = self.manifest(i, number)
            return
        self.plan["lose"], self.plan["lost"] = lose, 0
        try:
            result = self.open(i).register(self.model, src, author=f"c{i}")
        except RemoteError as exc:
            assert lose >= 3, exc.message
            assert exc.code == "claims_unavailable" and "may have taken the write" in exc.message
            # The claim may have been applied before its answer was lost: taken and left unused.
            assert self.engine.claimed(self.model)[-1:] in ([top], [top + 1])
            return
        finally:
            self.plan["lose"] = 0
        number = result.version.version
        if self.plan["lost"]:
            saw("a register that kept its number after lost answers")
        assert number == top + 1, f"register took {number}; the highest claimed number was {top}"
        assert self.engine.claimed(self.model)[-1] == number, "a lost answer made one register take two numbers"
        self.versions[number] = self.manifest(i, number)

    @rule(i=st.integers(0, CLONES - 1), pick=PICK, stage=st.sampled_from(["production", "staging"]), lose=LOSSES)
    def promote(self, i: int, pick: int, stage: str, lose: int) -> None:
        present = self.present(i)
        if present:
            ref = f"{self.model}@{present[pick % len(present)]}"
            self.pointer_change(i, lose, "promote", lambda reg: reg.promote(ref, stage))

    @rule(i=st.integers(0, CLONES - 1), pick=PICK, alias=st.sampled_from(["champion", "challenger"]), lose=LOSSES)
    def alias(self, i: int, pick: int, alias: str, lose: int) -> None:
        present = self.present(i)
        if present:
            ref = f"{self.model}@{present[pick % len(present)]}"
            self.pointer_change(i, lose, "alias", lambda reg: reg.alias(ref, alias))

    @rule(i=st.integers(0, CLONES - 1), pick=PICK, lose=LOSSES)
    def remove(self, i: int, pick: int, lose: int) -> None:
        present = self.present(i)
        if present:
            ref = f"{self.model}@{present[pick % len(present)]}"
            self.pointer_change(i, lose, "remove", lambda reg: reg.remove(ref, reason="recalled"))

    @rule(i=st.integers(0, CLONES - 1))
    def sync(self, i: int) -> None:
        head = git(self.clones[i], "rev-parse", "HEAD").stdout
        status = git(self.clones[i], "status", "--porcelain").stdout
        # The clone whose swap the engine kept unrecorded puts it back (it holds the noted view).
        restorable = self.limbo is not None and self.limbo[0] == i and self.view(i) == self.limbo[1]
        result = self.open(i).sync()
        assert git(self.clones[i], "rev-parse", "HEAD").stdout == head, "sync moved the branch"
        assert git(self.clones[i], "status", "--porcelain").stdout == status, "sync touched the work tree"
        held = self.engine_view()
        for model in result.models:
            assert model.name == self.model
            assert model.state in ("in step", "behind", "published", "restored")
            assert (model.state == "restored") == restorable, (model.state, self.limbo)
            assert (model.state == "behind") == (held != self.view(i)), (model.state, held)
            assert model.claimed == (self.engine.claimed(self.model) or [0])[-1]
        if restorable:
            assert held == self.view(i), "sync reported a lost swap put back, but the engine holds another view"
            self.limbo = None
            saw("a lost swap put back by sync")
        if self.accepted is not None and held is not None and self.limbo is None:
            assert held == self.accepted

    @rule(i=st.integers(0, CLONES - 1), push=st.booleans())
    def pull(self, i: int, push: bool) -> None:
        """What each clone's owner does: commit, ``git pull --rebase``, and maybe push."""
        root = self.clones[i]
        git(root, "add", "-A")
        if git(root, "status", "--porcelain").stdout:
            git(root, "commit", "-q", "-m", f"clone {i}")
        pulled = git(root, "pull", "-q", "--rebase", "origin", "main", check=False)
        assert pulled.returncode == 0, f"git pull met a conflict in clone {i}: {pulled.stdout}{pulled.stderr}"
        if push:
            git(root, "push", "-q", "origin", "HEAD:main")

    # -- invariants -------------------------------------------------------------------------------

    def manifest(self, i: int, number: int) -> bytes:
        return Registry.open(self.clones[i]).manifest_path(self.model, number).read_bytes()

    def claim_nonces(self, i: int) -> dict[int, str]:
        """number -> the claim nonce its register entry carries, from clone ``i``'s audit log."""
        found = {}
        for line in (self.clones[i] / "audit.jsonl").read_text().splitlines():
            entry = json.loads(line)
            if entry.get("action") == "register" and entry.get("model") == self.model:
                found[int(entry["version"])] = str(entry.get("claim"))
        return found

    @invariant()
    def one_version_per_number(self) -> None:
        if not self.clones:
            return
        claimed = self.engine.claimed(self.model)
        assert claimed == list(range(1, len(claimed) + 1)), f"claimed numbers are not dense: {claimed}"
        for i in range(CLONES):
            nonces = self.claim_nonces(i)
            for number in self.present(i):
                assert number in claimed, f"clone {i} holds {number}, which nobody claimed"
                manifest = self.manifest(i, number)
                assert self.versions.get(number) == manifest, f"clone {i} holds another version {number}"
                held = read_claim(self.engine, self.model, number)
                assert held is not None and nonces.get(number) == held.nonce, f"{number}: not its claim's nonce"

    @invariant()
    def engine_holds_the_last_accepted_view(self) -> None:
        if not self.clones:
            return
        held = self.engine_view()
        if self.limbo is not None:
            assert held != self.limbo[1]
            return
        if held is None:
            assert self.last is None
            return
        assert held == self.accepted
        if self.last is not None:
            assert self.view(self.last) == held, "the clone that made the last change no longer holds its view"


def make_team(place: Path) -> None:
    """At ``place``: a bare repository holding a registry whose claim engine is the directory
    ``shared`` (checked by ``remote check``), and three clones that all hold version 1."""
    shared, bare, seed = place / "shared", place / "origin.git", place / "seed"
    shared.mkdir(parents=True)
    git(place, "init", "-q", "--bare", "-b", "main", str(bare))
    git(place, "init", "-q", "-b", "main", str(seed))
    Registry.init(seed)
    toml = seed / "modelreg.toml"
    text = toml.read_text().replace("[remote]\n", f'[remote]\nurl = "{shared}"\n', 1)
    toml.write_text(text + '\n[claims]\nengine = "s3"\n')
    assert Registry.open(seed).remote_check().ok  # the first use of an engine checks it, without faults
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "registry")
    git(seed, "remote", "add", "origin", str(bare))
    git(seed, "push", "-q", "origin", "main")
    shutil.rmtree(seed)
    for n in range(CLONES):
        git(place, "clone", "-q", str(bare), f"clone{n}")
    src = place / "weights.bin"
    src.write_bytes(b"first weights")
    Registry.open(place / "clone0").register(MODEL, src)
    git(place / "clone0", "add", "-A")
    git(place / "clone0", "commit", "-q", "-m", "version 1")
    git(place / "clone0", "push", "-q", "origin", "main")
    for n in range(1, CLONES):
        git(place / f"clone{n}", "pull", "-q", "origin", "main")


class Unpaused(Retrying):
    """The engine's retries without their pauses: a lost answer is tried again at once."""

    def __init__(self, inner: Backend, attempts: int = 5, pause: float = 0.25) -> None:
        super().__init__(inner, attempts, 0)


@pytest.fixture(autouse=True)
def _team(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path_factory.mktemp("team")
    make_team(base / "team")
    shutil.copytree(base / "team", base / "template", symlinks=True)
    monkeypatch.setattr(Team, "place", base / "team", raising=False)
    monkeypatch.setattr(Team, "template", base / "template", raising=False)
    monkeypatch.setattr(backend_module, "Retrying", Unpaused)


Team.TestCase.settings = settings(
    max_examples=30, stateful_step_count=15, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestTeam = Team.TestCase


def test_a_register_into_another_stage_merges_with_another_clones_register() -> None:
    team = Team()
    try:
        team.clone()
        src = team.base / "weights.bin"
        team.open(0).register("fraud", src, stage="production")
        team.pull(0, push=True)
        team.open(1).register("fraud", src)
        team.pull(1, push=True)  # git pull --rebase meets an add/add conflict in model.yaml
    finally:
        team.teardown()


def test_two_clones_registering_into_an_empty_exclusive_stage_are_not_both_accepted() -> None:
    """Each clone sees production empty; the first register puts its version there, so the second
    must be refused (pointers moved) rather than leave production with two holders once merged."""
    team = Team()
    try:
        team.clone()
        src = team.base / "weights.bin"
        team.open(0).register(MODEL, src, stage="production")
        with pytest.raises(ConflictError) as refused:
            team.open(1).register(MODEL, src, stage="production")
        assert refused.value.code == "pointers_moved"
    finally:
        team.teardown()


def test_an_undo_whose_answer_was_lost_is_not_refused() -> None:
    """The engine holds a swap this clone never recorded; the next change here swaps the engine
    back, that answer is lost and the retry finds the tag changed: the change must go ahead."""
    team = Team()
    try:
        team.clone()
        team.register(0, 0, None)
        team.alias(0, 0, "champion", 0)
        team.alias(0, 0, "challenger", 3)
        assert team.limbo is not None
        team.plan["lose"] = 1
        result = team.open(0).promote(f"{team.model}@1", "staging")
        assert result is not None and team.engine_view() == team.view(0)
    finally:
        team.teardown()
