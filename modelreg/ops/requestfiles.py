"""Finding and reading the request files of ``models/NAME/requests/`` (records/requests.py)."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.errors import IntegrityError, NotFoundError, UsageError
from modelreg.records.requests import ID_RE, REQUESTS_DIR, Request, RequestSchemaError
from modelreg.repo import Repo


def request_path(repo: Repo, name: str, request_id: str) -> Path:
    return repo.model_dir(name) / REQUESTS_DIR / f"{request_id}.yaml"


def load_request(repo: Repo, name: str, request_id: str) -> Request:
    path = request_path(repo, name, request_id)
    try:
        request = Request.parse(repo.load(path, "request file", cached=False))
    except RequestSchemaError as exc:
        raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
    if request.id != request_id or request.name != name:
        raise IntegrityError(f"{path}: names request {request.id} of {request.name!r}", code="corrupt_manifest")
    return request


def model_requests(repo: Repo, name: str) -> list[Request]:
    """Every request of a model, oldest first."""
    folder = repo.tree.inside(repo.model_dir(name) / REQUESTS_DIR / "x").parent
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    ids = [n.removesuffix(".yaml") for n in names if n.endswith(".yaml") and ID_RE.fullmatch(n.removesuffix(".yaml"))]
    return sorted((load_request(repo, name, i) for i in ids), key=lambda r: (r.requested_at, r.id))


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
