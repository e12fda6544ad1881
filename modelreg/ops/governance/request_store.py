"""Finding and reading the request files of ``models/NAME/requests/`` (records/requests.py).

The audit log is the record of a request: its ``request``, ``approve``, ``reject`` entries, the
``promote`` that applied it and the ``remove`` that cancelled it give its status and approvals.
The file is a convenience for reviewers (a pull request shows it). A file that disagrees with
the log (a status edited back to open, an approval added by hand) is refused where it is the
request acted on (exit 5), and named by ``verify``. A file the log does not record at all is
a stray: it is no request, so it never blocks a command about another one (it is skipped
with a warning) and ``verify`` names it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.errors import IntegrityError, ModelregError, NotFoundError, StorageError, UsageError
from modelreg.records.requests import ID_RE, REQUESTS_DIR, Decision, Request, RequestSchemaError, person
from modelreg.repo import Repo


def request_path(repo: Repo, name: str, request_id: str) -> Path:
    return repo.model_dir(name) / REQUESTS_DIR / f"{request_id}.yaml"


def logged_requests(name: str, entries: list[dict[str, Any]]) -> dict[str, Request]:
    """Every request of model ``name`` as its audit entries tell it, by id."""
    found: dict[str, Request] = {}
    for e in entries:
        action, rid, who, when = e.get("action"), e.get("request"), str(e.get("actor")), str(e.get("time", ""))
        reason = e.get("reason") if isinstance(e.get("reason"), str) else None
        if action == "request" and isinstance(rid, str) and rid not in found:
            version, stage = e.get("version"), e.get("to_stage")
            if isinstance(version, int) and not isinstance(version, bool) and isinstance(stage, str):
                source = e.get("from_stage") if isinstance(e.get("from_stage"), str) else ""
                found[rid] = Request(rid, name, version, stage, str(source), who, when, reason or "")
            continue
        if action == "remove" and isinstance(e.get("requests"), list):
            for cancelled in e["requests"]:
                req = found.get(cancelled) if isinstance(cancelled, str) else None
                if req is not None and req.is_open:
                    found[req.id] = req.close("cancelled", Decision(who, when, reason))
            continue
        req = found.get(rid) if isinstance(rid, str) else None
        if req is None or not req.is_open:
            continue
        if action == "approve":
            found[req.id] = req.approved(Decision(who, when, reason))
        elif action == "reject":
            found[req.id] = req.close("rejected", Decision(who, when, reason))
        elif action == "promote":
            found[req.id] = req.close("applied", Decision(who, when, reason))
    return found


def _disagreement(on_file: Request, logged: Request | None) -> str | None:
    """Why the file does not tell the log's story, or None when it does."""
    if logged is None:
        return f"request {on_file.id} is not recorded in the audit log (a stray or hand-made file)"
    said = (on_file.version, on_file.stage, person(on_file.requested_by))
    if said != (logged.version, logged.stage, person(logged.requested_by)):
        return f"request {on_file.id} is not the one the audit log records (edited by hand?)"
    if on_file.status != logged.status:
        return (
            f"request {on_file.id} says {on_file.status!r} but the audit log says {logged.status!r} (edited by hand?)"
        )
    if {person(d.by) for d in on_file.approvals} != {person(d.by) for d in logged.approvals}:
        return f"request {on_file.id} lists approvals the audit log does not record (edited by hand?)"
    return None


def _read_file(repo: Repo, name: str, request_id: str) -> Request:
    path = request_path(repo, name, request_id)
    try:
        request = Request.parse(repo.load(path, "request file", cached=False))
    except RequestSchemaError as exc:
        raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None
    if request.id != request_id or request.name != name:
        raise IntegrityError(f"{path}: names request {request.id} of {request.name!r}", code="corrupt_manifest")
    return request


def load_request(
    repo: Repo, name: str, request_id: str, entries: list[dict[str, Any]] | None = None, *, locked: bool = False
) -> Request:
    """The request with this id, as the audit log records it; its file must agree (else exit 5).
    ``locked``: the caller holds the model lock (no change of the model can be in flight)."""
    on_file = _read_file(repo, name, request_id)
    current = repo.history_view.entries(name) if entries is None else entries
    logged = logged_requests(name, current).get(request_id)
    why = _disagreement(on_file, logged)
    if why is not None and not locked:
        # A change in flight writes its files before its entries: wait for it (the model lock,
        # finishing an interrupted change), then read both again.
        _settle(repo, name)
        on_file = _read_file(repo, name, request_id)
        logged = logged_requests(name, repo.history_view.entries(name)).get(request_id)
        why = _disagreement(on_file, logged)
    if why is not None or logged is None:
        raise IntegrityError(f"{request_path(repo, name, request_id)}: {why}", code="corrupt_manifest")
    return logged


