"""Issue 10, the history is the truth: ``verify`` replays the audit log and checks that the
stage files agree with it; and a manifest with duplicate YAML keys is refused, not read with
one of its two values picked silently.

Forged entries are linked exactly as docs/audit-log.md says (``prev`` = the heads, ``id`` = the
SHA-256 of the canonical JSON), so only the story they tell can give them away.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from guarantee_helpers import AUDIT, append_forged_entry, audit_lines, clean_error, mr, ok, verify_ok


def _three_moves(reg: Path, make_file: Any) -> None:
    """m@1 and m@2 registered, m@1 in production."""
    ok(mr("register", "-R", reg, "m", make_file("one.bin", "one\n")))
    ok(mr("register", "-R", reg, "m", make_file("two.bin", "two\n")))
    ok(mr("promote", "-R", reg, "m@1", "production", "--reason", "first"))
    verify_ok(reg)


def _verify_fails(reg: Path) -> dict[str, Any]:
    proc = mr("verify", "-R", reg, "--json")
    assert proc.returncode == 5, f"verify exited {proc.returncode}: {proc.stdout}{proc.stderr}"
    report = json.loads(proc.stdout)
    assert report["ok"] is False and report["findings"], report
    return report


def _stages_file(reg: Path) -> Path:
    return reg / "models" / "m" / "stages.yaml"


def test_a_hand_edited_stage_file_fails_verify(reg_path: Path, make_file: Any) -> None:
    _three_moves(reg_path, make_file)
    text = _stages_file(reg_path).read_text()
    assert "  1: production\n" in text
    _stages_file(reg_path).write_text(text.replace("  1: production\n", "  1: archived\n  2: production\n"))
    report = _verify_fails(reg_path)
    assert any("stages.yaml" in f["path"] or "audit" in f["path"] for f in report["findings"]), report


def test_a_deleted_last_promotion_fails_verify(reg_path: Path, make_file: Any) -> None:
    _three_moves(reg_path, make_file)
    lines = audit_lines(reg_path)
    assert json.loads(lines[-1])["action"] == "promote"
    (reg_path / AUDIT).write_bytes(b"".join(lines[:-1]))
    _verify_fails(reg_path)


def test_an_appended_entry_whose_story_does_not_match_fails_verify(reg_path: Path, make_file: Any) -> None:
    _three_moves(reg_path, make_file)
    append_forged_entry(
        reg_path, model="m", version=2, from_stage="development", to_stage="production", reason="trust me"
    )
    _verify_fails(reg_path)


def test_an_appended_entry_that_tells_the_registrys_story_verifies(reg_path: Path, make_file: Any) -> None:
    """The counterpart (holds today): a hand-linked promotion together with the stage file it
    describes is a consistent history, so the forged entries above fail for their story only."""
    _three_moves(reg_path, make_file)
    append_forged_entry(reg_path, model="m", version=2, from_stage="development", to_stage="staging", reason="ok")
    text = _stages_file(reg_path).read_text()
    _stages_file(reg_path).write_text(text.replace("  1: production\n", "  1: production\n  2: staging\n"))
    verify_ok(reg_path)
    staged = [v["version"] for v in json.loads(ok(mr("list", "m", "-R", reg_path, "--json")).stdout)["versions"]]
    assert staged == [1, 2]


DUPLICATES = {
    # file under models/m -> (a duplicate top-level key appended, a command that reads the file)
    "versions/1.yaml": ("description: forged\n", ("show", "m@1")),
    "model.yaml": ("description: forged\n", ("show", "m")),
    "stages.yaml": ("versions:\n  2: production\n", ("list", "m")),
}


@pytest.mark.parametrize("rel", sorted(DUPLICATES))
def test_duplicate_yaml_keys_are_refused(rel: str, reg_path: Path, make_file: Any) -> None:
    _three_moves(reg_path, make_file)
    path = reg_path / "models" / "m" / rel
    addition, reader = DUPLICATES[rel]
    key = addition.split(":")[0] + ":"
    assert path.read_text().startswith(key) or f"\n{key}" in path.read_text()
    path.write_text(path.read_text() + addition)
    assert rel.rsplit("/", 1)[-1] in clean_error(mr(*reader, "-R", reg_path), (5,))
    report = _verify_fails(reg_path)
    assert any(rel in f["path"] for f in report["findings"]), report
