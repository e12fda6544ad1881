"""``Registry``: the public face of the library — open or create a registry, then ask and change.

Each method delegates to the operation that owns the behaviour (``modelreg.ops``); the plumbing
it inherits from ``Repo`` (paths, config, records, locks, blob store, remote) is shared with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .repo import Repo
from .repo import find_root as _find_root

if TYPE_CHECKING:
    from .ops.alias import AliasResult
    from .ops.annotate import AnnotateResult
    from .ops.approvals import Decided
    from .ops.importers.report import ImportReport
    from .ops.listing import ModelSummary
    from .ops.policy import Evaluation
    from .ops.promote import PromoteResult
    from .ops.remove import RemoveResult
    from .ops.report import ReportResult
    from .ops.trust import TrustStatus
    from .records.config import Config
    from .records.manifest import Version
    from .records.refs import Ref
    from .records.requests import Request
    from .records.state import ModelState

__all__ = ["PathLike", "Registry", "find_root"]

# Wherever the library takes a path it takes a str or any os.PathLike as well.
PathLike = str | os.PathLike[str]


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
        return cls(find_root(path, start))

    @classmethod
    def init(cls, path: PathLike, *, actor: str | None = None) -> tuple[Registry, bool]:
        """Create a registry at ``path``; on an existing registry change nothing."""
        from .ops.create import create

        created = create(_path(path), actor=actor)
        return cls(path), created

    # -- questions ---------------------------------------------------------
    def resolve(self, ref: Ref | str) -> Version:
        from .ops.resolve import resolve

        return resolve(self, ref)

    def get_production(self, name: str) -> Version:
        from .ops.resolve import get_production

        return get_production(self, name)

    def summary(self, name: str, state: ModelState | None = None) -> ModelSummary:
        from .ops.listing import summary

        return summary(self, name, state)

    def list_models(self, *, stage: str | None = None, tags: dict[str, str] | None = None) -> list[ModelSummary]:
        from .ops.listing import list_models

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
        from .ops.listing import list_versions

        return list_versions(self, name, stage=stage, tags=tags, where=where, sort=sort, limit=limit)

    def aliases(self, name: str) -> dict[str, int]:
        """The model's aliases: alias -> version."""
        from .ops.alias import aliases

        return aliases(self, name)

    def history(self, name: str, version: int | None = None) -> list[dict[str, Any]]:
        """Audit entries of a model (or one version), oldest first."""
        from .ops.history import history

        return history(self, name, version)

    def last_change(self, name: str, version: int | None = None) -> str | None:
        """The time of the newest audit entry of a model (or one version); reads from the end."""
        from .ops.history import last_change

        return last_change(self, name, version)

    def report(self, output: PathLike, *, parallel: bool | None = None) -> ReportResult:
        """Write the registry as a static site into ``output`` (all or nothing; only into a new or
        empty directory or an earlier report). ``parallel`` runs verify in a second process
        (default: on a big registry with a spare core)."""
        from .ops.report import build_report

        return build_report(self, _path(output), parallel=parallel)

    # -- handing out files -------------------------------------------------
    def export(self, version: Version, dest: PathLike, *, progress: Callable[[int], None] | None = None) -> list[Path]:
        """Write the version's files into ``dest``, verified; ``progress`` hears the bytes written."""
        from .ops.serve import export

        _refuse_removed(version)
        return export(self, version, _path(dest), progress=progress)

    def materialize(
        self, version: Version, *, rehash: bool = False, progress: Callable[[int], None] | None = None
    ) -> Path:
        """A directory of the version's files inside the git-ignored cache, verified when built
        and rebuilt when it changed since (``rehash`` re-reads an unchanged copy too)."""
        from .ops.served_copy import materialize

        _refuse_removed(version)
        return materialize(self, version, rehash=rehash, progress=progress)

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
        imported: dict[str, Any] | None = None,
    ) -> tuple[Version, tuple[int, ...]]:
        """Store the files and record a new version; returns it and any versions it archived.

        ``paths``: one file or directory, or several; ``progress`` hears the bytes stored;
        ``imported`` (a version made by another registry's tools) is kept as ``lineage.imported``
        in place of this machine's git, CI and environment."""
        from .ops.register import register

        inputs = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        return register(
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
            imported=imported,
        )

    def create_model(
        self, name: str, *, description: str = "", tags: dict[str, str] | None = None, actor: str | None = None
    ) -> AnnotateResult:
        """A model with no version yet (its description and tags); an existing one is a ConflictError."""
        from .ops.annotate import create_model

        return create_model(self, name, description=description, tags=tags, actor=actor)

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
        from .ops.promote import promote

        return promote(self, ref, stage, reason=reason, actor=actor, force=force)

    def rollback(
        self, name: str, *, to: int | None = None, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        """Put back in production the version that held it before the current one (or ``to``)."""
        from .ops.promote import rollback

        return rollback(self, name, to=to, reason=reason, actor=actor)

    def alias(self, ref: Ref | str, alias: str, *, reason: str | None = None, actor: str | None = None) -> AliasResult:
        """Point ``alias`` at the version ``ref`` names, moving it if it pointed elsewhere."""
        from .ops.alias import set_alias

        return set_alias(self, ref, alias, reason=reason, actor=actor)

    def delete_alias(
        self, name: str, alias: str, *, reason: str | None = None, actor: str | None = None
    ) -> AliasResult:
        from .ops.alias import delete_alias

        return delete_alias(self, name, alias, reason=reason, actor=actor)

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
        from .ops.annotate import annotate

        return annotate(self, target, description=description, set_tags=set_tags, unset_tags=unset_tags, actor=actor)

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

    # -- governance ----------------------------------------------------------
    def check(self, ref: Ref | str, stage: str) -> Evaluation:
        """Evaluate moving ``ref`` to ``stage`` (transition, gates, approvals) without changing anything."""
        from .ops.policy import evaluate
        from .ops.requestfiles import open_request_for
        from .ops.resolve import resolve_in
        from .records.refs import parse_ref

        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        self.config.check_stage(stage)
        state = self.state(parsed.name)
        version = resolve_in(self, state, parsed)
        request = open_request_for(self, version.name, version.version, stage)
        return evaluate(self, state, version, stage, request=request)

    def request(self, ref: Ref | str, stage: str, *, reason: str | None, actor: str | None = None) -> Request:
        """File a request to move a version to a stage that needs approvals."""
        from .ops.approvals import file_request

        return file_request(self, ref, stage, reason=reason, actor=actor)

    def requests(self, name: str | None = None, *, include_closed: bool = False) -> list[Request]:
        """Open requests (every one with ``include_closed``), of one model or all."""
        from .ops.approvals import list_requests

        return list_requests(self, name, include_closed=include_closed)

    def version_requests(self, name: str, number: int) -> list[Request]:
        from .ops.approvals import version_requests

        return version_requests(self, name, number)

    def request_json(self, request: Request) -> dict[str, Any]:
        from .ops.approvals import request_json

        return request_json(self, request)

    def approve(self, request_id: str, *, reason: str | None = None, actor: str | None = None) -> Decided:
        """Approve a request; the approval that completes the count applies the promotion."""
        from .ops.approvals import approve

        return approve(self, request_id, reason=reason, actor=actor)

    def reject(self, request_id: str, *, reason: str | None, actor: str | None = None) -> Decided:
        from .ops.approvals import reject

        return reject(self, request_id, reason=reason, actor=actor)

    def remove(self, ref: Ref | str, *, reason: str | None, actor: str | None = None) -> RemoveResult:
        """Retire a version for good: out of every stage and latest, its bytes garbage for gc."""
        from .ops.remove import remove

        return remove(self, ref, reason=reason, actor=actor)

    def trust_status(self) -> TrustStatus:
        from .ops.trust import status

        return status(self)

    def trust(self, *, revoke: bool = False) -> TrustStatus:
        """Let this machine run the registry's hook and check commands as they are now."""
        from .ops.trust import trust

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
