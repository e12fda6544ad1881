"""``verify``: blobs against digests, manifests against the schema, stages against manifests,
the audit chain, and the audit log against the versions it describes."""

from __future__ import annotations

import os
from typing import Any

from modelreg.errors import IntegrityError, ModelregError, StorageError
from modelreg.ops.findings import ERROR, WARNING, Finding, Report
from modelreg.ops.verify.history import history_findings, registered
from modelreg.records.audit import ChainReport
from modelreg.records.filepaths import check_paths
from modelreg.records.manifest import Version, file_set_digest
from modelreg.records.names import NAME_RULE, is_valid_name
from modelreg.records.state import ModelState
from modelreg.repo import Repo

MAX_MISSING = 20  # missing manifests reported one by one


def verify(reg: Repo, name: str | None = None, *, quick: bool = False) -> Report:
    report = Report()
    reg.prepare_all()
    report.recovered = reg.recover_all()
    if name is not None:
        reg.state(name)  # an unknown model is "not found", not a clean report
    # The log first, the files after: a change writes its files before its entries, so every
    # entry read describes files that are there; files newer than the log are waited for below.
    chain = _check_audit(reg, report)
    names = [name] if name is not None else _model_names(reg, report)
    checked: dict[str, str | None] = {}
    suspects: dict[str, tuple[set[int], list[Finding]]] = {}
    for model in names:
        report.models += 1
        state = _model_state(reg, model, report)
        if state is None:
            continue
        _check_stages(reg, state, report)
        present = _manifest_numbers(reg, model)
        if reg.config.claims.engine:
            from modelreg.ops.verify.claims import claim_findings

            entries_now = _model_entries(reg, model) if chain is not None else []
            report.findings.extend(claim_findings(reg, state, present, entries_now, quick=quick))
        else:
            _report_missing_manifests(reg, state, present, report)
        # One model's entries at a time (found through the history view): what verify holds is
        # the largest model's history, never the whole log.
        entries = _model_entries(reg, model) if chain is not None else []
        loaded = _check_versions(reg, state, present, registered(entries), report, checked, quick)
        _check_orphans(reg, state, present, report)
        if chain is not None:
            from modelreg.ops.proof.checks import proof_findings

            report.findings.extend(proof_findings(reg, model, loaded, entries))
        findings = history_findings(reg, state, entries, loaded) if chain is not None else []
        del entries
        if findings:
            suspects[model] = (loaded, findings)
    for model, (loaded, findings) in sorted(suspects.items()):
        report.findings.extend(_settled(reg, model, loaded, findings))
    if name is None and chain is not None:
        _check_vanished_models(reg, chain.registered, names, report)
    _check_leftovers(reg, report)
    _check_packs(reg, report)
    return report


def _check_versions(
    reg: Repo,
    state: ModelState,
    present: set[int],
    registered: dict[int, str | None],
    report: Report,
    checked: dict[str, str | None],
    quick: bool,
) -> set[int]:
    """Check every version that has a manifest; return the numbers of those that loaded."""
    loaded: set[int] = set()
    for number in sorted(n for n in present if n <= state.latest):
        version = _load_version(reg, state, number, report)
        if version is None:
            continue
        report.versions += 1
        loaded.add(number)
        if registered.get(number) not in (None, version.digest):
            report.add(
                ERROR,
                "manifest",
                reg.manifest_path(state.index.name, number),
                f"digest {version.digest[:19]}… differs from the one recorded when {version.name}@{number} "
                f"was registered ({str(registered[number])[:19]}…): files were swapped",
            )
        if not version.removed:  # a removed version's bytes are garbage: gc may have taken them
            _check_blobs(reg, version, report, checked, quick)
    return loaded


def _settled(reg: Repo, model: str, loaded: set[int], findings: list[Finding]) -> list[Finding]:
    """The history findings of ``model`` once no change of it is in flight: a change may have
    written its files since the log was read and be appending its entries now, so under the
    model's lock (finishing an interrupted change) both are read again."""
    try:
        with reg.model_lock(model, new=True):
            entries, state = _read_again(reg, model, locked=True)
    except (StorageError, PermissionError):
        # No lock in a registry this process cannot write (a read-only mount): read again
        # without it (a change through another, writable mount is not waited for).
        entries, state = _read_again(reg, model, locked=False)
    return findings if state is None else history_findings(reg, state, entries, loaded)


