"""``import mlflow``: copy registered models from an MLflow store or tracking server.

Every version of every model, in version order, becomes a version here through the normal
register path (its artifacts are its files, stored and hashed like any input), with its run's
metrics and params, its tags and description, and ``lineage.imported``. Then the imported
versions' stages, aliases, descriptions and tags are brought up to date with MLflow.

Repeatable: a version is recognised by ``lineage.imported`` (MLflow name, version and creation
time), never by its number, so a second run imports only what is new. Each version is one
register, so an import killed at any point leaves whole versions only; the next run imports
the rest and settles stages and aliases. Imports hold one lock, so two never race. Stages and
aliases obey this registry's rules as ``register --stage``, ``promote`` and ``alias`` do: what
the rules refuse is reported and left as it is.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import leftovers, tmp_name
from modelreg.errors import ConflictError, NotFoundError, UsageError
from modelreg.records.names import validate_name
from modelreg.repo import Repo

from . import naming
from .mapping import desired_stages, imported_lineage, key_of, mapped_pairs
from .mlflow_source import (
    MlflowModel,
    MlflowRun,
    MlflowSource,
    MlflowVersion,
    OutsideStore,
    Unfetchable,
    locate,
    open_source,
)
from .report import Imported, ImportReport, Renamed, Skipped
from .sync import Present, sync_model

MARK = "import mlflow"  # every audit entry the import makes starts its reason with this
Progress = Callable[[int, int, str], None]  # (versions done, versions to import, what now)


@dataclass
class Plan:
    """One MLflow model and what this registry already holds of it."""

    model: MlflowModel
    target: str
    exists: bool
    known: dict[int, int] = field(default_factory=dict)  # MLflow version -> version here
    new: list[MlflowVersion] = field(default_factory=list)


def import_mlflow(
    repo: Repo,
    tracking_uri: str,
    *,
    models: list[str] | None = None,
    renames: dict[str, str] | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    cwd: Path | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import (or with ``dry_run`` report what would be imported, changing nothing)."""
    repo.require_writable()
    from modelreg.ops.capture.lineage import author

    location = locate(tracking_uri, cwd or Path.cwd())
    renames = {k: validate_name(v) for k, v in (renames or {}).items()}
    who = author(actor, cwd)
    report = ImportReport(location.uri, dry_run)
    tick = progress or (lambda done, total, what: None)
    with ExitStack() as stack:
        if not dry_run:
            stack.enter_context(_import_lock(repo))
        work = stack.enter_context(_workdir(repo))
        source = stack.enter_context(open_source(location, work))
        plans = _plan(repo, source, models, renames, report, tick, recover=not dry_run)
        total = sum(len(p.new) for p in plans)
        done = 0
        for plan in plans:
            present = {n: Present(v, False) for n, v in plan.known.items()}
            stages = desired_stages(plan.model, [*plan.known, *(v.version for v in plan.new)], repo.config)
            next_number = _latest(repo, plan) + 1
            for mv in plan.new:

                def say(what: str, done: int = done) -> None:
                    tick(done, total, what)

                say(f"{plan.target}: MLflow {plan.model.name} version {mv.version}")
                stage = stages[mv.version][0]
                if dry_run:
                    number = _would_import(source, plan, mv, stage, next_number, report, repo.warnings)
                else:
                    number = _import_version(repo, source, plan, mv, stage, who, work, report, say)
                done += 1
                if number is not None:
                    present[mv.version] = Present(number, True, stage)
                    next_number = number + 1
                    plan.exists = True
            if plan.exists:
                sync_model(repo, plan.model, plan.target, present, report, dry_run=dry_run, actor=who, mark=MARK)
        tick(done, total, "done")
    return report


