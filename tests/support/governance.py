"""Shared by the governance tests (issue 13): writing a policy, reading results and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from modelreg import Registry


def add_policy(reg: Path, text: str) -> None:
    """Append TOML tables (``[gates.production]``, ``[hooks]``...) to the registry's modelreg.toml."""
    path = reg / "modelreg.toml"
    path.write_text(path.read_text() + "\n" + text.strip() + "\n")


def refused(result: Any, code: int = 4) -> str:
    """A CliRunner result refused with ``code``; returns the one error line."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == code, f"exit {result.exit_code} (wanted {code}): {result.stdout}{result.stderr}"
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def json_error(result: Any) -> dict[str, Any]:
    """The ``{"error": ...}`` object a --json command writes on stderr."""
    for line in reversed(result.stderr.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["error"]  # type: ignore[no-any-return]
    raise AssertionError(f"no JSON error on stderr: {result.stderr}")


def register(reg: Registry, tmp: Path, name: str = "churn", content: str | None = None, **kwargs: Any) -> int:
    """Register a version from a small file (distinct content per call unless ``content``)."""
    existing = len(list(tmp.glob(f"{name}-src-*")))
    src = tmp / f"{name}-src-{existing}" / "model.bin"
    src.parent.mkdir(parents=True)
    src.write_text(content if content is not None else f"{name} weights {existing}")
    files = [src]
    for extra in kwargs.pop("files", []):
        path = src.parent / extra
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{extra} of {name} {existing}")
        files.append(path)
    version, _ = reg.register(name, files, **kwargs)
    return version.version


def audit(reg: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (reg / "audit.jsonl").read_bytes().splitlines()]


def actions(reg: Path, name: str = "churn") -> list[tuple[str, Any]]:
    return [(e["action"], e["version"]) for e in audit(reg) if e.get("model") == name]
