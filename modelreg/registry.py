"""``Registry``: the public face of the library — open or create a registry, then ask and change.

Each method delegates to the operation that owns the behaviour (``modelreg.ops``); the plumbing
it inherits from ``Repo`` (paths, config, records, locks, blob store, remote) is shared with them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .repo import Repo, find_root

if TYPE_CHECKING:
    from .ops.alias import AliasResult
    from .ops.annotate import AnnotateResult
    from .ops.importers.report import ImportReport
    from .ops.listing import ModelSummary
    from .ops.promote import PromoteResult
    from .records.manifest import Version
    from .records.refs import Ref
    from .records.state import ModelState

__all__ = ["Registry", "find_root"]


class Registry(Repo):
    """A registry directory. Never prints; raises modelreg.errors types."""

    # -- opening -----------------------------------------------------------
    @classmethod
    def open(cls, path: Path | None = None, *, start: Path | None = None) -> Registry:
        return cls(find_root(path, start))

    @classmethod
    def init(cls, path: Path, *, actor: str | None = None) -> tuple[Registry, bool]:
        """Create a registry at ``path``; on an existing registry change nothing."""
        from .ops.create import create

        created = create(path, actor=actor)
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

    # -- handing out files -------------------------------------------------
    def export(self, version: Version, dest: Path) -> list[Path]:
        from .ops.serve import export

        return export(self, version, dest)

    def materialize(self, version: Version, *, rehash: bool = False) -> Path:
        """A directory of the version's files inside the git-ignored cache, verified when built
        and rebuilt when it changed since (``rehash`` re-reads an unchanged copy too)."""
        from .ops.served_copy import materialize

        return materialize(self, version, rehash=rehash)

    # -- changes -----------------------------------------------------------
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
        push: bool | None = None,
        reason: str | None = None,
        python: Path | None = None,
        env_files: list[Path] | None = None,
    ) -> tuple[Version, tuple[int, ...]]:
        """Store the files and record a new version; returns it and any versions it archived."""
        from .ops.register import register

        return register(
            self,
            name,
            paths,
            metrics=metrics,
            params=params,
            tags=tags,
            description=description,
            datasets=datasets,
            stage=stage,
            author=author,
            link=link,
            cwd=cwd,
            on_file=on_file,
            push=push,
            reason=reason,
            python=python,
            env_files=env_files,
        )

    def promote(
        self, ref: Ref | str, stage: str, *, reason: str | None = None, actor: str | None = None
    ) -> PromoteResult:
        from .ops.promote import promote

        return promote(self, ref, stage, reason=reason, actor=actor)

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