def _plan(
    repo: Repo,
    source: MlflowSource,
    names: list[str] | None,
    renames: dict[str, str],
    report: ImportReport,
    tick: Progress,
    *,
    recover: bool,
) -> list[Plan]:
    """Read MLflow and this registry; nothing is changed yet (an unknown --model stops here)
    but the finishing of a change a killed import left, which must count before we compare."""
    plans: list[Plan] = []
    claimed: dict[str, str] = {}  # target -> MLflow name, within this run
    wanted = list(dict.fromkeys(names)) if names else source.model_names()
    unknown = set(renames) - set(wanted)
    if unknown:
        raise UsageError(f"--rename names {sorted(unknown)[0]!r}, which is not among the models imported")
    for name in wanted:
        tick(0, 0, f"reading MLflow model {name}")
        model = source.model(name)
        if model is None:
            report.skipped.append(Skipped(None, name, None, "model", "it is a prompt, not a model"))
            continue
        target = renames.get(name) or naming.model_name(name)
        if target is None:
            reason = f"its name cannot be made a modelreg name; give --rename {name!r}=NAME"
            report.skipped.append(Skipped(None, name, None, "model", reason))
            continue
        if target != name:
            report.renamed.append(Renamed(target, name, "model", name, target))
        if recover and target in repo.journal.pending():
            repo.recover(target)
        plan = _existing(repo, model, target, claimed.get(target), report)
        if plan is None:
            continue
        claimed[target] = name
        report.models.append(target)
        plans.append(plan)
    return plans


def _existing(repo: Repo, model: MlflowModel, target: str, claimed: str | None, report: ImportReport) -> Plan | None:
    """What ``target`` holds of ``model`` already; None (reported) when it holds another model."""
    plan = Plan(model, target, exists=False)
    others = {claimed} if claimed else set()
    try:
        held = repo.versions(target)
    except NotFoundError:
        held = []
    plan.exists = bool(held) or (repo.model_dir(target) / "model.yaml").is_file()
    by_key: dict[tuple[object, object, object], int] = {}
    for version in held:
        found = key_of(version.lineage.get("imported"))
        if found is None:
            continue
        by_key[found] = version.version
        if found[0] != model.name:
            others.add(str(found[0]))
    if others:
        reason = (
            f"{target!r} already holds versions imported from MLflow model {sorted(others)[0]!r}; "
            f"give --rename {model.name!r}=NAME"
        )
        report.skipped.append(Skipped(target, model.name, None, "model", reason))
        return None
    for mv in model.versions:
        number = by_key.get((model.name, mv.version, mv.created_at))
        if number is not None:
            plan.known[mv.version] = number
        elif mv.status != "READY":
            _skip_version(report, plan, mv, f"its registration is {mv.status} in MLflow (a later import retries)")
        else:
            plan.new.append(mv)
    return plan


def _latest(repo: Repo, plan: Plan) -> int:
    try:
        return repo.state(plan.target).latest if plan.exists else 0
    except NotFoundError:
        return 0


def _would_import(
    source: MlflowSource,
    plan: Plan,
    mv: MlflowVersion,
    stage: str,
    number: int,
    report: ImportReport,
    warnings: list[str],
) -> int | None:
    """A dry run lists the version's files (without fetching them) and predicts its number."""
    try:
        ok, why = source.has_artifacts(plan.model.name, mv.version, mv.run_id)
    except OutsideStore as exc:
        _skip_version(report, plan, mv, f"its artifacts cannot be fetched: {exc}")
        warnings.append(f"MLflow {plan.model.name} version {mv.version} would not be imported: {exc}")
        return None
    if not ok:
        _skip_version(report, plan, mv, f"its artifacts cannot be fetched: {why}")
        return None
    _fields(source, plan, mv, report)  # what it would leave out or rename
    report.imported.append(Imported(plan.target, number, plan.model.name, mv.version, stage, 0, 0))
    return number


