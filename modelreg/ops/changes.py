"""What every change shares: its audit records and the limits on the text people attach."""

from __future__ import annotations

from typing import Any

from modelreg.errors import UsageError

MAX_TEXT = 64 * 1024


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
    from .lineage import author, now_utc

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
    if len(text) > MAX_TEXT:
        raise UsageError(f"{what} is longer than {MAX_TEXT} characters", code="invalid_input")
