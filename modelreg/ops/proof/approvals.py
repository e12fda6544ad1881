"""Signed requests and approvals: SSH signatures (``ssh-keygen -Y``, namespace
``modelreg-approval@v1``) over what was decided, so that a decision cannot be moved.

The signed message names the decision (``request`` or ``approve``), the model, the version's
number and digest, the stage, the request id and the identity deciding, as canonical JSON. Two
versions with the same files are still two versions (the number is signed), and a signature
presented for another request, stage or version no longer matches its message. A key that
``allowed_signers`` does not give to the acting identity is refused before anything is
recorded. The audit entry keeps the signature and the digest; verify rebuilds the message from
the entry and checks it with ssh-keygen at the entry's time (``valid-after``/``valid-before``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from modelreg.errors import PolicyError
from modelreg.ops.findings import ERROR, WARNING, Finding
from modelreg.records.requests import Request
from modelreg.repo import Repo

from . import sshsig

NAMESPACE = "modelreg-approval@v1"


def message(decision: str, model: str, version: int, digest: str, stage: str, request: str, identity: str) -> bytes:
    body = {
        "namespace": NAMESPACE,
        "decision": decision,
        "model": model,
        "version": version,
        "digest": digest,
        "stage": stage,
        "request": request,
        "identity": identity,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _moment(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)


def _check(repo: Repo, signature: str, body: bytes, identity: str, when: datetime) -> tuple[bool, str]:
    """The signature against allowed_signers for ``identity`` (spelled as given, then as the
    lowercase person modelreg compares), or only its own validity when none is configured."""
    from .sign import allowed_signers_path

    allowed = allowed_signers_path(repo)
    if allowed is None:
        return sshsig.verify(signature, NAMESPACE, body, allowed=None, identity=None, when=when)
    good, said = sshsig.verify(signature, NAMESPACE, body, allowed=allowed, identity=identity, when=when)
    folded = " ".join(identity.split()).casefold()
    if not good and folded != identity:
        good, said = sshsig.verify(signature, NAMESPACE, body, allowed=allowed, identity=folded, when=when)
    return good, said


def sign_decision(
    repo: Repo, key: Path, decision: str, model: str, version: int, digest: str, stage: str, request: str, who: str
) -> str:
    """Sign a decision with the key at ``key``; refused (exit 4, nothing recorded) when the
    signature does not verify for ``who`` under allowed_signers now."""
    from .sign import refuse_key_inside

    refuse_key_inside(repo, key)
    body = message(decision, model, version, digest, stage, request, who)
    signature = sshsig.sign(key, NAMESPACE, body)
    good, said = _check(repo, signature, body, who, datetime.now(UTC))
    if not good:
        raise PolicyError(
            f"refused: the key {key} is not one that allowed_signers gives to {who} for {NAMESPACE} now"
            + (f" ({said})" if said else "")
        )
    return signature


def signed_approvers(repo: Repo, request: Request, digest: str) -> tuple[str, ...]:
    """The approvers whose approval of ``request`` carries a signature that verifies for them
    under allowed_signers (none without it): what ``signed_approvals = true`` counts."""
    from .sign import allowed_signers_path

    if allowed_signers_path(repo) is None:
        return ()
    counted = set(request.approvers())
    found = []
    for decision in request.approvals:
        if decision.by not in counted or not decision.signature:
            continue
        body = message("approve", request.name, request.version, digest, request.stage, request.id, decision.by)
        if _check(repo, decision.signature, body, decision.by, _moment(decision.at))[0]:
            found.append(decision.by)
    return tuple(found)


def approval_findings(reg: Repo, name: str, entries: list[dict[str, Any]]) -> list[Finding]:
    """Every signed request and approval of the model, checked as verify does."""
    from modelreg.errors import ModelregError, UsageError
    from modelreg.records.requests import REQUESTS_DIR

    from .sign import allowed_signers_path

    try:
        allowed_signers_path(reg)
    except UsageError as exc:
        return [Finding(ERROR, "approval", str(reg.root / "modelreg.toml"), exc.message)]
    found: list[Finding] = []
    unchecked = False
    digests: dict[int, str | None] = {}
    state = None
    for entry in entries:
        signature = entry.get("signature")
        action = entry.get("action")
        if action not in ("request", "approve") or not isinstance(signature, str):
            continue
        number, request_id, actor = entry.get("version"), entry.get("request"), str(entry.get("actor"))
        where = str(reg.audit.path)
        what = f"the signed {action} by {actor} of request {request_id} ({name}@{number} to {entry.get('to_stage')})"
        if not isinstance(number, int) or not isinstance(request_id, str):
            found.append(Finding(ERROR, "approval", where, f"{what} lacks its version or request"))
            continue
        if number not in digests:
            try:
                state = state or reg.state(name)
                digests[number] = reg.load_version(state, number).digest
            except ModelregError:
                digests[number] = None
        if digests[number] is None or entry.get("digest") != digests[number]:
            found.append(Finding(ERROR, "approval", where, f"{what} was signed for other files than {name}@{number}"))
            continue
        try:
            filed = reg.load(reg.model_dir(name) / REQUESTS_DIR / f"{request_id}.yaml", "request file", cached=False)
        except ModelregError:
            filed = None
        if isinstance(filed, dict) and (filed.get("version"), filed.get("stage")) != (number, entry.get("to_stage")):
            found.append(
                Finding(
                    ERROR,
                    "approval",
                    where,
                    f"{what} is presented for request {request_id}, which moves {name}@{filed.get('version')} to "
                    f"{filed.get('stage')} (replayed from another version or stage?)",
                )
            )
            continue
        body = message(
            str(action), name, number, str(entry.get("digest")), str(entry.get("to_stage")), request_id, actor
        )
        good, said = _check(reg, signature, body, actor, _moment(str(entry.get("time"))))
        if not good:
            found.append(
                Finding(
                    ERROR,
                    "approval",
                    where,
                    f"{what} does not verify ({said or 'bad signature'}): replayed from another version, stage or "
                    "request, or a signer not allowed at that time",
                )
            )
        unchecked = unchecked or reg.config.allowed_signers is None
    found += _dropped(reg, name, entries)
    if unchecked:
        found.append(
            Finding(
                WARNING,
                "approval",
                str(reg.root / "modelreg.toml"),
                f"signed approvals of {name} match what they signed, but no [signing] allowed_signers is configured: "
                "who signed is unchecked",
            )
        )
    return found


def _dropped(reg: Repo, name: str, entries: list[dict[str, Any]]) -> list[Finding]:
    """A request file whose approvals the audit log does not hold: an approval entry was cut
    from the log (the newest entries leave no broken link behind them)."""
    import os

    from modelreg.errors import ModelregError
    from modelreg.records.requests import ID_RE, REQUESTS_DIR, RequestSchemaError, person

    folder = reg.model_dir(name) / REQUESTS_DIR
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file(follow_symlinks=False))
    except (FileNotFoundError, NotADirectoryError):
        return []
    logged: dict[str, set[str]] = {}
    for e in entries:
        if e.get("action") == "approve" and isinstance(e.get("request"), str):
            logged.setdefault(e["request"], set()).add(person(str(e.get("actor"))))
    found = []
    for file_name in names:
        request_id = file_name.removesuffix(".yaml")
        if not file_name.endswith(".yaml") or not ID_RE.fullmatch(request_id):
            continue
        path = folder / file_name
        try:
            request = Request.parse(reg.load(path, "request file", cached=False))
        except (ModelregError, RequestSchemaError):
            continue  # an unreadable request file is reported where requests are read
        missing = sorted({d.by for d in request.approvals if person(d.by) not in logged.get(request.id, set())})
        if missing:
            found.append(
                Finding(
                    ERROR,
                    "approval",
                    str(path),
                    f"request {request.id} lists approvals by {', '.join(missing)} that the audit log does not "
                    "record (an entry cut from the log, or the file edited?)",
                )
            )
    return found
