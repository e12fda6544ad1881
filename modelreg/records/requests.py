"""``models/NAME/requests/ID.yaml``: a request to move a version to a stage that needs approvals.

A small file that a pull request shows: who asked, for what and why, who approved, and how it
ended. It is written when the request is filed and rewritten by each decision; every step is
also an audit entry (``request``, ``approve``, ``reject``), which is the record verify trusts.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from typing import Any

from .identities import person

__all__ = ["ID_RE", "REQUESTS_DIR", "Decision", "Request", "RequestSchemaError", "new_id", "person"]

REQUEST_FORMAT = 1
REQUESTS_DIR = "requests"
ID_RE = re.compile(r"[0-9a-f]{8}")
# open: waiting for approvals; applied: approved and promoted; rejected: refused (or withdrawn);
# cancelled: its version was removed.
STATUSES = ("open", "applied", "rejected", "cancelled")
MAX_SIGNATURE = 64 << 10


class RequestSchemaError(ValueError):
    """A request file that does not follow the schema; the caller names the file."""


def new_id() -> str:
    return os.urandom(4).hex()  # as secrets.token_hex(4), without importing random


@dataclass(frozen=True)
class Decision:
    by: str
    at: str
    reason: str | None = None
    signature: str | None = None  # an SSH signature of the decision (ops/proof/approvals.py)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"by": self.by, "at": self.at, "reason": self.reason}
        if self.signature is not None:
            data["signature"] = self.signature
        return data

    @classmethod
    def parse(cls, data: Any, where: str) -> Decision:
        if not isinstance(data, dict) or not isinstance(data.get("by"), str) or not isinstance(data.get("at"), str):
            raise RequestSchemaError(f"{where} needs 'by' and 'at'")
        reason = data.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise RequestSchemaError(f"{where}: 'reason' must be a string")
        signature = data.get("signature")
        if signature is not None and (not isinstance(signature, str) or len(signature) > MAX_SIGNATURE):
            raise RequestSchemaError(f"{where}: 'signature' must be an SSH signature")
        return cls(data["by"], data["at"], reason, signature)


@dataclass(frozen=True)
class Request:
    id: str
    name: str
    version: int
    stage: str
    from_stage: str
    requested_by: str
    requested_at: str
    reason: str
    status: str = "open"
    approvals: tuple[Decision, ...] = ()
    closed: Decision | None = None  # who applied, rejected or cancelled it
    signature: str | None = None  # the requester's SSH signature of the request

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def approvers(self) -> list[str]:
        """Distinct approvers in order; the requester never counts."""
        seen: list[str] = []
        people = {person(self.requested_by)}
        for decision in self.approvals:
            if person(decision.by) not in people:
                people.add(person(decision.by))
                seen.append(decision.by)
        return seen

    def approved(self, decision: Decision) -> Request:
        """With ``decision`` added; a signed approval replaces the same approver's unsigned one."""
        kept = tuple(d for d in self.approvals if person(d.by) != person(decision.by))
        return replace(self, approvals=(*kept, decision))

    def close(self, status: str, decision: Decision) -> Request:
        return replace(self, status=status, closed=decision)

    def to_yaml_data(self) -> dict[str, Any]:
        return {
            "format_version": REQUEST_FORMAT,
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "stage": self.stage,
            "from_stage": self.from_stage,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
            "reason": self.reason,
            "status": self.status,
            "approvals": [d.to_json() for d in self.approvals],
            "closed": self.closed.to_json() if self.closed else None,
            **({"signature": self.signature} if self.signature is not None else {}),
        }

    def to_json(self, required: int) -> dict[str, Any]:
        data = self.to_yaml_data()
        del data["format_version"]
        return {**data, "required": required, "granted": len(self.approvers()), "approved_by": self.approvers()}

    @classmethod
    def parse(cls, data: Any) -> Request:
        if not isinstance(data, dict) or data.get("format_version") != REQUEST_FORMAT:
            raise RequestSchemaError("not a request file of a supported format_version")
        strings = {}
        for key in ("id", "name", "stage", "from_stage", "requested_by", "requested_at", "reason", "status"):
            if not isinstance(data.get(key), str):
                raise RequestSchemaError(f"missing or invalid {key!r}")
            strings[key] = data[key]
        if not ID_RE.fullmatch(strings["id"]):
            raise RequestSchemaError(f"invalid request id {strings['id']!r}")
        if strings["status"] not in STATUSES:
            raise RequestSchemaError(f"unknown status {strings['status']!r} (one of {', '.join(STATUSES)})")
        version = data.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RequestSchemaError("'version' must be a positive integer")
        raw_approvals = data.get("approvals") or []
        if not isinstance(raw_approvals, list):
            raise RequestSchemaError("'approvals' must be a list")
        approvals = tuple(Decision.parse(item, "an approval") for item in raw_approvals)
        closed = data.get("closed")
        signature = data.get("signature")
        if signature is not None and (not isinstance(signature, str) or len(signature) > MAX_SIGNATURE):
            raise RequestSchemaError("'signature' must be an SSH signature")
        return cls(
            signature=signature,
            version=version,
            approvals=approvals,
            closed=None if closed is None else Decision.parse(closed, "'closed'"),
            **strings,
        )
