"""``verify``: blobs against digests, manifests against the schema, stages against manifests,
the audit chain, and the audit log against the versions it describes."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError
from modelreg.records.filepaths import check_paths
from modelreg.records.manifest import Version, file_set_digest
from modelreg.records.state import ModelState
from modelreg.repo import Repo

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" fails verify (exit 5); "warning" is harmless and reported
    kind: str
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "kind": self.kind, "path": self.path, "message": self.message}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    blobs_checked: int = 0
    audit_entries: int = 0
    recovered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, severity: str, kind: str, path: Path | str, message: str) -> None:
        self.findings.append(Finding(severity, kind, str(path), message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "models": self.models,
            "versions": self.versions,
            "blobs_checked": self.blobs_checked,
            "audit_entries": self.audit_entries,
            "recovered": self.recovered,
            "findings": [f.to_json() for f in self.findings],
        }


def verify(reg: Repo, name: str | None = None, *, quick: bool = False) -> Report:
    report = Report()
    report.recovered = reg.recover_all()
    names = [name] if name is not None else reg.model_names()
    if name is not None:
        reg.state(name)  # an unknown model is "not found", not a clean report
    registered = _check_audit(reg, report)
    checked: dict[str, str | None] = {}
    unlogged: list[tuple[str, int]] = []
    for model in names:
        report.models += 1
        state = _model_state(reg, model, report)
        if state is None:
            continue
        _check_stages(reg, state, report)
        for number in range(1, state.latest + 1):
            version = _load_version(reg, state, number, report)
            if version is None:
                continue
            report.versions += 1
            if (model, number) not in registered:
                unlogged.append((model, number))
            elif registered[(model, number)] not in (None, version.digest):
                report.add(
                    ERROR,
                    "manifest",
                    reg.manifest_path(model, number),
                    f"digest {version.digest[:19]}… differs from the one recorded when {model}@{number} "
                    f"was registered ({str(registered[(model, number)])[:19]}…): files were swapped",
                )
            _check_blobs(reg, version, report, checked, quick)
        _check_orphans(reg, state, report)
    if unlogged:
        # A register may have completed since the log was read, or be appending its entry now:
        # wait for each such model's lock (finishing any interrupted change), then read again.
        for model in sorted({m for m, _ in unlogged}):
            reg.recover(model)
        registered = _registered(reg.audit.entries())
        for model, number in unlogged:
            if (model, number) not in registered:
                report.add(
                    ERROR,
                    "audit",
                    reg.audit.path,
                    f"{model}@{number} has no register entry in the audit log (entries deleted?)",
                )
    _check_leftovers(reg, report)
    _check_packs(reg, report)
    return report


def _check_audit(reg: Repo, report: Report) -> dict[tuple[str, int], str | None]:
    chain = reg.audit.check()
    report.audit_entries = chain.entries
    for problem in chain.problems:
        report.add(
            ERROR, "audit", f"{reg.audit.path}:{problem.line}", f"entry at line {problem.line} {problem.message}"
        )
    if chain.torn_tail:
        report.add(WARNING, "leftover", reg.audit.path, "last line is an interrupted write; the next change repairs it")
    return _registered(chain.parsed)


def _registered(entries: Iterable[dict[str, Any]]) -> dict[tuple[str, int], str | None]:
    """(model, version) -> the digest its register entry recorded."""
    found: dict[tuple[str, int], str | None] = {}
    for e in entries:
        model, version, digest = e.get("model"), e.get("version"), e.get("digest")
        if e.get("action") == "register" and isinstance(model, str) and isinstance(version, int):
            found[(model, version)] = digest if isinstance(digest, str) else None
    return found


def _model_state(reg: Repo, model: str, report: Report) -> ModelState | None:
    try:
        return reg.state(model)
    except ModelregError as exc:
        report.add(ERROR, "manifest", reg.model_dir(model), exc.message)
        return None


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
    return reg.blobs.problem(digest, size, quick)


def _check_orphans(reg: Repo, state: ModelState, report: Report) -> None:
    vdir = reg.model_dir(state.index.name) / "versions"
    if not vdir.is_dir():
        return
    for path in vdir.iterdir():
        stem = path.name.removesuffix(".yaml")
        if path.name.endswith(".yaml") and stem.isdigit() and int(stem) > state.latest:
            report.add(
                WARNING, "leftover", path, "manifest of an unfinished registration; the next register replaces it"
            )


def _check_packs(reg: Repo, report: Report) -> None:
    """Packs whose index cannot be trusted hold no chunk for anyone; the files they served show above."""
    index = reg.blobs.chunks.index()
    for name, problem in sorted(index.problems.items()):
        report.add(WARNING, "pack", index.idx_path(name), f"pack {name[:12]}… is ignored: {problem}")


def _check_leftovers(reg: Repo, report: Report) -> None:
    from modelreg.base.fs import TMP_SUFFIX

    for top in (reg.root / "models", reg.blobs.root, reg.state_dir):
        if not top.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(top):
            for fname in [*dirnames, *filenames]:
                if fname.endswith(TMP_SUFFIX):
                    report.add(
                        WARNING,
                        "leftover",
                        Path(dirpath) / fname,
                        "temporary file of an interrupted write; harmless, 'modelreg gc' removes it",
                    )
