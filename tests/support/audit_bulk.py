"""A long audit log made quickly: entries linked exactly as modelreg links them (prev = the heads,
id = the SHA-256 of the entry's canonical JSON), appended to a registry's log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def _entry_id(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _heads(log: Path) -> list[str]:
    ids: list[str] = []
    followed: set[str] = set()
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        ids.append(entry["id"])
        followed.update(entry["prev"])
    return sorted(i for i in ids if i not in followed)


def grow_log(registry: Path, count: int, *, reason_bytes: int = 300, models: int = 1000) -> int:
    """Append ``count`` annotate entries (of ``models`` unregistered model names, each with a
    ``reason_bytes`` reason) to the registry's audit log; returns the log's size."""
    log = registry / "audit.jsonl"
    heads = _heads(log)
    pad = "r" * reason_bytes
    with open(log, "a", encoding="utf-8") as fh:
        for n in range(count):
            body = {
                "time": f"2026-01-01T00:00:{n % 60:02d}.{n:06d}Z"[:27],
                "actor": "bulk",
                "action": "annotate",
                "model": f"bulk-{n % models}",
                "version": 1,
                "from_stage": None,
                "to_stage": None,
                "reason": f"{n} {pad}",
                "prev": heads,
            }
            eid = _entry_id(body)
            fh.write(json.dumps({"id": eid, **body}, separators=(",", ":"), ensure_ascii=False) + "\n")
            heads = [eid]
    (registry / ".modelreg" / "cache").mkdir(parents=True, exist_ok=True)
    return log.stat().st_size
