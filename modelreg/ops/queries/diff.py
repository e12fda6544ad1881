"""``diff A B``: what changed between two versions — files, metrics, params, tags."""

from __future__ import annotations

from typing import Any

from modelreg.ops.capture.environment import changes
from modelreg.records.manifest import Version


def _changed(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: {"a": a.get(k), "b": b.get(k)} for k in sorted({*a, *b}) if a.get(k) != b.get(k)}


def diff_versions(a: Version, b: Version) -> dict[str, Any]:
    fa = {f.path: f for f in a.files}
    fb = {f.path: f for f in b.files}
    changed = [
        {"path": p, "a": fa[p].to_dict(), "b": fb[p].to_dict()}
        for p in sorted(fa.keys() & fb.keys())
        if fa[p].digest != fb[p].digest
    ]
    metrics: dict[str, dict[str, Any]] = {}
    for key in sorted({*a.metrics, *b.metrics}):
        va, vb = a.metrics.get(key), b.metrics.get(key)
        if va == vb:
            continue
        delta = vb - va if va is not None and vb is not None else None
        metrics[key] = {"a": va, "b": vb, "delta": delta}
    return {
        "a": {"name": a.name, "version": a.version, "digest": a.digest, "stage": a.stage},
        "b": {"name": b.name, "version": b.version, "digest": b.digest, "stage": b.stage},
        "same_content": a.digest == b.digest,
        "files": {
            "added": [fb[p].to_dict() for p in sorted(fb.keys() - fa.keys())],
            "removed": [fa[p].to_dict() for p in sorted(fa.keys() - fb.keys())],
            "changed": changed,
            "unchanged": sum(1 for p in fa.keys() & fb.keys() if fa[p].digest == fb[p].digest),
        },
        "metrics": metrics,
        "params": _changed(a.params, b.params),
        "tags": _changed(a.tags, b.tags),
        "description": _changed({"d": a.description}, {"d": b.description}).get("d"),
        "environment": changes(a.lineage.get("environment"), b.lineage.get("environment")),
    }
