"""Bringing imported versions up to date with MLflow: stages, aliases, descriptions and tags.

MLflow is the source of what it gave: an imported version's stage follows its MLflow stage, an
MLflow alias names the version imported from the one it names there, and MLflow's non-empty
descriptions and its tags win. What was made here is left alone: an alias is deleted only if
the import set it and MLflow no longer has it, and a tag is never removed. Every change goes
through ``promote``, ``alias`` and ``annotate``, so it obeys this registry's rules and is audited;
a refusal is reported, not fatal. A dry run computes the same changes on a copy and makes none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelreg.errors import ConflictError
from modelreg.records.manifest import Version
from modelreg.records.state import ModelState
from modelreg.repo import Repo

from . import naming
from .mapping import desired_stages, mapped_pairs, plain_tags
from .mlflow_source import MlflowModel
from .report import ImportReport, Renamed, Skipped, Updated


@dataclass(frozen=True)
class Present:
    """An MLflow version this registry holds: its number here, and whether this run imported it
    (a dry run's imports exist only here, in the stage they would be registered in)."""

    number: int
    new: bool
    stage: str | None = None


def sync_model(
    repo: Repo,
    model: MlflowModel,
    target: str,
    present: dict[int, Present],
    report: ImportReport,
    *,
    dry_run: bool,
    actor: str,
    mark: str,
) -> None:
    state = repo.state(target) if (repo.model_dir(target) / "model.yaml").is_file() else None
    view = _View(state, present)
    versions = {
        p.number: repo.load_version(state, p.number, cached=False) for p in present.values() if state and not p.new
    }
    _stages(repo, model, target, present, view, versions, report, dry_run, actor, mark)
    _aliases(repo, model, target, present, view, report, dry_run, actor, mark)
    _annotations(repo, model, target, present, state, versions, report, dry_run, actor)
    report.unchanged += sum(
        1
        for p in present.values()
        if not p.new and not any(u.model == target and u.version == p.number for u in report.updated)
    )


class _View:
    """Stages and aliases as they are, or in a dry run as they would be after each change."""

    def __init__(self, state: ModelState | None, present: dict[int, Present]) -> None:
        self.stages = {n: state.stage_of(n) for n in state.numbers()} if state else {}
        for p in present.values():
            if p.stage is not None:
                self.stages.setdefault(p.number, p.stage)
        self.aliases: dict[str, int] = dict(state.aliases.targets) if state else {}


def _stages(
    repo: Repo,
    model: MlflowModel,
    target: str,
    present: dict[int, Present],
    view: _View,
    versions: dict[int, Version],
    report: ImportReport,
    dry_run: bool,
    actor: str,
    mark: str,
) -> None:
    from modelreg.ops.lifecycle.promote import promote

    config = repo.config
    by_number = {v.version: v for v in model.versions}
    for mlv, (want, why) in sorted(desired_stages(model, list(present), config).items()):
        number = present[mlv].number
        if why:
            report.skipped.append(Skipped(target, model.name, mlv, "stage", why, by_number[mlv].stage))
        have = view.stages.get(number)
        if want == have or getattr(versions.get(number), "removed", None):
            continue
        if dry_run:
            archived = (
                tuple(n for n, s in view.stages.items() if s == want and n != number)
                if (want in config.exclusive)
                else ()
            )
        else:
            reason = f"{mark}: {model.name} version {mlv} is in {by_number[mlv].stage} in MLflow"
            try:
                archived = promote(repo, f"{target}@{number}", want, reason=reason, actor=actor).archived
            except ConflictError as exc:
                if exc.code != "policy":
                    raise
                report.skipped.append(Skipped(target, model.name, mlv, "stage", exc.message, want))
                continue
        report.updated.append(Updated(target, number, "stage", have, want))
        view.stages[number] = want
        for old in archived:
            report.updated.append(Updated(target, old, "stage", want, config.archive_stage))
            view.stages[old] = config.archive_stage


def _aliases(
    repo: Repo,
    model: MlflowModel,
    target: str,
    present: dict[int, Present],
    view: _View,
    report: ImportReport,
    dry_run: bool,
    actor: str,
    mark: str,
) -> None:
    from modelreg.ops.lifecycle.alias import delete_alias, set_alias

    wanted: dict[str, int] = {}
    for original, mlv in sorted(model.aliases.items()):
        alias, why = naming.alias_name(original, repo.config.stages)
        if alias is not None and alias in wanted:
            why = f"another MLflow alias also becomes {alias!r}"
        elif alias is not None and mlv not in present:
            why = f"MLflow version {mlv}, which it names, is not imported"
        if alias is None or why:
            if alias is None and mlv in present and naming.model_name(original) in repo.config.stages:
                why += f"; to bring it over as a stage: modelreg promote {target}@{present[mlv].number} {original}"
            report.skipped.append(Skipped(target, model.name, mlv, "alias", why, original))
            continue
        if alias != original:
            report.renamed.append(Renamed(target, model.name, "alias", original, alias))
        wanted[alias] = present[mlv].number
    reason = f"{mark}: MLflow alias of {model.name}"
    for alias, number in sorted(wanted.items()):
        old = view.aliases.get(alias)
        if old == number:
            continue
        if not dry_run:
            set_alias(repo, f"{target}@{number}", alias, reason=reason, actor=actor)
        report.updated.append(Updated(target, number, "alias", {alias: old}, {alias: number}))
        view.aliases[alias] = number
    gone = sorted(set(view.aliases) - set(wanted))
    if not gone:
        return
    from modelreg.ops.queries.history import history

    last: dict[str, str] = {}
    for entry in history(repo, target):
        if entry.get("action") == "alias" and isinstance(entry.get("alias"), str):
            last[entry["alias"]] = str(entry.get("reason") or "")
    for alias in gone:
        if last.get(alias, "").startswith(mark):  # the import set it; MLflow dropped it
            number = view.aliases.pop(alias)
            if not dry_run:
                delete_alias(repo, target, alias, reason=f"{mark}: MLflow no longer has it", actor=actor)
            report.updated.append(Updated(target, number, "alias", {alias: number}, {alias: None}))


def _annotations(
    repo: Repo,
    model: MlflowModel,
    target: str,
    present: dict[int, Present],
    state: ModelState | None,
    versions: dict[int, Version],
    report: ImportReport,
    dry_run: bool,
    actor: str,
) -> None:
    from modelreg.ops.lifecycle.annotate import annotate

    by_number = {v.version: v for v in model.versions}
    todo: list[tuple[int | None, str, dict[str, str], str, dict[str, str]]] = []
    for mlv, p in sorted(present.items()):
        if not p.new:
            version = versions[p.number]
            mv = by_number[mlv]
            todo.append((p.number, version.description, version.tags, mv.description, plain_tags(mv.tags)))
    desc, tags = (state.index.description, state.index.tags) if state else ("", {})
    todo.append((None, desc, tags, model.description, mapped_pairs(model.tags, "tag", model, target, None, report)))
    for number, desc, tags, want_desc, want_tags in todo:
        new_desc = want_desc if want_desc and want_desc != desc else None
        set_tags = {k: v for k, v in want_tags.items() if tags.get(k) != v}
        if new_desc is None and not set_tags:
            continue
        if not dry_run:
            ref = target if number is None else f"{target}@{number}"
            annotate(repo, ref, description=new_desc, set_tags=set_tags, actor=actor)
        if new_desc is not None:
            report.updated.append(Updated(target, number, "description", desc, new_desc))
        if set_tags:
            old: dict[str, Any] = {k: tags.get(k) for k in set_tags}
            report.updated.append(Updated(target, number, "tags", old, set_tags))
