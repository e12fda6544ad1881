"""What verify reports: findings (an error fails verify with exit 5, a warning is harmless)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.effects import Accumulated
from modelreg.errors import IntegrityError

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
class Report(Accumulated):
    findings: list[Finding] = field(default_factory=list)
    models: int = 0
    versions: int = 0
    blobs_checked: int = 0
    audit_entries: int = 0
    recovered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity == ERROR for f in self.findings)

    def failure(self) -> IntegrityError | None:
        """The error ``verify`` exits with when a check failed (exit 5), else None."""
        if self.ok:
            return None
        errors = sum(1 for f in self.findings if f.severity == ERROR)
        problems = "1 integrity problem" if errors == 1 else f"{errors} integrity problems"
        return IntegrityError(f"verify found {problems}; see the findings above", code="verify_failed")

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
