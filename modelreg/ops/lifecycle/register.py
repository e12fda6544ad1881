"""``register``: store a model's files and record them as the model's next version."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelreg.base.effects import Reported
from modelreg.errors import ConflictError, ModelregError, NotFoundError, UsageError
from modelreg.ops.changes import check_size, check_text, record, write_yaml
from modelreg.ops.events import hooks
from modelreg.ops.governance.moves import displace, write_stages
from modelreg.ops.teams.engine import Engine
from modelreg.records.filepaths import folder_clash
from modelreg.records.journal import Change, crash_point
from modelreg.records.manifest import FileEntry, Version, facts_digest, file_set_digest
from modelreg.records.names import parse_number, validate_key, validate_name
from modelreg.records.state import STARTED_DIR, ModelIndex, ModelState, StageFile, started_data
from modelreg.repo import Repo

_WIDEST_VERSION = 9_999_999  # for the size check made before the number is known


@dataclass(frozen=True)
class RegisterResult(Reported):
    version: Version
    archived: tuple[int, ...] = ()  # holders of an exclusive stage it registered into, now archived
    document: dict[str, Any] | None = None  # the version as shown, its files judged (set by the registry)
    claim_attempts: int | None = None  # with a claim engine: the creates its number took

    def __iter__(self) -> Iterator[Any]:
        # ``version, archived = reg.register(...)``: the library's first shape still unpacks
        return iter((self.version, self.archived))

    def claim_json(self) -> dict[str, Any]:
        """With a claim engine: the creates its number took (1: the first number tried was free)."""
        return {} if self.claim_attempts is None else {"claim_attempts": self.claim_attempts}

    def to_json(self) -> dict[str, Any]:
        shown = self.document if self.document is not None else self.version.to_json()
        return {**shown, **self.claim_json(), **self.effects_json()}


def register(
    repo: Repo,
    name: str,
    paths: list[Path],
    *,
    metrics: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    description: str = "",
    datasets: list[str] | None = None,
    stage: str | None = None,
    reason: str | None = None,
    author: str | None = None,
    link: bool = False,
    cwd: Path | None = None,
    on_file: Callable[[str, int], None] | None = None,
    push: bool | None = None,
    python: Path | None = None,
    env_files: list[Path] | None = None,
    progress: Callable[[int], None] | None = None,
    planned: Callable[[int, str], None] | None = None,
    imported: dict[str, Any] | None = None,
) -> RegisterResult:
    """Store the files and record a new version; returns it and any versions it archived.

    ``imported`` (a version brought from another registry) is kept as ``lineage.imported`` in
    place of this machine's git, CI and environment, which would describe the wrong thing.

    The training environment (``python``, else the active virtual or conda environment) goes
    into ``lineage.environment``; each of ``env_files`` is kept as ``environment/<base name>``.

    ``push`` uploads the new blobs to the remote store afterwards (None: as the registry's
    ``push_on_register`` says); a failed push leaves the version registered and says so.
    ``progress`` hears the bytes stored, ``planned(total, name)`` once before how many.
    """
    from modelreg.ops.capture.environment import capture as capture_environment
    from modelreg.ops.capture.inputs import collect
    from modelreg.ops.capture.lineage import author as find_author
    from modelreg.ops.capture.lineage import capture, input_dir, now_utc

    validate_name(name)
    config = repo.config
    stage = config.check_stage(stage) if stage else config.default_stage
    if stage in config.require_reason and not reason:
        raise ConflictError(f"this registry's policy requires --reason to register into {stage!r}", code="policy")
    governed = stage != config.default_stage or not config.policy.gate(stage).empty
    if reason is not None:
        check_text(reason, "reason")
    draft = Version(
        name=name,
        version=0,  # allocated under the model lock
        digest="",
        initial_stage=stage,
        created_at="",
        created_by=find_author(author, cwd or input_dir(paths)),
        files=(),
        description=description,
        metrics={validate_key(k, "metric"): _number(k, v) for k, v in (metrics or {}).items()},
        params={validate_key(k, "param"): str(v) for k, v in (params or {}).items()},
        tags={validate_key(k, "tag"): str(v) for k, v in (tags or {}).items()},
        stage=stage,
    )
    check_text(description, "description")
    sources = _with_env_files(collect(paths, registry=repo.root), env_files or [])
    clash = folder_clash(rel for rel, _ in sources)
    if clash is not None:
        raise UsageError(
            f"the inputs give {clash[0]!r} as a file and {clash[1]!r} inside a folder of that name: no directory "
            "could hold both when the version is handed out; rename one",
            code="duplicate_path",
        )
    when = now_utc()
    if imported is not None:
        lineage = {
            "author": draft.created_by,
            "created_at": when,
            "datasets": list(datasets or []),
            "imported": imported,
        }
    else:
        lineage = capture(
            who=draft.created_by,
            when=when,
            cwd=cwd,
            datasets=datasets or [],
            registry=repo.root,
            inputs=[*paths, *(env_files or [])],
        )
        environment = capture_environment(python)
        if environment is not None:
            lineage["environment"] = environment
    # Refuse a manifest too big to read back before storing a byte (the digests' length is fixed).
    unknown = "sha256:" + "0" * 64
    sized = [FileEntry(rel, src.stat().st_size, unknown) for rel, src in sources]
    draft = replace(draft, digest=unknown, created_at=when, files=tuple(sized), lineage=lineage)
    check_size(replace(draft, version=_WIDEST_VERSION).to_manifest(), f"the manifest of {name}")
    if governed:
        # The rules a promotion into the stage obeys, before a byte is stored (check commands later).
        _gate_new(repo, draft, run_checks=False)
    if planned is not None:
        planned(sum(e.size for e in sized), name)
    # From the first stored blob until the version is recorded, gc waits (see ops/gc.py).
    with repo.blob_lock():
        files = []
        for rel, src in sources:
            facts, seen = _read_facts(src)
            digest, size = repo.blobs.put_file(src, link=link, progress=progress)
            _unchanged(src, seen)
            files.append(FileEntry(rel, size, digest, **facts))
            if on_file:
                on_file(rel, size)
        crash_point("after-blobs")
        if config.format_version < 2 and any(f.size >= config.storage.chunk_min_size for f in files):
            repo.warnings.append(
                "this registry is in format 1, so large files are stored whole: run 'modelreg upgrade' to keep "
                "them as chunks (only what changed between versions is stored and moved)"
            )
        draft = replace(draft, digest=file_set_digest(files), files=tuple(files))
        version, archived, entries, attempts = _record(repo, draft, reason, governed)
    try:
        if push or (push is None and config.remote.push_on_register):
            _push(repo, version)
    finally:
        hooks.after(repo, entries)  # the version is recorded whether or not the push worked
    return RegisterResult(version, archived, claim_attempts=attempts)


MAX_RECORDED_IMPORTS = 1000


def _read_facts(src: Path) -> tuple[dict[str, Any], tuple[int, ...]]:
    """The file's format and pickle imports, read from its bytes (nothing is unpickled), and the
    identity of what was read, so that the bytes stored are known to be the bytes judged."""
    import os

    from modelreg.ops.proof.fileformats import facts_of

    with open(src, "rb") as fh:
        st = os.fstat(fh.fileno())
        facts = facts_of(fh, st.st_size).to_dict()
    imports = facts.get("imports")
    if imports is not None and len(imports) > MAX_RECORDED_IMPORTS:
        facts["imports"] = imports[:MAX_RECORDED_IMPORTS]
        facts["unreadable"] = f"imports more than {MAX_RECORDED_IMPORTS} globals"
    if isinstance(facts.get("imports"), list):
        facts["imports"] = tuple(facts["imports"])
    return facts, _identity(st)


def _identity(st: Any) -> tuple[int, ...]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _unchanged(src: Path, seen: tuple[int, ...]) -> None:
    import os

    if _identity(os.stat(src)) != seen:
        raise UsageError(f"{src}: the file changed while it was being registered; try again")


def _with_env_files(sources: list[tuple[str, Path]], env_files: list[Path]) -> list[tuple[str, Path]]:
    """The environment files (requirements.txt, uv.lock, ...) under ``environment/``."""
    taken = {rel: src for rel, src in sources}
    for path in env_files:
        if not path.is_file():
            raise UsageError(f"--env-file {str(path)!r} is not a file", code="missing_input")
        rel = f"environment/{path.name}"
        if rel in taken:
            raise UsageError(
                f"two inputs give the same path {rel!r} ({str(taken[rel])!r} and {str(path)!r}); rename one",
                code="duplicate_path",
            )
        taken[rel] = path
    return sorted(taken.items())


def _state(repo: Repo, draft: Version, *, locked: bool) -> ModelState:
    from modelreg.ops.governance.policy import settled_state

    try:
        return repo.locked_state(draft.name) if locked else settled_state(repo, draft.name)
    except NotFoundError:
        index = ModelIndex(draft.name, draft.created_at, draft.created_by, repo.config.default_stage)
        return ModelState(index, StageFile(draft.name))


def _gate_new(repo: Repo, draft: Version, *, run_checks: bool = True) -> tuple[int, ...]:
    """Refuse a register into a stage whose rules it does not pass, as a promotion into it
    from the default stage would be; return the stage's holders the evaluation saw."""
    from modelreg.ops.governance.policy import evaluate

    state = _state(repo, draft, locked=False)
    candidate = replace(draft, version=state.latest + 1)
    evaluation = evaluate(repo, state, candidate, draft.initial_stage, new=True, run_checks=run_checks)
    if not evaluation.allowed:
        raise evaluation.refusal(f"register of {draft.name} into {draft.initial_stage}")
    return tuple(state.holders(draft.initial_stage))


