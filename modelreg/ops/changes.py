"""What every change shares: its audit records and the limits on the text people attach."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.errors import UsageError
from modelreg.records import yamlio

if TYPE_CHECKING:
    from modelreg.records.journal import Change
    from modelreg.repo import Repo

MAX_TEXT = 64 * 1024
MAX_REASON = 8 * 1024


def record(
    action: str,
    model: str | None,
    version: int | None,
    *,
    actor: str | None = None,
    from_stage: str | None = None,
    to_stage: str | None = None,
    reason: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An audit record (the journal adds ``txn``, the log ``id`` and ``prev``)."""
    from modelreg.ops.capture.lineage import author, now_utc

    return {
        "time": now_utc(),
        "actor": actor or author(),
        "action": action,
        "model": model,
        "version": version,
        "from_stage": from_stage,
        "to_stage": to_stage,
        "reason": reason,
        **extra,
    }


def check_text(text: str, what: str) -> None:
    # A reason goes into an audit entry, which is capped at 64 KiB: 8,192 characters fit however
    # JSON escapes them.
    limit = MAX_REASON if what == "reason" else MAX_TEXT
    if len(text) > limit:
        raise UsageError(f"{what} is longer than {limit:,} characters", code="invalid_input")


def check_size(data: Any, what: str) -> str:
    """``data`` as YAML, refused (exit 2) if it could not be read back: what is accepted must
    stay servable."""
    text = yamlio.dumps(data)
    size = len(text.encode())
    if size > yamlio.MAX_MANIFEST_BYTES:
        raise UsageError(
            f"{what} would be {size:,} bytes, over the {yamlio.MAX_MANIFEST_BYTES:,} bytes a registry file may "
            "hold: give fewer files (pack them into an archive), fewer or shorter tags and params",
            code="too_large",
        )
    return text


def write_yaml(repo: Repo, change: Change, path: Path, data: Any) -> None:
    """Add the write of a registry YAML file to ``change``, refusing one too big to read back."""
    rel = repo.rel(path)
    change.writes[rel] = check_size(data, rel)