def _fields(
    source: MlflowSource, plan: Plan, mv: MlflowVersion, report: ImportReport
) -> tuple[MlflowRun | None, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The run, and the metrics, params and tags as they are kept here (what is not, reported)."""
    model, target = plan.model, plan.target
    run = source.run(mv.run_id) if mv.run_id else None
    metrics = mapped_pairs(run.metrics if run else {}, "metric", model, target, mv.version, report)
    params = mapped_pairs(run.params if run else {}, "param", model, target, mv.version, report)
    tags = mapped_pairs(mv.tags, "tag", model, target, mv.version, report)
    return run, metrics, params, tags


def _skip_version(report: ImportReport, plan: Plan, mv: MlflowVersion, why: str) -> None:
    report.skipped.append(Skipped(plan.target, plan.model.name, mv.version, "version", why))


def _import_version(
    repo: Repo,
    source: MlflowSource,
    plan: Plan,
    mv: MlflowVersion,
    stage: str,
    who: str,
    work: Path,
    report: ImportReport,
    say: Callable[[str], None],
) -> int | None:
    """Download the version's artifacts and register them; None (reported) when it cannot be."""
    from modelreg.ops.lifecycle.register import register

    model, target = plan.model, plan.target
    staging = work / f"v{mv.version}"
    try:
        files = source.download(model.name, mv.version, staging, mv.run_id)
    except Unfetchable as exc:
        shutil.rmtree(staging, ignore_errors=True)
        _skip_version(report, plan, mv, f"its artifacts cannot be fetched: {exc}")
        if isinstance(exc, OutsideStore):
            repo.warnings.append(f"MLflow {model.name} version {mv.version} not imported: {exc}")
        return None
    kept = len(report.skipped), len(report.renamed)
    run, metrics, params, tags = _fields(source, plan, mv, report)
    if mv.run_id and run is None:
        repo.warnings.append(f"MLflow {model.name} version {mv.version}: its run {mv.run_id} is gone; no metrics")
    reason = f"{MARK}: {model.name} version {mv.version} from {source.location.uri}"
    attempt = stage
    try:
        while True:
            try:
                version = register(
                    repo,
                    target,
                    [files],
                    metrics=metrics,
                    params=params,
                    tags=tags,
                    description=mv.description,
                    stage=attempt,
                    reason=reason,
                    author=who,
                    link=True,
                    on_file=lambda rel, size: say(f"{target}: {rel}"),
                    push=False,
                    imported=imported_lineage(source.location, model, mv, run),
                ).version
                break
            except ConflictError as exc:
                if exc.code != "policy":
                    raise
                if attempt == repo.config.default_stage:
                    raise UsageError(f"this registry's rules refuse it: {exc.message}") from None
                # The rules refuse the stage: the version comes in the default stage, reported.
                report.skipped.append(Skipped(target, model.name, mv.version, "stage", exc.message, attempt))
                attempt = repo.config.default_stage
    except UsageError as exc:
        del report.skipped[kept[0] :], report.renamed[kept[1] :]
        _skip_version(report, plan, mv, exc.message)
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.imported.append(
        Imported(target, version.version, model.name, mv.version, version.stage, len(version.files), version.size)
    )
    return version.version


@contextmanager
def _import_lock(repo: Repo) -> Iterator[None]:
    """One import at a time: two would both find a version missing and both register it."""
    from modelreg.base.locks import hold

    lock = repo.tree.inside(repo.state_dir / "locks" / "import.lock")
    with hold(lock, repo.config.lock_timeout, "the registry's import (another import is running)"):
        yield


@contextmanager
def _workdir(repo: Repo) -> Iterator[Path]:
    """A private directory in the registry's git-ignored state for the sqlite snapshot and the
    downloads; those a killed import left behind are removed (gc removes them too)."""
    parent = repo.tree.inside(repo.state_dir / "imports" / "x").parent
    if parent.is_dir():
        for path in leftovers(parent):
            shutil.rmtree(path, ignore_errors=True)
    work = tmp_name(parent / "work")
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with suppress(OSError):  # empty now unless another import works there
            parent.rmdir()
