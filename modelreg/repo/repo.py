"""The registry directory as the operations see it: where each record lives, its configuration,
its locks, reading its records, and committing a change through the journal.

A ``Repo`` changes nothing by itself: the verbs in ``modelreg.ops`` build a change and hand it to
``commit``, which journals it and applies it under the locks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.base.effects import current
from modelreg.base.fs import Tree
from modelreg.base.machine import note_registry
from modelreg.errors import IntegrityError, NotFoundError
from modelreg.records import yamlio
from modelreg.records.aliases import AliasFile
from modelreg.records.config import CONFIG_NAME, Config, load_config
from modelreg.records.deployments import DEPLOYMENTS_NAME, DeploymentFile
from modelreg.records.manifest import FileEntry, SchemaError, Version, parse_manifest
from modelreg.records.names import MAX_VERSION, is_valid_name, validate_name
from modelreg.records.removals import REMOVED_NAME, Removal, RemovalSchemaError, RemovedFile
from modelreg.records.state import STARTED_DIR, ModelIndex, ModelState, StageFile, parse_started
from modelreg.stores.blobs import LocalBlobStore

if TYPE_CHECKING:
    from modelreg.records.audit import AuditLog
    from modelreg.records.history_view import HistoryView
    from modelreg.records.journal import Change, Journal
    from modelreg.stores.chunks.remote_index import RemoteIndex
    from modelreg.stores.remotes import RemoteStore

LOG_NAME = "audit.jsonl"


class Repo:
    """A registry directory. Never prints; raises modelreg.errors types."""

    def __init__(self, root: Path, config: Config | None = None) -> None:
        self.root = root.absolute()  # paths handed out stay valid after a chdir
        note_registry(self.root)  # this user's key and trust record are never kept inside it
        self.tree = Tree(self.root)  # nothing inside is followed through a symlink
        self.state_dir = self.root / ".modelreg"
        self.parse_cache = self.state_dir / "cache" / "parsed"
        self.tree.inside(self.parse_cache / "entry")
        self.config = config if config is not None else load_config(self.root / CONFIG_NAME, self.parse_cache)
        self.blobs = LocalBlobStore(self.root / "blobs", self.tree, self.config.chunk_min_size())
        self._remote: RemoteStore | None = None
        self._remote_index: RemoteIndex | None = None

    @property
    def warnings(self) -> list[str]:
        """What a person should know about the call under way that still succeeded (repo/effects.py)."""
        return current().warnings

    @property
    def hook_runs(self) -> list[dict[str, Any]]:
        """The hooks the call under way ran (ops/governance/hooks.py)."""
        return current().hooks

    @cached_property
    def audit(self) -> AuditLog:
        from modelreg.records.audit import AuditLog

        return AuditLog(self.root / LOG_NAME, self.state_dir / "cache" / "audit-heads.json")

    @cached_property
    def history_view(self) -> HistoryView:
        from modelreg.records.history_view import HistoryView

        return HistoryView(self.root / LOG_NAME, self.state_dir / "cache" / "history", self.tree)

    @cached_property
    def journal(self) -> Journal:
        from modelreg.records.journal import Journal

        return Journal(self.tree, self.state_dir / "journal", self.audit)

    # -- where things live -------------------------------------------------
    def model_dir(self, name: str) -> Path:
        return self.root / "models" / validate_name(name)

    def manifest_path(self, name: str, number: int) -> Path:
        return self.model_dir(name) / "versions" / f"{number}.yaml"

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def model_lock_path(self, name: str) -> Path:
        # Model locks live apart from the audit lock, so a model may be called "audit".
        return self.state_dir / "locks" / "models" / f"{validate_name(name)}.lock"

    def model_lock(self, name: str, *, new: bool = False) -> AbstractContextManager[None]:
        """The lock of one model; only a register (``new``) may take it before the model exists,
        so a typo in a name leaves no lock file behind."""
        from modelreg.base.locks import hold

        if not new and not (self.model_dir(name) / "model.yaml").is_file():
            raise NotFoundError(f"unknown model {name!r}; see: modelreg list", code="unknown_model")
        return hold(self.tree.inside(self.model_lock_path(name)), self.config.lock_timeout, f"model {name!r}")

    def audit_lock(self) -> AbstractContextManager[None]:
        from modelreg.base.locks import hold

        lock = self.tree.inside(self.state_dir / "locks" / "audit.lock")
        return hold(lock, self.config.lock_timeout, "the audit log")

    def blob_lock(self, *, exclusive: bool = False) -> AbstractContextManager[None]:
        """Shared by every change that may reference blobs (from storing them to recording the
        version); exclusive for gc, which therefore never removes what is about to be referenced."""
        from modelreg.base.locks import hold_exclusive, hold_shared

        lock = self.tree.inside(self.state_dir / "locks" / "blobs.lock")
        hold = hold_exclusive if exclusive else hold_shared
        return hold(lock, self.config.lock_timeout, "the blob store (gc)" if not exclusive else "the blob store")

    # -- reading -----------------------------------------------------------
    def load(self, path: Path, what: str, *, cached: bool = True) -> Any:
        return yamlio.load_file(self.tree.inside(path), what=what, cache_dir=self.parse_cache if cached else None)

    def model_names(self) -> list[str]:
        """The models: directories of ``models/`` with a valid name and a model file (verify
        reports the other entries)."""
        base = self.tree.inside(self.root / "models" / "x").parent
        try:
            entries = list(os.scandir(base))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            e.name
            for e in entries
            if is_valid_name(e.name) and e.is_dir(follow_symlinks=False) and os.path.isfile(Path(e.path) / "model.yaml")
        )

    def state(self, name: str) -> ModelState:
        mdir = self.model_dir(name)
        try:
            raw_index = self.load(mdir / "model.yaml", "model file")
        except FileNotFoundError:
            raise NotFoundError(f"unknown model {name!r}; see: modelreg list", code="unknown_model") from None
        try:
            index = ModelIndex.parse(raw_index)
        except SchemaError as exc:
            raise IntegrityError(f"{mdir / 'model.yaml'}: {exc}", code="corrupt_manifest") from None
        try:
            stages = StageFile.parse(self.load(mdir / "stages.yaml", "stage file"))
        except FileNotFoundError:
            stages = StageFile(name)
        except SchemaError as exc:
            raise IntegrityError(f"{mdir / 'stages.yaml'}: {exc}", code="corrupt_manifest") from None
        try:
            aliases = AliasFile.parse(self.load(mdir / "aliases.yaml", "alias file"))
        except FileNotFoundError:
            aliases = AliasFile(name)
        except SchemaError as exc:
            raise IntegrityError(f"{mdir / 'aliases.yaml'}: {exc}", code="corrupt_manifest") from None
        state = ModelState(index, stages, aliases, self._removed(name))
        return self._claimed_view(state) if self.config.claims.engine else state

    def _claimed_view(self, state: ModelState) -> ModelState:
        """With a claim engine, versions arrive by git in any order and a number may never be
        used: the versions are the manifests present, latest the highest of them."""
        present = self.manifest_numbers(state.index.name)
        latest = max([state.index.latest_version, *present])
        initial = {**state.index.initial_stages, **self._started_stages(state.index.name, present)}
        index = replace(state.index, latest_version=latest, initial_stages=initial)
        absent = frozenset(n for n in range(1, latest + 1) if n not in present)
        return replace(state, index=index, absent=absent)

    def _started_stages(self, name: str, present: set[int]) -> dict[int, str]:
        """The stages versions of ``name`` were registered in when not the default, one file per
        version under ``started/`` (a claim engine's layout): one listing, and a read for each
        such version only."""
        folder = self.tree.inside(self.model_dir(name) / STARTED_DIR / "x").parent
        try:
            names = set(os.listdir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return {}
        found: dict[int, str] = {}
        for number in sorted(present):
            if f"{number}.yaml" not in names:
                continue
            path = folder / f"{number}.yaml"
            try:
                found[number] = parse_started(self.load(path, "started-stage file"), name, number)
            except FileNotFoundError:
                continue  # removed since the listing
            except SchemaError as exc:
                raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
        return found

    def manifest_numbers(self, name: str) -> set[int]:
        """Version numbers with a manifest file (one listing of the model's ``versions/``)."""
        folder = self.tree.inside(self.model_dir(name) / "versions" / "x").parent
        try:
            names = os.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return set()
        numbers = (n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))
        return {
            int(n)
            for n in numbers
            if n.isascii() and n.isdigit() and not n.startswith("0") and len(n) <= 9 and int(n) <= MAX_VERSION
        }

    def deployments_path(self, name: str) -> Path:
        return self.model_dir(name) / DEPLOYMENTS_NAME

    def deployments(self, name: str) -> DeploymentFile | None:
        """What each environment serves of ``name`` now; None if it was never deployed."""
        path = self.deployments_path(name)
        try:
            found = DeploymentFile.parse(self.load(path, "deployment file"))
        except FileNotFoundError:
            return None
        except SchemaError as exc:
            raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
        if found.name != name:
            raise IntegrityError(f"{path}: names model {found.name!r}", code="corrupt_manifest")
        return found

    def _removed(self, name: str) -> dict[int, Removal]:
        path = self.model_dir(name) / REMOVED_NAME
        try:
            return RemovedFile.parse(self.load(path, "removal file")).versions
        except FileNotFoundError:
            return {}
        except RemovalSchemaError as exc:
            raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None

    def load_version(self, state: ModelState, number: int, *, cached: bool = True) -> Version:
        """One version's manifest; bulk readers pass ``cached=False`` so that walking a long
        history does not fill the parse cache with entries nobody asks for again."""
        name = state.index.name
        path = self.manifest_path(name, number)
        if not state.has(number):
            raise NotFoundError(
                f"model {name!r} has no version {number} (latest is {state.latest})", code="unknown_version"
            )
        try:
            version = parse_manifest(self.load(path, "manifest", cached=cached))
        except FileNotFoundError:
            raise IntegrityError(f"{path}: manifest of {name}@{number} is missing", code="corrupt_manifest") from None
        except SchemaError as exc:
            raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
        if version.name != name or version.version != number:
            raise IntegrityError(f"{path}: manifest names {version.name}@{version.version}", code="corrupt_manifest")
        removal = state.removed.get(number)
        if removal is not None:  # in no stage, named by no alias
            return replace(version, stage="", aliases=(), removed=removal.to_json())
        return version.with_stage(state.stage_of(number), state.aliases.of(number))

    def versions(self, name: str) -> list[Version]:
        state = self.state(name)
        return [self.load_version(state, n, cached=False) for n in state.numbers()]

    def iter_all_versions(self) -> Iterator[Version]:
        for name in self.model_names():
            yield from self.versions(name)

    # -- blobs and the remote ----------------------------------------------
    def remote(self) -> RemoteStore | None:
        """The configured remote store, or None."""
        if self._remote is None:
            url = self.config.remote_url()
            if not url:
                return None
            from modelreg.stores.remotes import open_remote

            self._remote = open_remote(
                url, root=self.root, endpoint_url=self.config.remote.endpoint_url, region=self.config.remote.region
            )
        return self._remote

    def ensure_blob(self, entry: FileEntry) -> None:
        """Make a blob present locally, fetching it from the remote (verified) when missing."""
        if self.blobs.has(entry.digest, entry.size):
            return
        remote = self.remote()
        if remote is None:
            raise NotFoundError(
                f"blob {entry.digest} of {entry.path!r} is not in this registry and no remote is configured; "
                "run 'modelreg pull' where a remote is set, or 'modelreg push' from the machine that has it",
                code="blob_missing",
            )
        from .fetching import fetch_file

        with self.blob_lock():  # chunks arrive before their recipe: gc must wait
            fetch_file(remote, self.blobs, self.remote_index(), entry.digest, entry.size)

    def remote_index(self) -> RemoteIndex:
        """What the remote's packs hold (read once per process, index objects cached here)."""
        if self._remote_index is None:
            from .fetching import remote_index

            remote = self.remote()
            assert remote is not None
            cache = self.tree.inside(self.state_dir / "cache" / "remote-packs" / "x").parent
            self._remote_index = remote_index(remote, cache, lambda text: self.warnings.append(text))
        return self._remote_index

    # -- changing ----------------------------------------------------------
    def locked_state(self, name: str) -> ModelState:
        """Under the model lock: finish any interrupted change, then read the state."""
        self._recover_locked(name)
        return self.state(name)

    def _recover_locked(self, name: str) -> bool:
        from modelreg.records.journal import SetAside

        result = self.journal.recover(name, self.audit_lock)
        if isinstance(result, SetAside):
            self.warnings.append(
                f"an interrupted change of {name!r} was not applied: {result.reason}; it is kept in {result.path}"
            )
            return False
        return result

    def commit(self, change: Change) -> list[dict[str, Any]]:
        """Journal the change, then apply it. The caller holds the model's lock."""
        return self.journal.commit(change, self.audit_lock)

    def recover(self, name: str) -> bool:
        """Wait for the model's lock and finish an interrupted change of it, if any."""
        with self.model_lock(name, new=True):
            return self._recover_locked(name)

    def require_writable(self) -> None:
        """Refuse a change here (a published registry is read-only); a directory accepts them."""

    def prepare_all(self) -> None:
        """Make every record readable where it lives (a published registry fetches them all)."""

    def blob_problem(self, digest: str, size: int, quick: bool) -> str | None:
        """What is wrong with the stored bytes of ``digest`` (None: sound); ``quick``: sizes only."""
        return self.blobs.problem(digest, size, quick)

    def leftovers(self) -> list[Path]:
        """Temporary files and folders of interrupted writes (their writer gone) among the
        registry's records, blobs and caches: what verify reports and gc removes."""
        from modelreg.base.fs import leftovers

        found: list[Path] = []
        for top in (self.root / "models", self.blobs.root, self.state_dir):
            if self.tree.inside(top / "entry").parent.is_dir():
                found.extend(leftovers(top))
        return found

    def recover_all(self) -> list[str]:
        """Finish every interrupted change (verify and gc call this first)."""
        return [name for name in self.journal.pending() if self.recover(name)]
