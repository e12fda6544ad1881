"""``register --metrics-file``: a JSON or YAML mapping of metric names to numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError
from modelreg.records.names import parse_number, validate_key
from modelreg.records.yamlio import MAX_MANIFEST_BYTES


def read_metrics_file(path: Path) -> dict[str, int | float]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read metrics file {path}: {exc.strerror}", code="missing_input") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise UsageError(f"metrics file {path} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        data = json.loads(raw, object_pairs_hook=lambda items: _unique(path, items))
    except UsageError:
        raise
    except ValueError:
        from modelreg.records import yamlio

        try:
            data = yamlio.loads(raw)
        except Exception as exc:  # YamlError (a key given twice included) and anything odd
            raise UsageError(f"metrics file {path} is neither valid JSON nor valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"metrics file {path} must hold a mapping of metric names to numbers")
    metrics: dict[str, int | float] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise UsageError(f"metrics file {path}: metric names must be strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"metrics file {path}: metric {key!r} must be a number, got {value!r}")
        metrics[validate_key(key, "metric")] = parse_number(key, str(value))
    return metrics


def _unique(path: Path, items: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in items:
        if key in seen:
            raise UsageError(f"metrics file {path} gives metric {key!r} twice", code="duplicate_key")
        seen[key] = value
    return seen