Recorded = tuple[Version, tuple[int, ...], list[dict[str, Any]], int | None]  # version, archived, entries, claims


def _record(
    repo: Repo, draft: Version, reason: str | None, governed: bool
) -> tuple[Version, tuple[int, ...], list[dict[str, Any]], int | None]:
    """Under the model lock: allocate the next number and commit the new version. Check
    commands run before the lock; under it, the stage's holders must be those they saw."""
    from modelreg.ops.governance.moves import governed as governed_move
    from modelreg.ops.teams.engine import trusted_engine

    name, stage = draft.name, draft.initial_stage
    engine = trusted_engine(repo)  # before the lock: opening a client (or a first check) takes a while

    def gate() -> tuple[int, ...] | None:
        return _gate_new(repo, draft) if governed else None

    def commit(
        seen: tuple[int, ...] | None,
    ) -> tuple[Version, tuple[int, ...], list[dict[str, Any]], int | None] | None:
        state = _state(repo, draft, locked=True)
        if seen is not None and tuple(state.holders(stage)) != seen:
            return None  # the stage's holders moved since the gates were checked
        return _commit_new(repo, draft, reason, state, engine)

    return governed_move(repo, name, f"register of {name} into {stage}", gate, commit, new=True)


def _commit_new(
    repo: Repo, draft: Version, reason: str | None, state: ModelState, engine: Engine | None
) -> tuple[Version, tuple[int, ...], list[dict[str, Any]], int | None]:
    name, stage, who = draft.name, draft.initial_stage, draft.created_by
    claim: dict[str, Any] = {}
    attempts = None
    if engine is None:
        number = state.latest + 1
    else:
        # The number is taken on the engine before the version is visible anywhere.
        from modelreg.ops.teams.claims import claim_next  # only with a claim engine

        claimed = claim_next(engine, name, state.latest + 1, actor=who, time=draft.created_at)
        number, claim = claimed.claim.version, {"claim": claimed.claim.nonce}
        attempts = claimed.attempts
        crash_point("after-claim")
    version = replace(draft, version=number)
    change = Change(name)
    # The manifest first: the version is visible only once model.yaml counts it.
    write_yaml(repo, change, repo.manifest_path(name, number), version.to_manifest())
    if engine is None:
        index = state.index.with_version(number, stage)
        write_yaml(repo, change, repo.model_dir(name) / "model.yaml", index.to_yaml_data())
    else:
        index_data = _claimed_index(repo, engine, draft, number)
        if index_data is not None:
            write_yaml(repo, change, repo.model_dir(name) / "model.yaml", index_data)
    change.records.append(
        record(
            "register",
            name,
            number,
            actor=who,
            to_stage=stage,
            reason=reason,
            digest=version.digest,
            rules=repo.config.policy.rules_digest(),
            **({"facts": facts} if (facts := facts_digest(version.files)) else {}),
            **claim,
        )
    )
    # Only a register into an occupied exclusive stage touches the stage file.
    assignments, archived = displace(repo, change, state, stage, number, who)
    if engine is not None and stage in repo.config.exclusive:
        # With a claim engine, the new holder of an exclusive stage is a pointer change, swapped
        # on the engine: a clone that has not seen another clone's holder is refused rather
        # than leaving two holders once the branches merge.
        assignments[number] = stage
        write_stages(repo, change, name, assignments)
    elif archived:
        write_stages(repo, change, name, assignments)
    elif engine is not None and stage != state.index.default_stage:
        started = repo.model_dir(name) / STARTED_DIR / f"{number}.yaml"
        write_yaml(repo, change, started, started_data(name, number, stage))
    entries = repo.commit(change)
    return version, archived, entries, attempts


