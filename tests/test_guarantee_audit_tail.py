"""Issue 10, the audit log's tail: whatever the last line looks like, no complete entry is ever
lost, a short write never gets the next entry glued onto it, and entries have a size cap.

Real processes; the short write is a real one (a file-size limit, RLIMIT_FSIZE, set on the
process that appends: ``write`` then returns fewer bytes than asked, as on a full disk).
"""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

from guarantee_helpers import AUDIT, MiB, audit_entries, audit_ids, audit_lines, clean_error, doc, mr, no_bug, ok
from guarantee_helpers import verify_ok as verify_passes
from procs import Cli, check_consistent


def _register(reg: Path, make_file: Any, name: str, content: str) -> dict[str, Any]:
    src = make_file(f"in/{content}.bin", content)
    return doc(mr("register", "-R", reg, name, src, "--json"))


def _promote(reg: Path, ref: str, stage: str) -> None:
    ok(mr("promote", "-R", reg, ref, stage, "--reason", "test"))


def test_torn_tail_longer_than_the_look_back_loses_no_entry(reg_path: Path, make_file: Any) -> None:
    """A torn last line of more than 1 MiB (a power cut in a long write, a bad merge) must be
    cut alone: the next change keeps every complete entry before it."""
    _register(reg_path, make_file, "m", "one")
    _promote(reg_path, "m@1", "staging")
    before = audit_ids(reg_path)
    assert len(before) == 3
    with open(reg_path / AUDIT, "ab") as fh:
        fh.write(b'{"id":"sha256:' + b"7" * (MiB + 64 * 1024))  # no newline: an unfinished write
    _register(reg_path, make_file, "m", "two")
    after = audit_ids(reg_path)
    lost = [i for i in before if i not in after]
    assert lost == [], f"the change after a torn tail lost {len(lost)} complete entries (log: {len(after)} entries)"
    assert len(after) == 4
    verify_passes(reg_path)


def test_complete_last_entry_without_its_newline_is_kept(reg_path: Path, make_file: Any) -> None:
    """A last line that is a whole entry and lacks only the final newline (an editor, a copy)
    is an entry: the next change keeps it and links to it."""
    _register(reg_path, make_file, "m", "one")
    data = (reg_path / AUDIT).read_bytes()
    (reg_path / AUDIT).write_bytes(data.rstrip(b"\n"))
    last = json.loads(audit_lines(reg_path)[-1])
    assert last["action"] == "register"
    _promote(reg_path, "m@1", "staging")
    entries = audit_entries(reg_path)
    assert last["id"] in [e["id"] for e in entries], "the register entry of m@1 was cut off the log"
    assert entries[-1]["action"] == "promote" and entries[-1]["prev"] == [last["id"]]
    assert all(line.endswith(b"\n") for line in audit_lines(reg_path))
    verify_passes(reg_path)


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_short_write_to_the_log_is_not_ignored(reg_path: Path, make_file: Any) -> None:
    """``write`` returning fewer bytes than asked (a full disk, a file-size limit) must not be
    taken for success: the command fails cleanly (exit 4) or completes the line, and the next
    change never glues its entry onto a partial line."""
    _register(reg_path, make_file, "m", "one")
    _register(reg_path, make_file, "m", "two")
    for i in range(12):  # a log well larger than any other file a promotion writes
        _promote(reg_path, f"m@{1 + i % 2}", "production")
    log_size = (reg_path / AUDIT).stat().st_size
    assert log_size > 8000
    # The next append may grow the log by 120 bytes only: its write comes back short.
    limited = mr("promote", "-R", reg_path, "m@1", "staging", preexec_fn=_limit_file_size(log_size + 120))
    no_bug(limited)
    assert limited.returncode in (0, 4), limited.stderr
    if limited.returncode == 4:
        assert "audit.jsonl" in limited.stderr or str(reg_path) in limited.stderr, limited.stderr
    ok(mr("promote", "-R", reg_path, "m@2", "staging", "--reason", "after the short write"))
    bad = []
    for number, line in enumerate(audit_lines(reg_path), start=1):
        try:
            json.loads(line)
        except ValueError:
            bad.append((number, line[:80]))
    assert bad == [], f"lines that are not one JSON entry (a partial line glued to the next): {bad}"
    verify_passes(reg_path)
    check_consistent(Cli(reg_path), "m")


def test_overlong_reason_and_description_are_refused(reg_path: Path, make_file: Any) -> None:
    """Free text in an entry has a cap: over it, exit 2 and nothing written. (Holds today.)"""
    _register(reg_path, make_file, "m", "one")
    log = (reg_path / AUDIT).read_bytes()
    tracked = {p: p.read_bytes() for p in (reg_path / "models").rglob("*.yaml")}
    long_text = "x" * (64 * 1024 + 1)
    src = make_file("in/three.bin", "three")
    for args in (
        ("promote", "m@1", "production", "--reason", long_text),
        ("annotate", "m@1", "--description", long_text),
        ("annotate", "m", "--description", long_text),
        ("register", "m", src, "--description", long_text),
    ):
        proc = mr(*args, "-R", reg_path)
        clean_error(proc, (2,))
    assert (reg_path / AUDIT).read_bytes() == log
    assert {p: p.read_bytes() for p in (reg_path / "models").rglob("*.yaml")} == tracked


def test_an_entry_over_the_size_cap_is_refused(reg_path: Path, make_file: Any) -> None:
    """An annotation whose audit entry would exceed the cap (here: over 1 MiB of tag names in
    its reason) is refused up front with exit 2, the cap in the message; nothing is written."""
    _register(reg_path, make_file, "m", "one")
    log = (reg_path / AUDIT).read_bytes()
    model_file = (reg_path / "models" / "m" / "model.yaml").read_bytes()
    args: list[str] = []
    for i in range(8500):
        args += ["--tag", f"{i:06d}" + "k" * 122 + "="]
    proc = mr("annotate", "m", "-R", reg_path, *args)
    clean_error(proc, (2,))
    assert (reg_path / AUDIT).read_bytes() == log
    assert (reg_path / "models" / "m" / "model.yaml").read_bytes() == model_file
    assert not list((reg_path / ".modelreg").rglob("journal/*.json"))
