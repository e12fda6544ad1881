"""What verify reports: findings (an error fails verify with exit 5, a warning is harmless)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" fails verify (exit 5); "warning" is harmless and reported
    kind: str
    path: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"severity": self.severity, "kind": self.kind, "path": self.path, "message": self.message}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    blobs_checked: int = 0
    audit_entries: int = 0
    recovered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def add(self, severity: str, kind: str, path: Path | str, message: str) -> None:
        self.findings.append(Finding(severity, kind, str(path), message))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "models": self.models,
            "versions": self.versions,
            "blobs_checked": self.blobs_checked,
            "audit_entries": self.audit_entries,
            "recovered": self.recovered,
            "findings": [f.to_json() for f in self.findings],
        }