def _read_again(reg: Repo, model: str, *, locked: bool) -> tuple[list[dict[str, Any]], ModelState | None]:
    try:
        state = reg.locked_state(model) if locked else reg.state(model)  # locked: finishes a change
    except ModelregError:
        return [], None
    return list(reg.audit.entries(model=model)), state


def _check_audit(reg: Repo, report: Report) -> ChainReport | None:
    """The audit chain's summary, its problems reported; None when the log cannot be read."""
    try:
        chain = reg.audit.check()
    except IntegrityError as exc:  # a link or a FIFO in place of the log: nothing to compare with
        report.add(ERROR, "audit", reg.audit.path, exc.message.removeprefix(f"{reg.audit.path} "))
        return None
    report.audit_entries = chain.entries
    for problem in chain.problems:
        report.add(
            ERROR, "audit", f"{reg.audit.path}:{problem.line}", f"entry at line {problem.line} {problem.message}"
        )
    if chain.torn_tail:
        report.add(WARNING, "leftover", reg.audit.path, "last line is an interrupted write; the next change repairs it")
    if chain.unterminated:
        report.add(WARNING, "leftover", reg.audit.path, "last entry lacks its final newline; the next change adds it")
    return chain


def _model_entries(reg: Repo, model: str) -> list[dict[str, Any]]:
    """The model's entries that have an id, in log order."""
    return [e for e in reg.history_view.entries(model) if isinstance(e.get("id"), str)]


def _model_names(reg: Repo, report: Report) -> list[str]:
    """The models to check. What under models/ cannot be a model is a finding: a symlink (never
    followed) and a directory with a model file under a name no model can have."""
    base = reg.root / "models"
    for path in sorted(base.iterdir()) if base.is_dir() and not base.is_symlink() else []:
        if path.is_symlink():
            problem = "is a symbolic link: modelreg never follows links inside a registry (make it a real directory)"
            report.add(ERROR, "manifest", path, problem)
        elif not is_valid_name(path.name) and (path / "model.yaml").is_file():
            problem = f"directory name {path.name[:120]!r} is not a model name ({NAME_RULE}); rename or remove it"
            report.add(ERROR, "manifest", path, problem)
    return [n for n in reg.model_names() if is_valid_name(n)]


def _check_vanished_models(reg: Repo, registered_models: set[str], names: list[str], report: Report) -> None:
    """A model the history registered whose files are gone."""
    known = set(names)
    for model in sorted(registered_models - known):
        path = reg.root / "models" / model
        if not is_valid_name(model) and path.exists():
            continue  # reported as a bad directory name
        report.add(
            ERROR,
            "history",
            path,
            f"the audit log records model {model[:120]!r}, which is not in the registry (deleted?)",
        )


def _model_state(reg: Repo, model: str, report: Report) -> ModelState | None:
    try:
        return reg.state(model)
    except ModelregError as exc:
        # The message names the file at fault (model.yaml or stages.yaml): report it as the path.
        path, sep, rest = exc.message.partition(": ")
        if sep and path.startswith(f"{reg.model_dir(model)}{os.sep}"):
            report.add(ERROR, "manifest", path, rest)
        else:
            report.add(ERROR, "manifest", reg.model_dir(model), exc.message)
        return None


def _manifest_numbers(reg: Repo, model: str) -> set[int]:
    """Version numbers with a manifest file (listed once: a crafted latest_version costs nothing)."""
    try:
        names = os.listdir(reg.model_dir(model) / "versions")
    except (FileNotFoundError, NotADirectoryError):
        return set()
    numbers = (n.removesuffix(".yaml") for n in names if n.endswith(".yaml"))
    return {int(n) for n in numbers if n.isascii() and n.isdigit() and len(n) <= 9}


def _report_missing_manifests(reg: Repo, state: ModelState, present: set[int], report: Report) -> None:
    """A finding per missing manifest, or one for them all when there are more than MAX_MISSING."""
    model = state.index.name
    missing = [n for n in range(1, state.latest + 1) if n not in present]
    if len(missing) > MAX_MISSING:
        where, text = reg.model_dir(model) / "versions", f"{model}@{missing[0]} to {model}@{missing[-1]}"
        report.add(ERROR, "manifest", where, f"manifests of {len(missing)} versions are missing ({text})")
        return
    for n in missing:
        report.add(ERROR, "manifest", reg.manifest_path(model, n), f"manifest of {model}@{n} is missing")


