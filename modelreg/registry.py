"""``Registry``: the public face of the library — open or create a registry, then ask and change.

Each method delegates to the operation that owns the behaviour (``modelreg.ops``); the plumbing
it inherits from ``Repo`` (paths, config, records, locks, blob store, remote) is shared with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .base.effects import Reported, collecting
from .repo import Repo
from .repo import find_root as _find_root
from .repo.published import PublishedRepo

if TYPE_CHECKING:
    from .ops.governance.approvals import Decided, Filed
    from .ops.governance.policy import Evaluation
    from .ops.governance.remove import RemoveResult
    from .ops.governance.trust import TrustStatus
    from .ops.importers.report import ImportReport
    from .ops.lifecycle.alias import AliasResult
    from .ops.lifecycle.annotate import AnnotateResult
    from .ops.lifecycle.promote import PromoteResult
    from .ops.lifecycle.register import RegisterResult
    from .ops.proof.sign import SignResult
    from .ops.queries.listing import ModelSummary
    from .ops.report import ReportResult
    from .ops.teams.check import CheckReport
    from .ops.teams.sync import SyncResult
    from .ops.teams.unused import UnusedClaim
    from .records.config import Config
    from .records.journal import Change
    from .records.manifest import Version
    from .records.refs import Ref
    from .records.requests import Request
    from .records.state import ModelState

__all__ = ["PathLike", "Registry", "find_root"]

# Wherever the library takes a path it takes a str or any os.PathLike as well.
PathLike = str | os.PathLike[str]


R = TypeVar("R", bound=Reported)


def _reporting(reg: Repo, call: Callable[[], R]) -> R:
    """Run one change and return its result with the hooks it ran and its warnings: nothing of
    the call stays on the registry object (those also reach an enclosing caller, such as the CLI)."""
    reg.require_writable()
    with collecting() as effects:
        result = call()
    return replace(result, hooks=tuple(effects.hooks), warnings=tuple(effects.warnings))


def _path(value: PathLike) -> Path:
    return value if isinstance(value, Path) else Path(os.fspath(value))


def _opt_path(value: PathLike | None) -> Path | None:
    return None if value is None else _path(value)


def find_root(explicit: PathLike | None = None, start: PathLike | None = None) -> Path:
    """-R PATH, else $MODELREG_REGISTRY, else walk up from ``start`` (default: the working directory)."""
    return _find_root(_opt_path(explicit), _opt_path(start))


class Registry(Repo):
    """A registry directory. Never prints; raises modelreg.errors types."""

    def __init__(self, root: PathLike, config: Config | None = None) -> None:
        super().__init__(_path(root), config)

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: PathLike | None = None, *, start: PathLike | None = None) -> Registry:
        """The registry at ``path`` ($MODELREG_REGISTRY, else found walking up from ``start``): a
        directory, or a published registry (``s3://bucket/prefix``, or a published remote
        directory), which answers every question and refuses every change."""
        from .repo.published import published_location

        target = published_location(None if path is None else os.fspath(path))
        if target is not None:
            return PublishedRegistry(target)
        return cls(find_root(path, start))

    @classmethod
    def init(cls, path: PathLike, *, actor: str | None = None) -> tuple[Registry, bool]:
        """Create a registry at ``path``; on an existing registry change nothing."""
        from .ops.lifecycle.create import create

        created = create(_path(path), actor=actor)
        return cls(path), created

    # -- many clones ---------------------------------------------------------
    def commit(self, change: Change) -> list[dict[str, Any]]:
        """With a claim engine, a change of a model's stage holders or aliases is first swapped
        on the engine (refused when another clone moved them); every change then commits here."""
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
        elsewhere; publishes pointers the engine does not hold yet. Never touches git."""
        from .ops.teams.sync import sync

        return sync(self, name)

    def remote_check(self) -> CheckReport:
        """Probe the claim engine's conditional writes; the verdict is remembered for its url."""
        from .ops.teams.sync import remote_check

        return remote_check(self)

    # -- questions ---------------------------------------------------------
    def resolve(self, ref: Ref | str) -> Version:
        from .ops.queries.resolve import resolve

        return resolve(self, ref)

    def get_production(self, name: str) -> Version:
        from .ops.queries.resolve import get_production

        return get_production(self, name)

    def unused_claims(self, name: str) -> list[UnusedClaim]:
        """Numbers claimed on the claim engine with no version here (abandoned, or not pulled)."""
        from .ops.teams.unused import unused_claims

        return unused_claims(self, name)

    def summary(self, name: str, state: ModelState | None = None) -> ModelSummary:
        from .ops.queries.listing import summary

        return summary(self, name, state)

    def list_models(self, *, stage: str | None = None, tags: dict[str, str] | None = None) -> list[ModelSummary]:
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
        (``-metrics.auc``) and ``limit`` as ``list NAME`` takes them."""
        from .ops.queries.listing import list_versions

        return list_versions(self, name, stage=stage, tags=tags, where=where, sort=sort, limit=limit)

    def aliases(self, name: str) -> dict[str, int]:
        """The model's aliases: alias -> version."""
        from .ops.lifecycle.alias import aliases

        return aliases(self, name)

    def history(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Audit entries of a model (or one version), oldest first."""
        from .ops.queries.history import history

        return history(self, name, version)

    def report(self, output: PathLike, *, parallel: bool | None = None) -> ReportResult:
        """Write the registry as a static site into ``output`` (all or nothing; only into a new or
        empty directory or an earlier report). ``parallel`` runs verify in a second process
        (default: on a big registry with a spare core)."""
        from .ops.report import build_report

        return build_report(self, _path(output), parallel=parallel)

    def safety(self, version: Version) -> list[dict[str, Any]]:
        """Each file's safety against the allowlist in force: ``safe``, ``unsafe`` (with the
        imports outside it) or ``unknown``, with its recorded format."""
        from .ops.proof.safety import judge

        allow = self.config.safety_allow
        return [
            {"path": f.path, "format": f.format, **judge(f.format, f.imports, f.unreadable, allow).to_json()}
            for f in version.files
        ]

    def version_json(self, version: Version) -> dict[str, Any]:
        """The version object, each file with its ``format`` and ``safety``."""
        data = version.to_json()
        judged = {item["path"]: item for item in self.safety(version)}
        data["files"] = [{**f.to_dict(), **judged[f.path]} for f in version.files]
        return data

    # -- handing out files -------------------------------------------------
    def export(
        self,
        version: Version,
        dest: PathLike,
        *,
        progress: Callable[[int], None] | None = None,
        signature: bool = False,
    ) -> list[Path]:
        """Write the version's files into ``dest``, verified; ``progress`` hears the bytes written.
        ``signature`` writes its newest signature beside them as ``model.sig`` (OpenSSF Model
        Signing), so that ``model_signing verify`` checks the files as served."""
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
        and rebuilt when it changed since (``rehash`` re-reads an unchanged copy too)."""
        from .ops.serving.served_copy import materialize

        _refuse_removed(version)
        where = materialize(self, version, rehash=rehash, progress=progress)
        self._warn_unsafe(version)
        return where

    # -- changes -----------------------------------------------------------
    def register(
        self,
        name: str,
        paths: PathLike | Iterable[PathLike],
        *,
        metrics: dict[str, Any] | None = None,
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
        sign: PathLike | None = None,
    ) -> RegisterResult:
        """Store the files and record a new version; the result holds it and any versions it archived
        (and unpacks as ``version, archived``).

        ``paths``: one file or directory, or several; ``progress`` hears the bytes stored;
        ``sign``: an EC private key that signs the new version (checked before anything is stored)."""
        from .ops.lifecycle.register import register

        self.require_writable()
        if sign is not None:
            from .ops.capture.lineage import author as find_author
            from .ops.proof.sign import prepare_key

            prepare_key(self, _path(sign), find_author(author))
        inputs = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
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
        return result

    def promote(
        self,
        ref: Ref | str,
        stage: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        force: bool = False,
    ) -> PromoteResult:
        """Move a version to a stage under the registry's rules; ``force`` passes failing gates
        where the stage allows it (never a transition, a removal or missing approvals)."""
        from .ops.lifecycle.promote import promote

        return _reporting(self, lambda: promote(self, ref, stage, reason=reason, actor=actor, force=force))

    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        """Put back in production the version that held it before the current one (or ``to``)."""
        from .ops.lifecycle.promote import rollback

        return _reporting(self, lambda: rollback(self, name, to=to, reason=reason, actor=actor))

    def alias(self, ref: Ref | str, alias: str, *, reason: str | None = None, actor: str | None = None) -> AliasResult:
        """Point ``alias`` at the version ``ref`` names, moving it if it pointed elsewhere."""
        from .ops.lifecycle.alias import set_alias

        return _reporting(self, lambda: set_alias(self, ref, alias, reason=reason, actor=actor))

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasResult:
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
        """Change the description and tags of a model (NAME) or a version (NAME@REF)."""
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
        """Copy registered models from an MLflow store or tracking server (extra ``modelreg[mlflow]``);
        a second run imports only what is new and brings stages, aliases and annotations up to date.
        ``renames`` maps MLflow names to model names; ``progress(done, total, what)`` follows it."""
        from .ops.importers.mlflow import import_mlflow

        return import_mlflow(
            self, tracking_uri, models=models, renames=renames, dry_run=dry_run, actor=actor, progress=progress
        )

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
        """Sign a version's files (OpenSSF Model Signing) with the EC private key at ``key``;
        ``certificate`` (PEM, certifying that key) and ``chain`` go into the bundle."""
        from .ops.proof.sign import sign_version

        self.require_writable()
        return sign_version(
            self, ref, _path(key), actor=actor, certificate=_opt_path(certificate), chain=[_path(c) for c in chain]
        )

    # -- governance ----------------------------------------------------------
    def check(self, ref: Ref | str, stage: str) -> Evaluation:
        """Evaluate moving ``ref`` to ``stage`` (transition, gates, approvals) without changing anything."""
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
        """File a request to move a version to a stage that needs approvals (``sign``: an SSH
        private key that signs it)."""
        from .ops.governance.approvals import Filed, file_request, required

        def filed() -> Filed:
            request = file_request(self, ref, stage, reason=reason, actor=actor, sign=_opt_path(sign))
            return Filed(request, required(self, request.stage))

        return _reporting(self, filed)

    def requests(self, name: str | None = None, *, include_closed: bool = False) -> list[Request]:
        """Open requests (every one with ``include_closed``), of one model or all."""
        from .ops.governance.approvals import list_requests

        return list_requests(self, name, include_closed=include_closed)

    def version_requests(self, name: str, number: int) -> list[Request]:
        from .ops.governance.approvals import version_requests

        return version_requests(self, name, number)

    def request_json(self, request: Request) -> dict[str, Any]:
        from .ops.governance.approvals import request_json

        return request_json(self, request)

    def approve(
        self, request_id: str, *, reason: str | None = None, actor: str | None = None, sign: PathLike | None = None
    ) -> Decided:
        """Approve a request; the approval that completes the count applies the promotion
        (``sign``: an SSH private key that signs the approval)."""
        from .ops.governance.approvals import approve

        return _reporting(self, lambda: approve(self, request_id, reason=reason, actor=actor, sign=_opt_path(sign)))

    def reject(self, request_id: str, *, reason: str | None, actor: str | None = None) -> Decided:
        from .ops.governance.approvals import reject

        return _reporting(self, lambda: reject(self, request_id, reason=reason, actor=actor))

    def remove(self, ref: Ref | str, *, reason: str | None, actor: str | None = None) -> RemoveResult:
        """Retire a version for good: out of every stage and latest, its bytes garbage for gc."""
        from .ops.governance.remove import remove

        return _reporting(self, lambda: remove(self, ref, reason=reason, actor=actor))

    def trust_status(self) -> TrustStatus:
        from .ops.governance.trust import status

        return status(self)

    def trust(self, *, revoke: bool = False) -> TrustStatus:
        """Let this machine run the registry's hook and check commands as they are now."""
        from .ops.governance.trust import trust

        return trust(self, revoke=revoke)


def _refuse_removed(version: Version) -> None:
    """A removed version is a recall: its files are not handed out any more."""
    if version.removed:
        from .errors import ConflictError

        removal = version.removed
        raise ConflictError(
            f"{version.name}@{version.version} was removed {removal['removed_at']} by {removal['removed_by']} "
            f"({removal['reason']}); its files are not served",
            code="removed",
        )


class PublishedRegistry(PublishedRepo, Registry):
    """A registry read from its publication on a remote (``push`` publishes): read-only."""

    def __init__(self, url: str) -> None:
        PublishedRepo.__init__(self, url)
