"""``report``: the registry as a static site (overview, a page per model, audit, verify verdict)."""

from __future__ import annotations

from .build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
