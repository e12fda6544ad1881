"""verify's second half: the history is the truth, so the files must tell the same story.

The model's audit entries are replayed (records/timeline.py) and compared with its files: every
version has its register entry (with the digest recorded then), every version the history knows
exists, every version is in the stage, every alias names the version the history says, and
every environment serves the version (since the deploy) the history says.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from modelreg.errors import IntegrityError, ModelregError
from modelreg.ops.findings import ERROR, Finding
from modelreg.records.manifest import Version
from modelreg.records.state import ModelState
from modelreg.records.timeline import Timeline, replay
from modelreg.repo import Repo


def registered(entries: Iterable[dict[str, Any]]) -> dict[int, str | None]:
    """version -> the digest its register entry recorded (entries of one model)."""
    found: dict[int, str | None] = {}
    for e in entries:
        version, digest = e.get("version"), e.get("digest")
        if e.get("action") == "register" and isinstance(version, int):
            found[version] = digest if isinstance(digest, str) else None
    return found


# -- the history is the truth ------------------------------------------------------------------


def history_findings(reg: Repo, state: ModelState, entries: list[dict[str, Any]], loaded: set[int]) -> list[Finding]:
    """Where the files and the model's history disagree: a version without its register entry,
    a version the history knows and the files do not, a stage the history does not tell."""
    model = state.index.name
    mdir = reg.model_dir(model)
    recorded = registered(entries)
    found = [
        Finding(
            ERROR,
            "audit",
            str(reg.audit.path),
            f"{model}@{n} has no register entry in the audit log (entries deleted?)",
        )
        for n in sorted(loaded)
        if n not in recorded
    ]
    timeline = replay(entries)
    for number, history in sorted(timeline.stages.items()):
        if number > state.latest:
            found.append(
                Finding(
                    ERROR,
                    "history",
                    str(mdir / "model.yaml"),
                    f"the audit log records {model}@{number}, but the model's latest version is {state.latest} "
                    "(version files deleted?)",
                )
            )
            continue
        said = state.stage_of(number)
        if said == history:
            continue
        from_index = number not in state.stages.assignments and number in state.index.initial_stages
        found.append(
            Finding(
                ERROR,
                "history",
                str(mdir / ("model.yaml" if from_index else "stages.yaml")),
                f"{model}@{number} is in {said!r} by the files, but the audit history puts it in {history!r} "
                "(a stage file edited, or an entry deleted or added?)",
            )
        )
    files_say = state.aliases.targets
    for alias in sorted(set(files_say) | set(timeline.aliases)):
        if files_say.get(alias) != timeline.aliases.get(alias):
            found.append(
                Finding(
                    ERROR,
                    "history",
                    str(mdir / "aliases.yaml"),
                    f"alias {alias!r} of {model} names version {files_say.get(alias)} by the files, but "
                    f"{timeline.aliases.get(alias)} by the audit history (the alias file edited, or an entry "
                    "deleted or added?)",
                )
            )
    found += _governance_findings(reg, state, entries)
    found += _request_findings(reg, model, entries)
    found.extend(_deployment_findings(reg, model, timeline))
    return found


def _deployment_findings(reg: Repo, model: str, timeline: Timeline) -> list[Finding]:
    path = reg.deployments_path(model)
    try:
        current = reg.deployments(model)
    except IntegrityError as exc:
        return [Finding(ERROR, "manifest", str(path), exc.message.removeprefix(f"{path}: "))]
    files_say = {} if current is None else {e: (d.version, d.since, d.by) for e, d in current.envs.items()}
    found = []
    for env in sorted(set(files_say) | set(timeline.deployed)):
        said, history = files_say.get(env), timeline.deployed.get(env)
        if said == history:
            continue

        def tell(what: tuple[int, str, str] | None) -> str:
            return "nothing" if what is None else f"version {what[0]} since {what[1]} (by {what[2]})"

        found.append(
            Finding(
                ERROR,
                "history",
                str(path),
                f"{env} serves {tell(said)} of {model} by the files, but {tell(history)} by the audit history "
                "(the deployment file edited, or an entry deleted or added?)",
            )
        )
    return found


def _governance_findings(reg: Repo, state: ModelState, entries: list[dict[str, Any]]) -> list[Finding]:
    """Every recorded move into a stage that the rules in force do not justify (ops/justified.py)."""
    from modelreg.ops.governance.justified import justify

    model = state.index.name
    loaded: dict[int, Version | None] = {}

    def version_of(number: int) -> Version | None:
        if number not in loaded:
            try:
                loaded[number] = reg.load_version(state, number, cached=False)
            except ModelregError:
                loaded[number] = None
        return loaded[number]

    judged = justify(reg.config, entries, version_of)
    where = str(reg.audit.path)
    return [
        Finding(ERROR, "governance", where, f"{u.describe()} (see: modelreg log {model})") for u in judged.unjustified
    ]


def _request_findings(reg: Repo, model: str, entries: list[dict[str, Any]]) -> list[Finding]:
    """Request files that do not tell the audit log's story: strays, edited, missing."""
    from modelreg.ops.governance.request_store import request_files

    try:
        problems = request_files(reg, model, entries).problems
    except ModelregError as exc:  # the requests folder itself (a link)
        return [Finding(ERROR, "request", str(reg.model_dir(model) / "requests"), exc.message)]
    return [Finding(ERROR, "request", str(path), why) for path, why in problems]