def _settle(repo: Repo, name: str) -> None:
    """Wait for a change of the model in flight (and finish an interrupted one)."""
    # A registry this process cannot lock (read-only) is read as it is.
    with contextlib.suppress(StorageError, PermissionError):
        repo.recover(name)


@dataclass(frozen=True)
class RequestFiles:
    """A model's requests by the log, and the files that do not tell the log's story."""

    requests: list[Request]  # the log's, oldest first
    problems: list[tuple[Path, str]]  # (file, why): strays, disagreements, missing files

    def agreeing(self) -> list[Request]:
        bad = {p.stem for p, _ in self.problems}
        return [r for r in self.requests if r.id not in bad]


def _file_ids(repo: Repo, name: str) -> list[str]:
    folder = repo.tree.inside(repo.model_dir(name) / REQUESTS_DIR / "x").parent
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [n.removesuffix(".yaml") for n in names if n.endswith(".yaml") and ID_RE.fullmatch(n.removesuffix(".yaml"))]


def request_files(repo: Repo, name: str, entries: list[dict[str, Any]] | None = None) -> RequestFiles:
    """Every request of a model and every request file compared with the log (verify names them)."""
    entries = repo.history_view.entries(name) if entries is None else entries
    logged = logged_requests(name, entries)
    problems: list[tuple[Path, str]] = []
    ids = _file_ids(repo, name)
    for rid in ids:
        path = request_path(repo, name, rid)
        try:
            why = _disagreement(_read_file(repo, name, rid), logged.get(rid))
        except ModelregError as exc:
            why = exc.message.removeprefix(f"{path}: ")
        if why is not None:
            problems.append((path, why))
    for rid in sorted(set(logged) - set(ids)):
        problems.append((request_path(repo, name, rid), f"request {rid} is in the audit log but its file is missing"))
    ordered = sorted(logged.values(), key=lambda r: (r.requested_at, r.id))
    return RequestFiles(ordered, problems)


def model_requests(repo: Repo, name: str) -> list[Request]:
    """Every request of a model whose file tells the log's story, oldest first; any other file
    is skipped with a warning (verify names it), so one stray file never blocks a command."""
    found = request_files(repo, name)
    if found.problems:  # perhaps a change in flight: read again once it is done
        _settle(repo, name)
        found = request_files(repo, name)
    for path, why in found.problems:
        repo.warnings.append(f"{path}: {why}; ignored (see: modelreg verify)")
    return found.agreeing()


def find_request(repo: Repo, request_id: str) -> Request:
    """The request with this id, whichever model it belongs to."""
    if not ID_RE.fullmatch(request_id):
        raise UsageError(
            f"invalid request id {request_id!r}: 8 hex digits, as 'modelreg requests' shows", code="invalid_ref"
        )
    refused: IntegrityError | None = None
    for name in repo.model_names():
        if os.path.isfile(request_path(repo, name, request_id)):
            try:
                return load_request(repo, name, request_id)
            except IntegrityError as exc:  # a stray file of another model may share the id
                refused = refused or exc
    if refused is not None:
        raise refused
    raise NotFoundError(f"no request {request_id}; see: modelreg requests --all", code="unknown_request")


def open_request_for(repo: Repo, name: str, version: int, stage: str, *, locked: bool = False) -> Request | None:
    """The open request to move ``name@version`` to ``stage``, if the log records one. Its file
    must agree with the log (exit 5); files about anything else are not read here."""
    entries = repo.history_view.entries(name)
    found = [
        r for r in logged_requests(name, entries).values() if r.is_open and r.version == version and r.stage == stage
    ]
    if not found:
        return None
    found.sort(key=lambda r: (r.requested_at, r.id))
    return load_request(repo, name, found[0].id, entries, locked=locked)


def open_requests_of(repo: Repo, name: str, version: int) -> list[Request]:
    """The open requests of a version by the log, whatever their files say (a removal cancels them)."""
    logged = logged_requests(name, repo.history_view.entries(name)).values()
    return sorted((r for r in logged if r.is_open and r.version == version), key=lambda r: (r.requested_at, r.id))