def _check_stages(reg: Repo, state: ModelState, report: Report) -> None:
    path = reg.model_dir(state.index.name) / "stages.yaml"
    stages = reg.config.stages
    for number, stage in state.stages.assignments.items():
        if number > state.latest:
            report.add(ERROR, "stages", path, f"assigns version {number}, which does not exist")
        if stage not in stages:
            report.add(ERROR, "stages", path, f"version {number} is in unknown stage {stage!r}")
    for number, stage in state.index.initial_stages.items():
        if stage not in stages:
            report.add(
                ERROR, "manifest", path.with_name("model.yaml"), f"version {number} starts in unknown stage {stage!r}"
            )
    if state.index.default_stage not in stages:
        report.add(
            ERROR,
            "manifest",
            path.with_name("model.yaml"),
            f"default stage {state.index.default_stage!r} is not configured",
        )
    for stage in reg.config.exclusive:
        holders = state.holders(stage)
        if len(holders) > 1:
            report.add(ERROR, "stages", path, f"exclusive stage {stage!r} is held by versions {holders}")


def _load_version(reg: Repo, state: ModelState, number: int, report: Report) -> Version | None:
    path = reg.manifest_path(state.index.name, number)
    try:
        version = reg.load_version(state, number, cached=False)
    except ModelregError as exc:
        report.add(ERROR, "manifest", path, exc.message.removeprefix(f"{path}: "))
        return None
    if file_set_digest(list(version.files)) != version.digest:
        report.add(ERROR, "manifest", path, "digest does not match the files it lists (edited?)")
    if version.initial_stage not in reg.config.stages:
        report.add(ERROR, "manifest", path, f"initial stage {version.initial_stage!r} is not configured")
    try:
        check_paths(version.files)
    except ModelregError as exc:
        report.add(ERROR, "manifest", path, exc.message)
    return version


def _check_blobs(reg: Repo, version: Version, report: Report, checked: dict[str, str | None], quick: bool) -> None:
    for entry in version.files:
        if entry.digest not in checked:
            checked[entry.digest] = _blob_problem(reg, entry.digest, entry.size, quick)
            report.blobs_checked += 1
        problem = checked[entry.digest]
        if problem == "missing":
            if reg.config.remote_url():
                report.add(
                    WARNING,
                    "missing",
                    reg.blobs.location(entry.digest),
                    f"blob of {version.name}@{version.version}:{entry.path} is not here; 'modelreg pull' fetches it",
                )
            else:
                report.add(
                    ERROR,
                    "missing",
                    reg.blobs.location(entry.digest),
                    f"blob of {version.name}@{version.version}:{entry.path} is missing and no remote is configured",
                )
        elif problem:
            report.add(
                ERROR,
                "blob",
                reg.blobs.location(entry.digest),
                f"{problem} (file {entry.path!r} of {version.name}@{version.version})",
            )


def _blob_problem(reg: Repo, digest: str, size: int, quick: bool) -> str | None:
    return reg.blob_problem(digest, size, quick)


def _check_orphans(reg: Repo, state: ModelState, present: set[int], report: Report) -> None:
    for number in sorted(n for n in present if n > state.latest):
        report.add(
            WARNING,
            "leftover",
            reg.manifest_path(state.index.name, number),
            "manifest of an unfinished registration; the next register replaces it",
        )


def _check_packs(reg: Repo, report: Report) -> None:
    """Packs whose index cannot be trusted hold no chunk for anyone; the files they served show above."""
    index = reg.blobs.chunks.index()
    for name, problem in sorted(index.problems.items()):
        report.add(WARNING, "pack", index.idx_path(name), f"pack {name[:12]}… is ignored: {problem}")


def _check_leftovers(reg: Repo, report: Report) -> None:
    for path in reg.leftovers():
        report.add(
            WARNING, "leftover", path, "temporary file of an interrupted write; harmless, 'modelreg gc' removes it"
        )
