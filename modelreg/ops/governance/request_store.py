"""Finding and reading the request files of ``models/NAME/requests/`` (records/requests.py)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelreg.errors import IntegrityError, NotFoundError, UsageError
from modelreg.records.requests import ID_RE, REQUESTS_DIR, Request, RequestSchemaError, person
from modelreg.repo import Repo


def request_path(repo: Repo, name: str, request_id: str) -> Path:
    return repo.model_dir(name) / REQUESTS_DIR / f"{request_id}.yaml"


def load_request(repo: Repo, name: str, request_id: str, entries: list[dict[str, Any]] | None = None) -> Request:
    """A request file, as far as the audit log backs it (``entries``: the model's, if already read)."""
    path = request_path(repo, name, request_id)
    try:
        request = Request.parse(repo.load(path, "request file", cached=False))
    except RequestSchemaError as exc:
        raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
    if request.id != request_id or request.name != name:
        raise IntegrityError(f"{path}: names request {request.id} of {request.name!r}", code="corrupt_manifest")
    return attested(repo, path, request, repo.history_view.entries(name) if entries is None else entries)


def attested(repo: Repo, path: Path, request: Request, entries: list[dict[str, Any]]) -> Request:
    """The request file is a convenience for reviewers; the audit log is the record. A file whose
    request the log does not show is refused, and an approval the log does not show never counts:
    a hand-edited file in a pull request cannot add approvers."""
    own = [e for e in entries if e.get("request") == request.id]
    filed = next((e for e in own if e.get("action") == "request"), None)
    if filed is None or (filed.get("version"), filed.get("to_stage"), person(str(filed.get("actor")))) != (
        request.version,
        request.stage,
        person(request.requested_by),
    ):
        raise IntegrityError(
            f"{path}: request {request.id} is not the one the audit log records (edited by hand?)",
            code="corrupt_manifest",
        )
    logged = {person(str(e.get("actor"))) for e in own if e.get("action") == "approve"}
    kept = tuple(d for d in request.approvals if person(d.by) in logged)
    if len(kept) == len(request.approvals):
        return request
    forged = sorted({d.by for d in request.approvals} - {d.by for d in kept})
    repo.warnings.append(
        f"{path}: approvals by {', '.join(forged)} are not in the audit log and do not count (edited by hand?)"
    )
    return replace(request, approvals=kept)


def model_requests(repo: Repo, name: str) -> list[Request]:
    """Every request of a model, oldest first."""
    folder = repo.tree.inside(repo.model_dir(name) / REQUESTS_DIR / "x").parent
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    ids = [n.removesuffix(".yaml") for n in names if n.endswith(".yaml") and ID_RE.fullmatch(n.removesuffix(".yaml"))]
    entries = repo.history_view.entries(name) if ids else []
    return sorted((load_request(repo, name, i, entries) for i in ids), key=lambda r: (r.requested_at, r.id))


def find_request(repo: Repo, request_id: str) -> Request:
    """The request with this id, whichever model it belongs to."""
    if not ID_RE.fullmatch(request_id):
        raise UsageError(
            f"invalid request id {request_id!r}: 8 hex digits, as 'modelreg requests' shows", code="invalid_ref"
        )
    for name in repo.model_names():
        if os.path.isfile(request_path(repo, name, request_id)):
            return load_request(repo, name, request_id)
    raise NotFoundError(f"no request {request_id}; see: modelreg requests --all", code="unknown_request")


def open_request_for(repo: Repo, name: str, version: int, stage: str) -> Request | None:
    """The open request to move ``name@version`` to ``stage``, if one was filed."""
    found = [r for r in model_requests(repo, name) if r.is_open and r.version == version and r.stage == stage]
    return found[0] if found else None
