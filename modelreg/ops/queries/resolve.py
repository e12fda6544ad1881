"""Answering "which version?": a reference (``NAME@REF``, see records/refs.py) to a version.

A plain reference is answered from the model's files. ``~N`` and ``@{TIME}`` are answered from
the model's own audit history (its per-model view, so other models' entries cost nothing),
replayed by records/timeline.py into the stages and aliases at any moment.
"""

from __future__ import annotations

import re

from modelreg.base.fs import read_head
from modelreg.errors import NotFoundError, UsageError
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.state import ModelState
from modelreg.records.timeline import Timeline, replay
from modelreg.repo import Repo

_DIGEST_LINE = re.compile(rb"^digest: ['\"]?sha256:([0-9a-f]{64})", re.MULTILINE)


def resolve(repo: Repo, ref: Ref | str) -> Version:
    if isinstance(ref, str):
        ref = parse_ref(ref)
    return resolve_in(repo, repo.state(ref.name), ref)


def resolve_in(repo: Repo, state: ModelState, ref: Ref) -> Version:
    """``ref`` against an already read state (a change resolves under the model's lock)."""
    return repo.load_version(state, number_of(repo, state, ref))


def get_production(repo: Repo, name: str) -> Version:
    production = repo.config.production_stage()
    state = repo.state(name)
    holders = state.holders(production)
    if not holders:
        raise NotFoundError(f"no version of {name!r} is in {production}", code="no_production")
    return repo.load_version(state, holders[-1])


def number_of(repo: Repo, state: ModelState, ref: Ref) -> int:
    """The version number ``ref`` names."""
    name = ref.name
    if ref.plain:
        return _now(repo, state, ref)
    timeline = replay(repo.history_view.entries(name), ref.at)
    current = _now(repo, state, ref) if ref.at is None else _then(repo, state, ref, timeline)
    if not ref.back:
        return current
    # A removed version is retired for good: steps never land on one, whenever it was removed
    # (by ``ref.at`` or since), so a past holder removed later is skipped too. The starting point
    # itself stays: ``@{TIME}`` may name a holder removed since, and steps count from it.
    gone = (timeline.removed | set(state.removed)) - {current}
    if ref.label is not None:
        took = _holders_in_turn(timeline.took.get(ref.label, []), gone)
        last = max((i for i, n in enumerate(took) if n == current), default=None)
        if last is None or last < ref.back:
            raise NotFoundError(f"{ref} names nothing: {ref.label!r} had no holder that far back", code="no_such_ref")
        return took[last - ref.back]
    live = sorted(n for n in timeline.registered if n not in gone)
    position = live.index(current) if current in live else -1
    if position < ref.back:
        raise NotFoundError(f"{ref} names nothing: {name!r} has no version that far back", code="no_such_ref")
    return live[position - ref.back]


def _holders_in_turn(took: list[int], gone: set[int]) -> list[int]:
    """The versions that took a stage or alias, removed ones left out and a version taking it
    again straight after itself counted once: each step back names a different holder."""
    turns: list[int] = []
    for number in took:
        if number not in gone and (not turns or turns[-1] != number):
            turns.append(number)
    return turns


def _now(repo: Repo, state: ModelState, ref: Ref) -> int:
    name = ref.name
    if ref.version is not None:
        if ref.version in state.absent:
            raise NotFoundError(
                f"{name}@{ref.version} has no version here: its number was claimed, and its version was never "
                "recorded or is not pulled yet (see: modelreg show " + name + ")",
                code="unknown_version",
            )
        if not state.has(ref.version):
            raise NotFoundError(
                f"model {name!r} has no version {ref.version} (latest is {state.latest})", code="unknown_version"
            )
        return ref.version
    if ref.label is not None:
        label = ref.label
        if label in repo.config.stages:
            holders = state.holders(label)
            if not holders:
                raise NotFoundError(f"no version of {name!r} is in stage {label!r}", code="no_stage_holder")
            return holders[-1]
        target = state.aliases.targets.get(label)
        if target is None:
            known = ", ".join(sorted(state.aliases.targets)) or "none"
            raise NotFoundError(
                f"{name!r} has no stage or alias {label!r} (stages: {', '.join(repo.config.stages)}; aliases: {known})",
                code="unknown_alias",
            )
        return target
    if ref.digest_prefix is not None:
        return _match_digest(repo, state, ref.digest_prefix)
    # issue 13: latest skips removed versions (stage references skip them through holders()).
    latest = state.latest_live
    if latest is None:
        what = "versions" if state.latest == 0 else "versions left: every one was removed"
        raise NotFoundError(f"model {name!r} has no {what}", code="unknown_version")
    return latest


def _then(repo: Repo, state: ModelState, ref: Ref, timeline: Timeline) -> int:
    """What ``ref`` (without its steps) named at ``ref.at``."""
    when = f"at {ref.at}"
    if ref.version is not None or ref.digest_prefix is not None:
        number = _now(repo, state, ref)
        if number not in timeline.registered:
            raise NotFoundError(f"{ref} names nothing: {ref.name}@{number} did not exist {when}", code="no_such_ref")
        return number
    if ref.label is not None:
        if ref.label in repo.config.stages:
            holders = sorted(n for n, s in timeline.stages.items() if s == ref.label)
            found = holders[-1] if holders else None
        else:
            found = timeline.aliases.get(ref.label)
        if found is None:
            raise NotFoundError(f"{ref} names nothing: {ref.label!r} named no version {when}", code="no_such_ref")
        return found
    live = [n for n in timeline.registered if n not in timeline.removed]
    if not live:
        raise NotFoundError(f"{ref} names nothing: {ref.name!r} had no version {when}", code="no_such_ref")
    return max(live)


def _match_digest(repo: Repo, state: ModelState, prefix: str) -> int:
    # Digest references are rare: a line scan of the manifests, without parsing YAML.
    name = state.index.name
    matches = []
    for number in state.numbers():
        try:
            head = read_head(repo.manifest_path(name, number), 4096)
        except FileNotFoundError:
            continue
        found = _DIGEST_LINE.search(head)
        if found and found.group(1).decode().startswith(prefix):
            matches.append(number)
    if not matches:
        raise NotFoundError(f"no version of {name!r} has digest sha256:{prefix}…", code="unknown_version")
    if len(matches) > 1:
        listed = ", ".join(f"{name}@{n}" for n in matches)
        raise UsageError(
            f"sha256:{prefix} matches several versions of {name!r} ({listed}); give a version number",
            code="ambiguous_ref",
        )
    return matches[0]
