"""Answering "which version?": a reference (``NAME@REF``) or the production stage, to a version."""

from __future__ import annotations

import re

from modelreg.errors import NotFoundError, UsageError
from modelreg.records.manifest import Version
from modelreg.records.names import Ref, parse_ref
from modelreg.records.state import ModelState
from modelreg.repo import Repo

_DIGEST_LINE = re.compile(rb"^digest: ['\"]?sha256:([0-9a-f]{64})", re.MULTILINE)


def resolve(repo: Repo, ref: Ref | str) -> Version:
    if isinstance(ref, str):
        ref = parse_ref(ref)
    return resolve_in(repo, repo.state(ref.name), ref)


def resolve_in(repo: Repo, state: ModelState, ref: Ref) -> Version:
    """``ref`` against an already read state (a change resolves under the model's lock)."""
    name = ref.name
    if ref.version is not None:
        return repo.load_version(state, ref.version)
    if ref.stage is not None:
        repo.config.check_stage(ref.stage)
        holders = state.holders(ref.stage)
        if not holders:
            raise NotFoundError(f"no version of {name!r} is in stage {ref.stage!r}", code="no_stage_holder")
        return repo.load_version(state, holders[-1])
    if ref.digest_prefix is not None:
        return repo.load_version(state, _match_digest(repo, state, ref.digest_prefix))
    # issue 13: latest skips removed versions (stage references skip them through holders()).
    latest = state.latest_live
    if latest is None:
        what = "versions" if state.latest == 0 else "versions left: every one was removed"
        raise NotFoundError(f"model {name!r} has no {what}", code="unknown_version")
    return repo.load_version(state, latest)


def get_production(repo: Repo, name: str) -> Version:
    production = repo.config.production_stage()
    state = repo.state(name)
    holders = state.holders(production)
    if not holders:
        raise NotFoundError(f"no version of {name!r} is in {production}", code="no_production")
    return repo.load_version(state, holders[-1])


def _match_digest(repo: Repo, state: ModelState, prefix: str) -> int:
    # Digest references are rare: a line scan of the manifests, without parsing YAML.
    name = state.index.name
    matches = []
    for number in range(1, state.latest + 1):
        try:
            head = repo.manifest_path(name, number).read_bytes()[:4096]
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
