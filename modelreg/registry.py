"""The registry: finding it, reading models and versions, and every change to them."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import yamlio
from .blobs import LocalBlobStore
from .config import CONFIG_NAME, Config, default_toml, load_config
from .errors import ConflictError, IntegrityError, NotFoundError, UsageError
from .fsutil import atomic_write, tmp_name
from .manifest import FileEntry, SchemaError, Version, file_set_digest, parse_manifest
from .names import Ref, parse_number, parse_ref, validate_key, validate_name
from .state import ModelIndex, ModelState, StageFile

if TYPE_CHECKING:
    from .audit import AuditLog
    from .journal import Change, Journal
    from .remote import RemoteStore

LOG_NAME = "audit.jsonl"

GITIGNORE = "# modelreg: model bytes live in blobs/ and travel through the remote store\nblobs/\n.modelreg/\n"
GITATTRIBUTES = "# modelreg: both branches' audit entries survive a merge\naudit.jsonl merge=union\n"
MAX_TEXT = 64 * 1024


@dataclass(frozen=True)
class ModelSummary:
    name: str
    latest_version: int
    stages: dict[str, Any]
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    created_by: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latest_version": self.latest_version,
            "stages": self.stages,
            "description": self.description,
            "tags": dict(self.tags),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class PromoteResult:
    version: Version
    changed: bool
    from_stage: str
    archived: tuple[int, ...] = ()


@dataclass(frozen=True)
class AnnotateResult:
    name: str
    version: int | None
    description: str
    tags: dict[str, str]
    changed: bool
    missing_tags: tuple[str, ...] = ()  # --untag keys that were not set


def find_root(explicit: Path | None = None, start: Path | None = None) -> Path:
    """-R PATH, else $MODELREG_REGISTRY, else walk up from the working directory."""
    if explicit is None and os.environ.get("MODELREG_REGISTRY"):
        explicit = Path(os.environ["MODELREG_REGISTRY"])
    if explicit is not None:
        if (explicit / CONFIG_NAME).is_file():
            return explicit
        raise NotFoundError(
            f"no registry at {explicit} (no {CONFIG_NAME}); create one with: modelreg init {explicit}",
            code="no_registry",
        )
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
    raise NotFoundError(
        f"no registry found in {here} or its parents; create one with: modelreg init, "
        "or point to one with -R PATH or MODELREG_REGISTRY",
        code="no_registry",
    )


class Registry:
    """A registry directory. Never prints; raises modelreg.errors types."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = root.absolute()  # paths handed out stay valid after a chdir
        self.state_dir = self.root / ".modelreg"
        self.parse_cache = self.state_dir / "cache" / "parsed"
        self.config = config if config is not None else load_config(self.root / CONFIG_NAME, self.parse_cache)
        self.blobs = LocalBlobStore(self.root / "blobs")
        self._remote: RemoteStore | None = None

    @cached_property
    def audit(self) -> AuditLog:
        from .audit import AuditLog

        return AuditLog(self.root / LOG_NAME, self.state_dir / "cache" / "audit-heads.json")

    @cached_property
    def journal(self) -> Journal:
        from .journal import Journal

        return Journal(self.root, self.state_dir / "journal", self.audit)

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: Path | None = None, *, start: Path | None = None) -> Registry:
        return cls(find_root(path, start))

    @classmethod
    def init(cls, path: Path, *, actor: str | None = None) -> tuple[Registry, bool]:
        """Create a registry at ``path``; on an existing registry change nothing."""
        if (path / CONFIG_NAME).is_file():
            return cls(path), False
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path} exists and is not a directory", code="invalid_input")
        import tomli_w

        path.mkdir(parents=True, exist_ok=True)
        registry = cls(path, Config())
        # Under the audit lock: of several inits racing on one directory, exactly one creates it.
        with registry._audit_lock():
            if (path / CONFIG_NAME).is_file():
                return cls(path), False
            for name, text in ((".gitignore", GITIGNORE), (".gitattributes", GITATTRIBUTES)):
                target = path / name
                if not target.exists():
                    atomic_write(target, text.encode())
                elif text.splitlines()[1] not in target.read_text(errors="replace").splitlines():
                    with open(target, "a", encoding="utf-8") as fh:
                        fh.write("\n" + text)
            (path / "models").mkdir(exist_ok=True)
            (path / "models" / ".keep").touch()
            registry.audit.append([registry._record("init", None, None, actor=actor)])
            # The config marks a registry: written last, so a killed init is simply done again.
            atomic_write(path / CONFIG_NAME, tomli_w.dumps(default_toml()).encode())
        return cls(path), True

    # -- paths and locks ---------------------------------------------------
    def model_dir(self, name: str) -> Path:
        return self.root / "models" / validate_name(name)

    def _rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def model_lock_path(self, name: str) -> Path:
        # Model locks live apart from the audit lock, so a model may be called "audit".
        return self.state_dir / "locks" / "models" / f"{validate_name(name)}.lock"

    def _model_lock(self, name: str) -> AbstractContextManager[None]:
        from .locks import hold

        return hold(self.model_lock_path(name), self.config.lock_timeout, f"model {name!r}")

    def _audit_lock(self) -> AbstractContextManager[None]:
        from .locks import hold

        return hold(self.state_dir / "locks" / "audit.lock", self.config.lock_timeout, "the audit log")

    def _record(
        self,
        action: str,
        model: str | None,
        version: int | None,
        *,
        actor: str | None = None,
        from_stage: str | None = None,
        to_stage: str | None = None,
        reason: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        from .lineage import author, now_utc

        return {
            "time": now_utc(),
            "actor": actor or author(),
            "action": action,
            "model": model,
            "version": version,
            "from_stage": from_stage,
            "to_stage": to_stage,
            "reason": reason,
            **extra,
        }

    # -- reading -----------------------------------------------------------
    def _load(self, path: Path, what: str, *, cached: bool = True) -> Any:
        return yamlio.load_file(path, what=what, cache_dir=self.parse_cache if cached else None)

    def model_names(self) -> list[str]:
        base = self.root / "models"
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if (p / "model.yaml").is_file())

    def state(self, name: str) -> ModelState:
        mdir = self.model_dir(name)
        try:
            raw_index = self._load(mdir / "model.yaml", "model file")
        except FileNotFoundError:
            raise NotFoundError(f"unknown model {name!r}; see: modelreg list", code="unknown_model") from None
        try:
            index = ModelIndex.parse(raw_index)
        except SchemaError as exc:
            raise IntegrityError(f"{mdir / 'model.yaml'}: {exc}", code="corrupt_manifest") from None
        try:
            stages = StageFile.parse(self._load(mdir / "stages.yaml", "stage file"))
        except FileNotFoundError:
            stages = StageFile(name)
        except SchemaError as exc:
            raise IntegrityError(f"{mdir / 'stages.yaml'}: {exc}", code="corrupt_manifest") from None
        return ModelState(index, stages)

    def manifest_path(self, name: str, number: int) -> Path:
        return self.model_dir(name) / "versions" / f"{number}.yaml"

    def load_version(self, state: ModelState, number: int, *, cached: bool = True) -> Version:
        """One version's manifest; bulk readers pass ``cached=False`` so that walking a long
        history does not fill the parse cache with entries nobody asks for again."""
        name = state.index.name
        path = self.manifest_path(name, number)
        if number < 1 or number > state.latest:
            raise NotFoundError(
                f"model {name!r} has no version {number} (latest is {state.latest})", code="unknown_version"
            )
        try:
            version = parse_manifest(self._load(path, "manifest", cached=cached))
        except FileNotFoundError:
            raise IntegrityError(f"{path}: manifest of {name}@{number} is missing", code="corrupt_manifest") from None
        except SchemaError as exc:
            raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
        if version.name != name or version.version != number:
            raise IntegrityError(f"{path}: manifest names {version.name}@{version.version}", code="corrupt_manifest")
        return version.with_stage(state.stage_of(number))

    def resolve(self, ref: Ref | str) -> Version:
        if isinstance(ref, str):
            ref = parse_ref(ref)
        state = self.state(ref.name)
        return self._resolve_in(state, ref)

    def _resolve_in(self, state: ModelState, ref: Ref) -> Version:
        name = ref.name
        if ref.version is not None:
            return self.load_version(state, ref.version)
        if ref.stage is not None:
            self.config.check_stage(ref.stage)
            holders = state.holders(ref.stage)
            if not holders:
                raise NotFoundError(f"no version of {name!r} is in stage {ref.stage!r}", code="no_stage_holder")
            return self.load_version(state, holders[-1])
        if ref.digest_prefix is not None:
            return self.load_version(state, self._match_digest(state, ref.digest_prefix))
        if state.latest == 0:
            raise NotFoundError(f"model {name!r} has no versions", code="unknown_version")
        return self.load_version(state, state.latest)

    _DIGEST_LINE = re.compile(rb"^digest: ['\"]?sha256:([0-9a-f]{64})", re.MULTILINE)

    def _match_digest(self, state: ModelState, prefix: str) -> int:
        # Digest references are rare: a line scan of the manifests, without parsing YAML.
        matches = []
        for number in range(1, state.latest + 1):
            try:
                head = self.manifest_path(state.index.name, number).read_bytes()[:4096]
            except FileNotFoundError:
                continue
            found = self._DIGEST_LINE.search(head)
            if found and found.group(1).decode().startswith(prefix):
                matches.append(number)
        name = state.index.name
        if not matches:
            raise NotFoundError(f"no version of {name!r} has digest sha256:{prefix}…", code="unknown_version")
        if len(matches) > 1:
            listed = ", ".join(f"{name}@{n}" for n in matches)
            raise UsageError(
                f"sha256:{prefix} matches several versions of {name!r} ({listed}); give a version number",
                code="ambiguous_ref",
            )
        return matches[0]

    def versions(self, name: str) -> list[Version]:
        state = self.state(name)
        return [self.load_version(state, n, cached=False) for n in range(1, state.latest + 1)]

    def summary(self, name: str, state: ModelState | None = None) -> ModelSummary:
        state = state or self.state(name)
        index = state.index
        return ModelSummary(
            name=index.name,
            latest_version=state.latest,
            stages=state.stage_map(self.config.stages, self.config.exclusive),
            description=index.description,
            tags=dict(index.tags),
            created_at=index.created_at,
            created_by=index.created_by,
        )

    def list_models(self, *, stage: str | None = None, tags: dict[str, str] | None = None) -> list[ModelSummary]:
        if stage is not None:
            self.config.check_stage(stage)
        result = []
        for name in self.model_names():
            state = self.state(name)
            if tags and any(state.index.tags.get(k) != v for k, v in tags.items()):
                continue
            if stage is not None and not state.holders(stage):
                continue
            result.append(self.summary(name, state))
        return result

    def list_versions(
        self, name: str, *, stage: str | None = None, tags: dict[str, str] | None = None
    ) -> list[Version]:
        if stage is not None:
            self.config.check_stage(stage)
        state = self.state(name)
        numbers = state.holders(stage) if stage is not None else range(1, state.latest + 1)
        result = [self.load_version(state, n, cached=False) for n in numbers]
        if tags:
            result = [v for v in result if all(v.tags.get(k) == val for k, val in tags.items())]
        return result

    def get_production(self, name: str) -> Version:
        production = self.config.production_stage()
        state = self.state(name)
        holders = state.holders(production)
        if not holders:
            raise NotFoundError(f"no version of {name!r} is in {production}", code="no_production")
        return self.load_version(state, holders[-1])

    def history(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Audit entries of a model (or one version), oldest first."""
        from .audit import public_entry

        return [
            public_entry(e)
            for e in self.audit.entries(model=name)
            if e.get("model") == name and (version is None or e.get("version") == version)
        ]

    # -- blobs and the remote ----------------------------------------------
    def remote(self) -> RemoteStore | None:
        """The configured remote store, or None."""
        if self._remote is None:
            url = self.config.remote_url()
            if not url:
                return None
            from .remote import open_remote

            self._remote = open_remote(
                url, root=self.root, endpoint_url=self.config.remote.endpoint_url, region=self.config.remote.region
            )
        return self._remote

    def ensure_blob(self, entry: FileEntry) -> None:
        """Make a blob present locally, fetching it from the remote (verified) when missing."""
        if self.blobs.exists(entry.digest):
            return
        remote = self.remote()
        if remote is None:
            raise NotFoundError(
                f"blob {entry.digest} of {entry.path!r} is not in this registry and no remote is configured; "
                "run 'modelreg pull' where a remote is set, or 'modelreg push' from the machine that has it",
                code="blob_missing",
            )
        self.blobs.put_download(entry.digest, lambda tmp: remote.download(entry.digest, tmp))

    def export(self, version: Version, dest: Path) -> list[Path]:
        from .export import write_files

        return write_files(self.blobs, version, dest, ensure_blob=self.ensure_blob)

    def materialize(self, version: Version, *, rehash: bool = True) -> Path:
        """A directory of the version's files inside the git-ignored cache, verified when written.

        With ``rehash`` (the default, for anything that hands the bytes out) an existing copy is
        hashed again; without it, an existing copy whose file sizes match is taken as it is.
        """
        from .export import cached_copy_ok, check_paths, write_files

        check_paths(version.files)
        final = self.state_dir / "cache" / "versions" / version.digest.partition(":")[2]
        if final.is_dir() and cached_copy_ok(version, final, rehash=rehash):
            return final
        tmp_dir = tmp_name(final)
        tmp_dir.mkdir(parents=True)
        try:
            write_files(self.blobs, version, tmp_dir, ensure_blob=self.ensure_blob, link=True)
            try:
                os.rename(tmp_dir, final)
            except OSError:
                # Another process got there first: keep its copy if good, so a reader of the
                # path never sees it vanish; replace it only if it is damaged.
                if not cached_copy_ok(version, final):
                    shutil.rmtree(final, ignore_errors=True)
                    os.rename(tmp_dir, final)
        finally:
            if tmp_dir.exists():
                shutil.rmtree(tmp_dir, ignore_errors=True)
        return final

    # -- changing ----------------------------------------------------------
    def _locked_state(self, name: str) -> ModelState:
        """Under the model lock: finish any interrupted change, then read the state."""
        self.journal.recover(name, self._audit_lock)
        return self.state(name)

    def register(
        self,
        name: str,
        paths: list[Path],
        *,
        metrics: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
        datasets: list[str] | None = None,
        stage: str | None = None,
        author: str | None = None,
        link: bool = False,
        cwd: Path | None = None,
        on_file: Callable[[str, int], None] | None = None,
    ) -> tuple[Version, tuple[int, ...]]:
        """Store the files and record a new version; returns it and any versions it archived."""
        from .inputs import collect
        from .journal import Change, crash_point
        from .lineage import author as find_author
        from .lineage import capture, now_utc

        validate_name(name)
        stage = self.config.check_stage(stage) if stage else self.config.default_stage
        metrics = {validate_key(k, "metric"): _number(k, v) for k, v in (metrics or {}).items()}
        params = {validate_key(k, "param"): str(v) for k, v in (params or {}).items()}
        tags = {validate_key(k, "tag"): str(v) for k, v in (tags or {}).items()}
        _check_text(description, "description")
        sources = collect(paths, registry=self.root)
        who = find_author(author, cwd)
        files = []
        for rel, src in sources:
            digest, size = self.blobs.put_file(src, link=link)
            files.append(FileEntry(rel, size, digest))
            if on_file:
                on_file(rel, size)
        crash_point("after-blobs")
        when = now_utc()
        lineage = capture(who=who, when=when, cwd=cwd or Path.cwd(), datasets=datasets or [], registry=self.root)
        with self._model_lock(name):
            try:
                state = self._locked_state(name)
            except NotFoundError:
                index = ModelIndex(name, when, who, self.config.default_stage)
                state = ModelState(index, StageFile(name))
            number = state.latest + 1
            version = Version(
                name=name,
                version=number,
                digest=file_set_digest(files),
                initial_stage=stage,
                created_at=when,
                created_by=who,
                files=tuple(files),
                description=description,
                metrics=metrics,
                params=params,
                tags=tags,
                lineage=lineage,
                stage=stage,
            )
            change = Change(name)
            mdir = self.model_dir(name)
            # The manifest first: the version is visible only once model.yaml counts it.
            change.writes[self._rel(self.manifest_path(name, number))] = yamlio.dumps(version.to_manifest())
            change.writes[self._rel(mdir / "model.yaml")] = yamlio.dumps(
                state.index.with_version(number, stage).to_yaml_data()
            )
            change.records.append(
                self._record("register", name, number, actor=who, to_stage=stage, digest=version.digest)
            )
            # Only a register into an occupied exclusive stage touches the stage file.
            assignments, archived = self._displace(change, state, stage, number, who)
            if archived:
                self._write_stages(change, name, assignments)
            self.journal.commit(change, self._audit_lock)
        return version, archived

    def _displace(
        self, change: Change, state: ModelState, stage: str, by: int, who: str
    ) -> tuple[dict[int, str], tuple[int, ...]]:
        """If ``stage`` is exclusive, move its holders (other than ``by``) to the archive stage,
        each with its own audit entry; return the new assignments and the versions moved."""
        assignments = dict(state.stages.assignments)
        if stage not in self.config.exclusive:
            return assignments, ()
        archive = self.config.archive_stage
        moved = tuple(n for n in state.holders(stage) if n != by)
        for old in moved:
            assignments[old] = archive
            change.records.append(
                self._record(
                    "archive",
                    state.index.name,
                    old,
                    actor=who,
                    from_stage=stage,
                    to_stage=archive,
                    reason=f"replaced in {stage} by version {by}",
                )
            )
        return assignments, moved

    def _write_stages(self, change: Change, name: str, assignments: dict[int, str]) -> None:
        change.writes[self._rel(self.model_dir(name) / "stages.yaml")] = yamlio.dumps(
            StageFile(name, assignments).to_yaml_data()
        )

    def promote(
        self, ref: Ref | str, stage: str, *, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        from .journal import Change
        from .lineage import author

        if isinstance(ref, str):
            ref = parse_ref(ref)
        self.config.check_stage(stage)
        if reason is not None:
            _check_text(reason, "reason")
        who = author(actor)
        with self._model_lock(ref.name):
            state = self._locked_state(ref.name)
            version = self._resolve_in(state, ref)
            current = version.stage
            if current == stage:
                return PromoteResult(version, False, current)
            if stage in self.config.require_reason and not reason:
                raise ConflictError(
                    f"this registry's policy requires --reason to move a version to {stage!r}", code="policy"
                )
            change = Change(ref.name)
            assignments, archived = self._displace(change, state, stage, version.version, who)
            assignments[version.version] = stage
            self._write_stages(change, ref.name, assignments)
            change.records.append(
                self._record(
                    "promote", ref.name, version.version, actor=who, from_stage=current, to_stage=stage, reason=reason
                )
            )
            self.journal.commit(change, self._audit_lock)
        return PromoteResult(version.with_stage(stage), True, current, archived)

    def annotate(
        self,
        target: Ref | str,
        *,
        description: str | None = None,
        set_tags: dict[str, str] | None = None,
        unset_tags: list[str] | None = None,
        actor: str | None = None,
    ) -> AnnotateResult:
        """Change the description and tags of a model (NAME) or a version (NAME@REF)."""
        from .journal import Change
        from .lineage import author

        if isinstance(target, str):
            target = parse_ref(target)
        if description is not None:
            _check_text(description, "description")
        set_tags = {validate_key(k, "tag"): v for k, v in (set_tags or {}).items()}
        unset = [validate_key(k, "tag") for k in (unset_tags or [])]
        who = author(actor)
        with self._model_lock(target.name):
            state = self._locked_state(target.name)
            if target.explicit:
                version = self._resolve_in(state, target)
                old_desc, old_tags = version.description, version.tags
            else:
                version = None
                old_desc, old_tags = state.index.description, state.index.tags
            new_desc = old_desc if description is None else description
            missing = tuple(k for k in unset if k not in old_tags)
            new_tags = {k: v for k, v in {**old_tags, **set_tags}.items() if k not in unset}
            number = version.version if version else None
            if new_desc == old_desc and new_tags == old_tags:
                return AnnotateResult(target.name, number, new_desc, new_tags, False, missing)
            change = Change(target.name)
            if version is not None:
                updated = replace(version, description=new_desc, tags=new_tags)
                change.writes[self._rel(self.manifest_path(target.name, version.version))] = yamlio.dumps(
                    updated.to_manifest()
                )
            else:
                index = replace(state.index, description=new_desc, tags=new_tags)
                change.writes[self._rel(self.model_dir(target.name) / "model.yaml")] = yamlio.dumps(
                    index.to_yaml_data()
                )
            changed_keys = sorted(k for k in {*old_tags, *new_tags} if old_tags.get(k) != new_tags.get(k))
            detail = ("description" if new_desc != old_desc else "") + (
                (" tags " + ",".join(changed_keys)) if changed_keys else ""
            )
            change.records.append(self._record("annotate", target.name, number, actor=who, reason=detail.strip()))
            self.journal.commit(change, self._audit_lock)
        return AnnotateResult(target.name, number, new_desc, new_tags, True, missing)

    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        """Put back in production the version that held it before the current one (or ``to``)."""
        if to is None:
            production = self.config.production_stage()
            current = set(self.state(name).holders(production))
            previous = [
                e["version"]
                for e in self.history(name)
                if e.get("to_stage") == production and isinstance(e.get("version"), int) and e["version"] not in current
            ]
            if not previous:
                raise NotFoundError(
                    f"{name!r} has no earlier production version to roll back to", code="no_previous_production"
                )
            to = previous[-1]
        why = reason or "rollback"
        return self.promote(Ref(name, version=to), self.config.production_stage(), reason=why, actor=actor)

    def recover(self, name: str) -> bool:
        """Wait for the model's lock and finish an interrupted change of it, if any."""
        with self._model_lock(name):
            return self.journal.recover(name, self._audit_lock)

    def recover_all(self) -> list[str]:
        """Finish every interrupted change (verify and gc call this first)."""
        return [name for name in self.journal.pending() if self.recover(name)]

    def iter_all_versions(self) -> Iterator[Version]:
        for name in self.model_names():
            yield from self.versions(name)


def _number(key: str, value: Any) -> int | float:
    if isinstance(value, bool):
        raise UsageError(f"metric {key!r} must be a number, got {value!r}", code="invalid_metric")
    if isinstance(value, (int, float)):
        return parse_number(key, repr(value))
    return parse_number(key, str(value))


def _check_text(text: str, what: str) -> None:
    if len(text) > MAX_TEXT:
        raise UsageError(f"{what} is longer than {MAX_TEXT} characters", code="invalid_input")