def _claimed_index(repo: Repo, engine: Engine, draft: Version, number: int) -> dict[str, Any] | None:
    """What a register with a claim engine writes to ``model.yaml``, or None to leave it alone.

    The versions of such a model are its manifests, and a version registered in another stage
    than the default says so in its own file (``started/<n>.yaml``) or in the stage file (an
    exclusive stage, a pointer change), so a register touches ``model.yaml`` only to create it,
    and then with the same bytes in every clone (the model's creator and time are those of the
    claim of version 1): clones creating or growing one model at once merge without conflict.
    """
    from modelreg.ops.teams.claims import read_claim

    if (repo.model_dir(draft.name) / "model.yaml").is_file():
        return None
    first = read_claim(engine, draft.name, 1) if number != 1 else None
    created_at, created_by = (first.time, first.actor) if first is not None else (draft.created_at, draft.created_by)
    return ModelIndex(draft.name, created_at, created_by, repo.config.default_stage).to_yaml_data()


def _push(repo: Repo, version: Version) -> None:
    from modelreg.ops.storage.transfer import transfer

    try:
        transfer(repo, "push", [version])
    except ModelregError as exc:
        # The version exists: say so, or a retry would register a duplicate.
        ref = f"{version.name}@{version.version}"
        raise type(exc)(
            f"registered {ref}, but pushing its files failed: {exc.message}; run 'modelreg push {ref}' to finish",
            code=exc.code,
        ) from exc


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise UsageError(f"metric {key!r} must be a number, got {value!r}", code="invalid_metric")
    if isinstance(value, int) and abs(value) > 2**53:
        raise UsageError(f"metric {key!r} is too large to stay exact in JSON (at most 2**53)", code="invalid_metric")
    if isinstance(value, (int, float)):
        return parse_number(key, repr(value))
    return parse_number(key, str(value))
