"""``Registry``: the public face of the library — open or create a registry, then ask and change.

Each method delegates to the operation that owns the behaviour (``modelreg.ops``); the plumbing
it inherits from ``Repo`` (paths, config, records, locks, blob store, remote) is shared with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .base.effects import Accumulated, Reported, collecting, current
from .repo import Repo
from .repo import find_root as _find_root
from .repo.published import PublishedRepo

if TYPE_CHECKING:
    from .ops.deployments.check import DeployCheckResult
    from .ops.deployments.deploy import DeployResult, UndeployResult
    from .ops.deployments.deployed import DeployedResult
    from .ops.deployments.observe import ObserveResult
    from .ops.deployments.which import WhichResult
    from .ops.events.trust import TrustStatus
    from .ops.findings import Report as VerifyReport
    from .ops.governance.approvals import Decided, Filed
    from .ops.governance.policy import Evaluation
    from .ops.governance.remove import RemoveResult
    from .ops.importers.report import ImportReport
    from .ops.lifecycle.alias import AliasResult
    from .ops.lifecycle.annotate import AnnotateResult
    from .ops.lifecycle.promote import PromoteResult
    from .ops.lifecycle.register import RegisterResult
    from .ops.proof.sign import SignResult
    from .ops.queries.listing import ModelSummary
    from .ops.report import ReportResult
    from .ops.serving.files import Served
    from .ops.storage.gc import GcReport
    from .ops.storage.stats import Stats
    from .ops.storage.transfer import TransferReport
    from .ops.storage.upgrade import UpgradeReport
    from .ops.teams.check import CheckReport
    from .ops.teams.sync import SyncResult
    from .ops.teams.unused import UnusedClaim
    from .ops.views import AliasList, DiffResult, LogResult, ModelList, ModelView, RequestList, VersionList, VersionView
    from .records.config import Config
    from .records.journal import Change
    from .records.manifest import Version
    from .records.observations import Reading
    from .records.refs import Ref
    from .records.requests import Request
    from .records.state import ModelState

__all__ = ["Initialized", "PathLike", "Registry", "find_root"]

# Wherever the library takes a path it takes a str or any os.PathLike as well.
PathLike = str | os.PathLike[str]


R = TypeVar("R", bound=Reported | Accumulated)


def _reporting(reg: Repo, call: Callable[[], R]) -> R:
    """Run one change (refused on a published registry) and return its result with the hooks it
    ran and its warnings: nothing of the call stays on the registry object (those also reach an
    enclosing caller, such as the CLI)."""
    reg.require_writable()
    return _collected(call)


def _collected(call: Callable[[], R]) -> R:
    """Run one command and return its result with the hooks it ran and its warnings."""
    with collecting() as effects:
        result = call()
    hooks, warnings = tuple(effects.hooks), tuple(effects.warnings)
    if isinstance(result, Accumulated):
        result.hooks, result.warnings = hooks, warnings
        return result
    return replace(result, hooks=hooks, warnings=warnings)


def _path(value: PathLike) -> Path:
    return value if isinstance(value, Path) else Path(os.fspath(value))


def _opt_path(value: PathLike | None) -> Path | None:
    return None if value is None else _path(value)


def find_root(explicit: PathLike | None = None, start: PathLike | None = None) -> Path:
    """The root of the registry a command would use: ``explicit`` (-R PATH), else
    $MODELREG_REGISTRY, else the first found walking up from ``start`` (default: the working directory).

    Raises: NotFoundError (no registry there)."""
    return _find_root(_opt_path(explicit), _opt_path(start))


@dataclass(frozen=True)
class Initialized(Reported):
    """``init``: the registry, and whether this call created it (unpacks as ``registry, created``)."""

    registry: Registry
    created: bool

    def __iter__(self) -> Iterator[Any]:
        return iter((self.registry, self.created))

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.registry.root.resolve()), "created": self.created, "changed": self.created}


class Registry(Repo):
    """A registry directory. Never prints; raises modelreg.errors types.

    Every command of the command line is one call here (see docs/reference/python.md), whose
    result's ``to_json()`` is the command's ``--json`` document. The other methods are questions
    that return plain values (a ``Version``, a list)."""

    def __init__(self, root: PathLike, config: Config | None = None) -> None:
        super().__init__(_path(root), config)

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: PathLike | None = None, *, start: PathLike | None = None) -> Registry:
        """The registry at ``path`` ($MODELREG_REGISTRY, else found walking up from ``start``): a
        directory, or a published registry (``s3://bucket/prefix``, or a published remote
        directory), which answers every question and refuses every change.

        Raises: NotFoundError (no registry there), UsageError (a malformed modelreg.toml or URL)."""
        from .repo.locate import published_location

        target = published_location(None if path is None else os.fspath(path))
        if target is not None:
            return PublishedRegistry(target)
        return cls(find_root(path, start))

    def refresh(self) -> bool:
        """Read the registry as it is now: a directory is read afresh by every question (False);
        a published registry follows its pointer (True when a newer publication is read from now
        on). A long-lived reader calls it between questions.

        Raises: as ``open`` (a published registry: RemoteError, IntegrityError)."""
        return False

    @classmethod
    def init(cls, path: PathLike, *, actor: str | None = None) -> Initialized:
        """Create a registry at ``path``; on an existing registry change nothing. The result
        unpacks as ``registry, created``; its warnings name registries around ``path``.

        Raises: UsageError (``path`` is a file, a link, or inside another registry's own folders)."""
        from .ops.lifecycle.create import check_place, create

        def created() -> Initialized:
            target = _path(path)
            current().warnings.extend(check_place(target))
            made = create(target, actor=actor)
            return Initialized(registry=cls(target), created=made)

        return _collected(created)

    # -- many clones ---------------------------------------------------------
    def commit(self, change: Change) -> list[dict[str, Any]]:
        """With a claim engine, a change of a model's stage holders, aliases or deployments is first
        swapped on the engine (refused when another clone moved them); every change then commits here.

        Raises: ConflictError (another clone moved the pointers — run modelreg sync — or a lock not
        obtained in time), RemoteError (the engine cannot be reached)."""
        if self.config.claims.engine is None:
            return super().commit(change)
        from .ops.teams.engine import trusted_engine
        from .ops.teams.pointers import guarded_commit, touches_pointers

        if not touches_pointers(self, change):
            return super().commit(change)
        engine = trusted_engine(self)
        assert engine is not None
        return guarded_commit(self, engine, change, super().commit)

    def sync(self, name: str | None = None) -> SyncResult:
        """Compare this clone with the claim engine: claims made elsewhere, pointers moved
        elsewhere; publishes pointers the engine does not hold yet. Never touches git.

        Raises: UsageError (no [claims] engine configured), RemoteError (the engine cannot be reached)."""
        from .ops.teams.sync import sync

        return sync(self, name)

    def remote_check(self) -> CheckReport:
        """Probe the claim engine's conditional writes; the verdict is remembered for its url.

        Raises: ConflictError (the engine lets two writers both win: not trusted), RemoteError (it cannot be
        reached)."""
        from .ops.teams.sync import remote_check

        return remote_check(self)

    # -- questions ---------------------------------------------------------
    def resolve(self, ref: Ref | str) -> Version:
        """The version a reference names: ``NAME`` (latest), ``NAME@3``, ``@production``, an alias,
        ``@latest``, a digest prefix, with ``~N`` (N changes back) and ``@{TIME}`` (as it was then).

        Raises: UsageError (a malformed reference), NotFoundError (no such model or version)."""
        from .ops.queries.resolve import resolve

        return resolve(self, ref)

    def get_production(self, name: str) -> Version:
        """The version in production (the question behind ``get_production_files``).

        Raises: NotFoundError (no such model, or nothing in production)."""
        from .ops.queries.resolve import get_production

        return get_production(self, name)

    def unused_claims(self, name: str) -> list[UnusedClaim]:
        """Numbers claimed on the claim engine with no version here (abandoned, or not pulled).

        Raises: RemoteError (the engine cannot be reached)."""
        from .ops.teams.unused import unused_claims

        return unused_claims(self, name)

    def summary(self, name: str, state: ModelState | None = None) -> ModelSummary:
        """The model's latest version, stage holders, aliases, description and tags.

        Raises: NotFoundError (no such model)."""
        from .ops.queries.listing import summary

        return summary(self, name, state)

    def list_models(self, *, stage: str | None = None, tags: dict[str, str] | None = None) -> list[ModelSummary]:
        """Every model's summary (those in ``stage`` / carrying ``tags``); ``listing`` is the
        command's call.

        Raises: UsageError (an unknown stage)."""
        from .ops.queries.listing import list_models

        return list_models(self, stage=stage, tags=tags)

    def list_versions(
        self,
        name: str,
        *,
        stage: str | None = None,
        tags: dict[str, str] | None = None,
        where: list[str] | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> list[Version]:
        """A model's versions; ``where`` conditions (``metrics.auc>=0.9``), ``sort`` key
        (``-metrics.auc``) and ``limit`` as ``list NAME`` takes them (``listing`` is the command's call).

        Raises: UsageError (an unknown stage, a bad condition or key), NotFoundError (no such model)."""
        from .ops.queries.listing import list_versions

        return list_versions(self, name, stage=stage, tags=tags, where=where, sort=sort, limit=limit)

    def aliases(self, name: str) -> dict[str, int]:
        """The model's aliases: alias -> version (``list_aliases`` is the command's call).

        Raises: NotFoundError (no such model)."""
        from .ops.lifecycle.alias import aliases

        return aliases(self, name)

    def history(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Audit entries of a model (or one version), oldest first.

        Raises: NotFoundError (no such model)."""
        from .ops.queries.history import history

        return history(self, name, version)

    def last_change(self, name: str, version: int | None = None) -> str | None:
        """The time of the newest audit entry of a model (or one version); reads from the end.

        Raises: NotFoundError (no such model)."""
        from .ops.queries.history import last_change

        return last_change(self, name, version)

    def report(self, output: PathLike, *, parallel: bool | None = None) -> ReportResult:
        """``report``: write the registry as a static site into ``output`` (all or nothing; only
        into a new or empty directory or an earlier report). ``parallel`` runs verify in a second
        process (default: on a big registry with a spare core).

        Raises: UsageError (``output`` holds something that is not a report), StorageError (it cannot be written)."""
        from .ops.report import build_report

        return _collected(lambda: build_report(self, _path(output), parallel=parallel))

    # -- the read commands -------------------------------------------------
    def listing(
        self,
        name: str | None = None,
        *,
        stage: str | None = None,
        tags: dict[str, str] | None = None,
        where: list[str] | None = None,
        sort: str | None = None,
        limit: int | None = None,
    ) -> ModelList | VersionList:
        """``list``: every model (a ``ModelList``), or with ``name`` that model's versions (a
        ``VersionList``), filtered by ``stage`` and ``tags``; ``where``, ``sort`` and ``limit``
        choose among one model's versions.

        Raises: UsageError (an unknown stage, a bad condition, or ``where``/``sort``/``limit``
        without ``name``), NotFoundError (no such model)."""
        from .ops.views import listing

        return _collected(lambda: listing(self, name, stage=stage, tags=tags, where=where, sort=sort, limit=limit))

    def show(self, ref: Ref | str) -> ModelView | VersionView:
        """``show``: ``NAME`` gives the model with its versions (``ModelView``); ``NAME@REF`` one
        version in full with its audit history and requests (``VersionView``).

        Raises: UsageError (a malformed reference), NotFoundError (no such model or version)."""
        from .ops.views import show

        return _collected(lambda: show(self, ref))

    def log(
        self,
        target: str | None = None,
        *,
        since: str | None = None,
        actions: list[str] | None = None,
        limit: int | None = None,
    ) -> LogResult:
        """``log``: audit entries of the registry, of a model (``NAME``) or a version
        (``NAME@REF``), oldest first; ``since`` takes 7d, 12h, 30m or a date; ``limit`` keeps the
        newest entries.

        Raises: UsageError (a bad time, action or limit), NotFoundError (no such model or version)."""
        from .ops.views import log

        return _collected(lambda: log(self, target, since=since, actions=actions, limit=limit))

    def diff(self, a: Ref | str, b: Ref | str) -> DiffResult:
        """``diff``: what changed from version ``a`` to ``b`` (files, metrics, params, tags and
        environment); ``b`` may be a bare reference (``3``, ``latest``, a stage) of ``a``'s model.

        Raises: UsageError (a malformed reference), NotFoundError (no such version)."""
        from .ops.views import diff

        return _collected(lambda: diff(self, a, b))

    def list_requests(self, name: str | None = None, *, include_closed: bool = False) -> RequestList:
        """``requests``: open requests (every one with ``include_closed``) of a model or all,
        oldest first, each with its approval count.

        Raises: NotFoundError (no such model)."""
        from .ops.views import requests

        return _collected(lambda: requests(self, name, include_closed=include_closed))

    def list_aliases(self, name: str) -> AliasList:
        """``alias NAME``: the model's aliases.

        Raises: UsageError (a malformed name), NotFoundError (no such model)."""
        from .ops.views import alias_list

        return _collected(lambda: alias_list(self, name))

    def verify(self, name: str | None = None, *, quick: bool = False) -> VerifyReport:
        """``verify``: check blobs (only their sizes with ``quick``), manifests, stage files and the
        audit chain, of every model or ``name`` (the chain always); finishes interrupted changes.
        A failed check is in the report (``ok`` false, ``failure()`` the error the command exits
        with), not raised.

        Raises: NotFoundError (no such model), LockTimeoutError (a change holds the model)."""
        from .ops.verify.run import verify

        return _collected(lambda: verify(self, name, quick=quick))

    def stats(self, name: str | None = None) -> Stats:
        """``stats``: logical bytes, stored bytes and the saving, per model and in total.

        Raises: NotFoundError (no such model)."""
        from .ops.storage.stats import stats

        return _collected(lambda: stats(self, name))

    def safety(self, version: Version) -> list[dict[str, Any]]:
        """Each file's safety against the allowlist in force: ``safe``, ``unsafe`` (with the
        imports outside it) or ``unknown``, with its recorded format.

        Raises: nothing of its own."""
        from .ops.proof.safety import judged_files

        return judged_files(self.config.safety_allow, version)

    def version_json(self, version: Version) -> dict[str, Any]:
        """The version object, each file with its ``format`` and ``safety``.

        Raises: nothing of its own."""
        from .ops.proof.safety import version_json

        return version_json(self.config.safety_allow, version)

    # -- handing out files -------------------------------------------------
    def export(
        self,
        version: Version,
        dest: PathLike,
        *,
        progress: Callable[[int], None] | None = None,
        signature: bool = False,
    ) -> list[Path]:
        """Write the version's files into ``dest``, verified; ``progress`` hears the bytes written
        (``get(ref, output=dest, path=False)`` is the ``export`` command's call). ``signature``
        writes its newest signature beside them as ``model.sig`` (OpenSSF Model Signing), so that
        ``model_signing verify`` checks the files as served.

        Raises: ConflictError (a removed version), NotFoundError (a blob missing here and on the
        remote), IntegrityError (bytes that do not match their digest), UsageError (``dest`` unusable)."""
        from .ops.serving.destination import export

        _refuse_removed(version)
        extra = None
        if signature:
            from .ops.proof.sign import served_signature

            extra = served_signature(self, version)
        written = export(self, version, _path(dest), progress=progress, extra=extra)
        self._warn_unsafe(version)
        return written

    def _warn_unsafe(self, version: Version) -> None:
        """Handing out a file the allowlist does not pass says so on stderr (it is still served)."""
        for item in self.safety(version):
            if item["safety"] == "unsafe":
                self.warnings.append(
                    f"{version.name}@{version.version}: {item['path']} is unsafe to load: it "
                    f"{item.get('safety_detail', 'imports globals outside the allowlist')}"
                )

    def materialize(
        self, version: Version, *, rehash: bool = False, progress: Callable[[int], None] | None = None
    ) -> Path:
        """A directory of the version's files inside the git-ignored cache, verified when built
        and rebuilt when it changed since (``rehash`` re-reads an unchanged copy too).

        Raises: ConflictError (a removed version), NotFoundError (a blob missing here and on the
        remote), IntegrityError, RemoteError, StorageError (nowhere to write the copy)."""
        from .ops.serving.served_copy import materialize

        _refuse_removed(version)
        where = materialize(self, version, rehash=rehash, progress=progress)
        self._warn_unsafe(version)
        return where

    def get(
        self,
        ref: Ref | str | Version,
        *,
        output: PathLike | None = None,
        path: bool = True,
        strict: bool = False,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int, str], None] | None = None,
        signature: bool = False,
    ) -> Served:
        """``get`` (and ``export`` with ``output``): the version ``ref`` names, its files written
        into ``output`` (verified, all or nothing) and, with ``path``, the directory holding its
        verified files. When that copy cannot be built (blobs missing with no remote, a remote
        down, a registry that cannot be written) ``path`` is None and the reason a warning,
        unless ``strict``, which raises it. ``planned(total, what)`` hears once the bytes to copy
        and of which version (``NAME@N``), then ``progress`` the bytes copied since its last call.
        ``signature`` writes the version's newest signature into ``output`` as ``model.sig``
        (OpenSSF Model Signing). A file the safety allowlist does not pass is a warning.

        Raises: UsageError (a malformed reference), NotFoundError (no such version; with
        ``strict`` a missing blob), ConflictError (a removed version), IntegrityError (bytes that
        do not match their digest), RemoteError and StorageError (with ``strict``)."""
        from .ops.serving.files import serve
        from .records.manifest import Version

        def served() -> Served:
            if signature and output is None:
                from .errors import UsageError

                raise UsageError("--signature writes model.sig beside the files: it needs --output DIR")
            version = self.servable(ref if isinstance(ref, Version) else self.resolve(ref))
            extra = None
            if signature:
                from .ops.proof.sign import served_signature

                extra = served_signature(self, version)
            result = serve(
                self,
                version,
                output=_opt_path(output),
                path=path,
                strict=strict,
                progress=progress,
                planned=planned,
                extra=extra,
            )
            if result.output is not None or result.path is not None:
                self._warn_unsafe(version)
            return replace(result, document=self.version_json(version))

        return _collected(served)

    def get_production_files(
        self,
        name: str,
        *,
        output: PathLike | None = None,
        path: bool = True,
        strict: bool = False,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int, str], None] | None = None,
        signature: bool = False,
    ) -> Served:
        """``get-production``: as ``get`` for the version in production.

        Raises: NotFoundError (no such model, or nothing in production), and as ``get``."""
        return self.get(
            self.get_production(name),
            output=output,
            path=path,
            strict=strict,
            progress=progress,
            planned=planned,
            signature=signature,
        )

    # -- changes -----------------------------------------------------------
    def register(
        self,
        name: str,
        paths: PathLike | Iterable[PathLike],
        *,
        metrics: dict[str, Any] | None = None,
        metrics_file: PathLike | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        description: str = "",
        datasets: list[str] | None = None,
        stage: str | None = None,
        author: str | None = None,
        link: bool = False,
        cwd: PathLike | None = None,
        on_file: Callable[[str, int], None] | None = None,
        push: bool | None = None,
        reason: str | None = None,
        python: PathLike | None = None,
        env_files: Iterable[PathLike] | None = None,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int, str], None] | None = None,
        sign: PathLike | None = None,
        imported: dict[str, Any] | None = None,
    ) -> RegisterResult:
        """Store the files and record a new version; the result holds it and any versions it archived
        (and unpacks as ``version, archived``).

        ``paths``: one file or directory, or several; ``metrics_file`` a JSON or YAML mapping of
        metric names to numbers (a metric may not be given both there and in ``metrics``);
        ``planned(total, name)`` hears once the bytes it will store, then ``progress`` the bytes
        stored since its last call; ``sign``: an EC private key that signs the new version (checked
        before anything is stored); ``imported`` (a version made by another registry's tools) is
        kept as ``lineage.imported`` in place of this machine's git, CI and environment.

        Raises: UsageError (a bad name, key, value, stage or path), NotFoundError (an input
        missing), PolicyError (a stage's gates refuse it), LockTimeoutError, StorageError,
        RemoteError (with ``push``)."""
        from .ops.lifecycle.register import register

        self.require_writable()
        if sign is not None:
            from .ops.capture.lineage import author as find_author
            from .ops.proof.sign import prepare_key

            prepare_key(self, _path(sign), find_author(author))
        inputs = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        if metrics_file is not None:
            metrics = _merge_metrics(_path(metrics_file), metrics or {})
        result = _reporting(
            self,
            lambda: register(
                self,
                name,
                [_path(p) for p in inputs],
                metrics=metrics,
                params=params,
                tags=tags,
                description=description,
                datasets=datasets,
                stage=stage,
                author=author,
                link=link,
                cwd=_opt_path(cwd),
                on_file=on_file,
                push=push,
                reason=reason,
                python=_opt_path(python),
                env_files=None if env_files is None else [_path(p) for p in env_files],
                progress=progress,
                planned=planned,
                imported=imported,
            ),
        )
        if sign is not None:
            from .errors import ModelregError
            from .ops.proof.sign import sign_version

            ref = f"{name}@{result.version.version}"
            try:
                sign_version(self, ref, _path(sign), actor=author)
            except ModelregError as exc:
                raise type(exc)(
                    f"registered {ref}, but signing it failed: {exc.message}; run 'modelreg sign {ref} --key KEY'",
                    code=exc.code,
                ) from exc
        return replace(result, document=self.version_json(result.version))

    def create_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None, actor: str | None = None
    ) -> AnnotateResult:
        """A model with no version yet (its description and tags).

        Raises: UsageError (a bad name, tag or description), ConflictError (the model exists), LockTimeoutError."""
        from .ops.lifecycle.annotate import create_model

        return _reporting(self, lambda: create_model(self, name, description=description, tags=tags, actor=actor))

    def promote(
        self,
        ref: Ref | str,
        stage: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        force: bool = False,
    ) -> PromoteResult:
        """``promote``: move a version to a stage under the registry's rules; ``force`` passes
        failing gates where the stage allows it (never a transition, a removal or missing approvals).
        An exclusive stage's previous holder is archived (``archived`` in the result).

        Raises: UsageError (a malformed reference, an unknown stage, a reason missing where one is
        required), NotFoundError (no such version), PolicyError (a transition, gate or approval
        refuses it), ConflictError (a removed version), LockTimeoutError."""
        from .ops.lifecycle.promote import promote

        return _reporting(self, lambda: promote(self, ref, stage, reason=reason, actor=actor, force=force))

    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        """``rollback``: put back in production the version that held it before the current one
        (or ``to``).

        Raises: NotFoundError (no such model or version, nothing to roll back to), ConflictError (a
        removed version), UsageError, LockTimeoutError."""
        from .ops.lifecycle.promote import rollback

        return _reporting(self, lambda: rollback(self, name, to=to, reason=reason, actor=actor))

    def alias(self, ref: Ref | str, alias: str, *, reason: str | None = None, actor: str | None = None) -> AliasResult:
        """``alias NAME@REF ALIAS``: point ``alias`` at the version ``ref`` names, moving it if it
        pointed elsewhere.

        Raises: UsageError (a malformed reference or alias), NotFoundError (no such version),
        ConflictError (a removed version), LockTimeoutError."""
        from .ops.lifecycle.alias import set_alias

        return _reporting(self, lambda: set_alias(self, ref, alias, reason=reason, actor=actor))

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasResult:
        """``alias NAME ALIAS --delete``: remove the alias.

        Raises: UsageError (a malformed alias), NotFoundError (no such model or alias), LockTimeoutError."""
        from .ops.lifecycle.alias import delete_alias

        return _reporting(self, lambda: delete_alias(self, name, alias, reason=reason, actor=actor))

    def annotate(
        self,
        target: Ref | str,
        *,
        description: str | None = None,
        set_tags: dict[str, str] | None = None,
        unset_tags: list[str] | None = None,
        actor: str | None = None,
    ) -> AnnotateResult:
        """``annotate``: change the description and tags of a model (NAME) or a version
        (NAME@REF), the only parts that ever change; ``missing_tags`` in the result names the tags to
        unset that were not set.

        Raises: UsageError (nothing to change, a bad key or value), NotFoundError (no such model or
        version), LockTimeoutError."""
        from .ops.lifecycle.annotate import annotate

        return _reporting(
            self,
            lambda: annotate(
                self, target, description=description, set_tags=set_tags, unset_tags=unset_tags, actor=actor
            ),
        )

    def import_mlflow(
        self,
        tracking_uri: str,
        *,
        models: list[str] | None = None,
        renames: dict[str, str] | None = None,
        dry_run: bool = False,
        actor: str | None = None,
        progress: Callable[[int, int, str], None] | None = None,
    ) -> ImportReport:
        """``import mlflow``: copy registered models from an MLflow store or tracking server
        (extra ``modelreg[mlflow]``); a second run imports only what is new and brings stages, aliases
        and annotations up to date. ``renames`` maps MLflow names to model names; ``progress(done,
        total, what)`` follows it.

        Raises: UsageError (MLflow not installed, a bad store or rename), RemoteError (the store
        cannot be reached), LockTimeoutError."""
        from .ops.importers.mlflow import import_mlflow

        return _collected(
            lambda: import_mlflow(
                self, tracking_uri, models=models, renames=renames, dry_run=dry_run, actor=actor, progress=progress
            )
        )

    # -- storage -------------------------------------------------------------
    def gc(self, *, dry_run: bool = False, grace: float = 3600.0) -> GcReport:
        """``gc``: remove unreferenced blobs older than ``grace`` seconds, stale caches and
        leftovers of interrupted writes (``dry_run``: only report them).

        Raises: LockTimeoutError (a change holds the blob lock)."""
        from .ops.storage.gc import collect_garbage

        return _collected(lambda: collect_garbage(self, dry_run=dry_run, grace=grace))

    def push(
        self,
        target: str | None = None,
        *,
        jobs: int = 8,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int, str], None] | None = None,
    ) -> TransferReport:
        """``push``: upload what the remote store lacks, of every version or of ``target``
        (``NAME`` or ``NAME@REF``), ``jobs`` transfers at once. ``planned(total, what)`` hears
        the bytes to move (again, corrected, once the chunks the other side lacks are known),
        then ``progress`` the bytes moved since its last call.

        Raises: UsageError (no remote configured, a bad ``jobs``), NotFoundError (no such version,
        a local blob missing), RemoteError (the remote cannot be reached)."""
        return _collected(lambda: self._transfer("push", target, jobs, progress, planned))

    def pull(
        self,
        target: str | None = None,
        *,
        jobs: int = 8,
        progress: Callable[[int], None] | None = None,
        planned: Callable[[int, str], None] | None = None,
    ) -> TransferReport:
        """``pull``: download, verified, what this registry lacks from the remote store; as ``push``.

        Raises: UsageError (no remote configured), NotFoundError (no such version, a blob the
        remote lacks too), RemoteError, IntegrityError (remote bytes that do not match)."""
        return _collected(lambda: self._transfer("pull", target, jobs, progress, planned))

    def _transfer(
        self,
        direction: str,
        target: str | None,
        jobs: int,
        progress: Callable[[int], None] | None,
        planned: Callable[[int, str], None] | None,
    ) -> TransferReport:
        from .errors import UsageError
        from .ops.storage import transfer

        if not 1 <= jobs <= 64:
            raise UsageError(f"jobs must be between 1 and 64, not {jobs}")
        versions = transfer.select_versions(self, target)
        plan = transfer.plan_transfer(self, direction, versions)
        replan = None
        if planned is not None:
            what, total = target or "all", plan.total
            planned(total, what)

            def replan(delta: int) -> None:
                # chunked files were planned at full size: what really moves is known later
                nonlocal total
                total = max(0, total + delta)
                planned(total, what)

        return transfer.transfer(self, direction, versions, progress, plan, jobs=jobs, replan=replan)

    def upgrade(
        self, *, progress: Callable[[int], None] | None = None, planned: Callable[[int, str], None] | None = None
    ) -> UpgradeReport:
        """``upgrade``: convert the registry to format 2 in place (large files become chunks);
        safe to interrupt and run again. ``planned`` hears the bytes to convert first.

        Raises: LockTimeoutError (a change holds the blob lock), StorageError (a full disk)."""
        from .ops.storage.upgrade import to_convert, upgrade

        def upgraded() -> UpgradeReport:
            if planned is not None:
                planned(sum(size for _, size in to_convert(self)), "upgrade")
            return upgrade(self, progress)

        return _collected(upgraded)

    # -- proof -------------------------------------------------------------------
    def sign(
        self,
        ref: Ref | str,
        key: PathLike,
        *,
        actor: str | None = None,
        certificate: PathLike | None = None,
        chain: Iterable[PathLike] = (),
    ) -> SignResult:
        """``sign``: sign a version's files (OpenSSF Model Signing) with the EC private key at
        ``key``; ``certificate`` (PEM, certifying that key) and ``chain`` go into the bundle.

        Raises: UsageError (an unreadable key or certificate), NotFoundError (no such version),
        PolicyError (a key the allowed signers refuse), ConflictError (a removed version),
        IntegrityError (files that no longer match their digests), LockTimeoutError."""
        from .ops.proof.sign import sign_version

        self.require_writable()
        return sign_version(
            self, ref, _path(key), actor=actor, certificate=_opt_path(certificate), chain=[_path(c) for c in chain]
        )

    # -- governance ----------------------------------------------------------
    def check(self, ref: Ref | str, stage: str) -> Evaluation:
        """``check``: evaluate moving ``ref`` to ``stage`` (transition, gates, approvals) without
        changing anything; ``allowed`` says the answer, ``refusal(what)`` the error the command exits with.

        Raises: UsageError (a malformed reference, an unknown stage), NotFoundError (no such version)."""
        from .ops.governance.policy import evaluate
        from .ops.governance.request_store import open_request_for
        from .ops.queries.resolve import resolve_in
        from .records.refs import parse_ref

        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        self.config.check_stage(stage)
        state = self.state(parsed.name)
        version = resolve_in(self, state, parsed)
        request = open_request_for(self, version.name, version.version, stage)
        return evaluate(self, state, version, stage, request=request)

    def request(
        self, ref: Ref | str, stage: str, *, reason: str | None, actor: str | None = None, sign: PathLike | None = None
    ) -> Filed:
        """``request``: file a request to move a version to a stage that needs approvals
        (``sign``: an SSH private key that signs it).

        Raises: UsageError (no reason, an unknown stage), NotFoundError (no such version),
        PolicyError (the stage needs no approvals, the version is there already, its gates fail,
        or a request for the move is open already), LockTimeoutError."""
        from .ops.governance.approvals import Filed, file_request, required

        def filed() -> Filed:
            request = file_request(self, ref, stage, reason=reason, actor=actor, sign=_opt_path(sign))
            return Filed(request, required(self, request.stage))

        return _reporting(self, filed)

    def requests(self, name: str | None = None, *, include_closed: bool = False) -> list[Request]:
        """Open requests (every one with ``include_closed``), of one model or all, as records
        (``list_requests`` is the command's call).

        Raises: NotFoundError (no such model)."""
        from .ops.governance.approvals import list_requests

        return list_requests(self, name, include_closed=include_closed)

    def version_requests(self, name: str, number: int) -> list[Request]:
        """The requests about one version, oldest first.

        Raises: NotFoundError (no such model)."""
        from .ops.governance.approvals import version_requests

        return version_requests(self, name, number)

    def request_json(self, request: Request) -> dict[str, Any]:
        """A request as ``requests --json`` shows it (with the approvals its stage requires).

        Raises: nothing of its own."""
        from .ops.governance.approvals import request_json

        return request_json(self, request)

    def approve(
        self, request_id: str, *, reason: str | None = None, actor: str | None = None, sign: PathLike | None = None
    ) -> Decided:
        """``approve``: approve a request; the approval that completes the count applies the
        promotion (``promoted`` in the result); ``sign``: an SSH private key that signs the approval.

        Raises: NotFoundError (no such request), PolicyError (the requester approving, an approver
        approving twice, the gates no longer passing), ConflictError (the request is closed), LockTimeoutError."""
        from .ops.governance.approvals import approve

        return _reporting(self, lambda: approve(self, request_id, reason=reason, actor=actor, sign=_opt_path(sign)))

    def reject(self, request_id: str, *, reason: str | None, actor: str | None = None) -> Decided:
        """``reject``: reject (or, as its requester, withdraw) an open request; nothing moves.

        Raises: UsageError (no reason), NotFoundError (no such request), ConflictError (the request is
        closed), LockTimeoutError."""
        from .ops.governance.approvals import reject

        return _reporting(self, lambda: reject(self, request_id, reason=reason, actor=actor))

    def servable(self, version: Version) -> Version:
        """``version`` if its files may be handed out.

        Raises: ConflictError (a removed version: a recall)."""
        _refuse_removed(version)
        return version

    def remove(self, ref: Ref | str, *, reason: str | None, actor: str | None = None) -> RemoveResult:
        """``remove``: retire a version for good (a recall): out of every stage and of latest, its
        open requests cancelled, its bytes garbage for gc.

        Raises: UsageError (no reason), NotFoundError (no such version), LockTimeoutError."""
        from .ops.governance.remove import remove

        return _reporting(self, lambda: remove(self, ref, reason=reason, actor=actor))

    def trust_status(self) -> TrustStatus:
        """``trust --show``: the registry's hook and check commands and whether this machine
        trusts them, changing nothing.

        Raises: UsageError (a malformed modelreg.toml)."""
        from .ops.events.trust import status

        return status(self)

    def trust(self, *, revoke: bool = False) -> TrustStatus:
        """``trust``: let this machine run the registry's hook and check commands as they are now
        (``revoke``: stop trusting them).

        Raises: StorageError (this user's config directory cannot be written)."""
        from .ops.events.trust import trust

        return trust(self, revoke=revoke)

    # -- deployments and predictions ---------------------------------------
    def deploy(self, ref: Ref | str, env: str, *, reason: str | None = None, actor: str | None = None) -> DeployResult:
        """``deploy``: record that ``env`` now serves the version ``ref`` names (replacing the
        model's previous one there).

        Raises: UsageError (a bad environment name), NotFoundError (no such version), PolicyError
        (the environment's rules refuse it), ConflictError (a removed version), LockTimeoutError."""
        from .ops.deployments.deploy import deploy

        return deploy(self, ref, env, reason=reason, actor=actor)

    def undeploy(self, name: str, env: str, *, reason: str | None = None, actor: str | None = None) -> UndeployResult:
        """``undeploy``: record that ``env`` no longer serves the model.

        Raises: UsageError (a bad environment name), NotFoundError (the model is not deployed
        there), LockTimeoutError."""
        from .ops.deployments.deploy import undeploy

        return undeploy(self, name, env, reason=reason, actor=actor)

    def deployed(self, *, env: str | None = None, model: str | None = None, at: str | None = None) -> DeployedResult:
        """``deployed``: what runs where, now or at ``at`` (``2026-11-20T09:00:00Z``,
        ``2026-11-20``, ``3d``), replayed from the audit history.

        Raises: UsageError (a bad time or environment name)."""
        from .ops.deployments.deployed import deployed

        return deployed(self, env=env, model=model, at=at)

    def which(self, prediction_id: str) -> WhichResult:
        """``which``: the version that made a prediction, and the environments that served it then.

        Raises: UsageError (a malformed prediction id), NotFoundError (no version has its digest)."""
        from .ops.deployments.which import which

        return which(self, prediction_id)

    def deploy_check(self, name: str, env: str, path: PathLike) -> DeployCheckResult:
        """``deploy-check``: pass when ``path`` holds exactly the version recorded for ``name`` in ``env``.

        Raises: NotFoundError (nothing recorded there), IntegrityError (``path`` holds something
        else), UsageError (a bad environment name or path)."""
        from .ops.deployments.check import deploy_check

        return deploy_check(self, name, env, _path(path))

    def identify(self, path: PathLike, *, name: str | None = None) -> Version:
        """The version a directory of served files holds, verified (see modelreg.serving).

        Raises: UsageError (not a directory of served files), NotFoundError (no such version),
        IntegrityError (files that match no version)."""
        from .ops.deployments.copies import identify

        return identify(self, _path(path), name=name)

    def observe(
        self,
        ref: Ref | str,
        metrics: dict[str, str | int | float],
        *,
        env: str | None = None,
        at: str | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> ObserveResult:
        """``observe``: record what was measured of a version in production.

        Raises: UsageError (a bad metric, time or environment name), NotFoundError (no such
        version), LockTimeoutError."""
        from .ops.deployments.observe import observe

        return observe(self, ref, metrics, env=env, at=at, reason=reason, actor=actor)

    def latest_observed(self, name: str) -> dict[int, dict[str, Reading]]:
        """version -> metric -> its latest production reading.

        Raises: NotFoundError (no such model)."""
        from .ops.deployments.observe import latest_observed

        return latest_observed(self, name)


def _merge_metrics(path: Path, given: dict[str, Any]) -> dict[str, Any]:
    from .errors import UsageError
    from .ops.capture.metrics_file import read_metrics_file

    from_file = read_metrics_file(path)
    both = sorted(set(from_file) & set(given))
    if both:
        raise UsageError(
            f"metric {both[0]!r} is given both in {path} and by --metric; give it once", code="duplicate_key"
        )
    return {**from_file, **given}


def _refuse_removed(version: Version) -> None:
    from .ops.serving.files import refuse_removed

    refuse_removed(version)


class PublishedRegistry(PublishedRepo, Registry):
    """A registry read from its publication on a remote (``push`` publishes): read-only. It reads
    the publication the pointer named when it was opened until ``refresh`` follows the pointer."""

    def __init__(self, url: str) -> None:
        PublishedRepo.__init__(self, url)
