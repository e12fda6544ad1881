"""The audit log's tail: no complete entry is ever lost whatever the last line looks like; a short
write never glues the next entry on; entries are capped."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from support.guarantees import AUDIT, MiB, audit_entries, audit_ids, audit_lines, clean_error, doc, mr, no_bug
from support.guarantees import verify_ok as verify_passes
from support.procs import Cli, check_consistent
from support.results import ok


def _register(reg: Path, make_file: Any, name: str, content: str) -> dict[str, Any]:
    src = make_file(f"in/{content}.bin", content)
    return doc(mr("register", "-R", reg, name, src, "--json"))


def _promote(reg: Path, ref: str, stage: str) -> None:
    ok(mr("promote", "-R", reg, ref, stage, "--reason", "test"))


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply




def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _log(reg: Path) -> bytes:
    return (reg / "audit.jsonl").read_bytes()


def _ids(data: bytes) -> list[str]:
    return [json.loads(line)["id"] for line in data.splitlines() if line.strip()]


def _verify(run: Any, reg: Path) -> dict[str, Any]:
    proc = run("verify", "-R", reg, "--json")
    assert proc.returncode in (0, 5) and "Traceback" not in proc.stderr, proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _history(run: Any, reg: Path, tmp_path: Path) -> None:
    """m@1 and m@2 registered, m@1 promoted twice: five entries with init."""
    for n in (1, 2):
        _ok(run("register", "-R", reg, "m", write_file(tmp_path / f"in{n}" / "w.bin", f"weights {n}\n")))
    _ok(run("promote", "-R", reg, "m@1", "staging", "--reason", "tests pass"))
    _ok(run("promote", "-R", reg, "m@1", "production", "--reason", "ship it"))


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as fh, contextlib.suppress(OSError):
        while fh.write(b"\0" * 4096):
            pass
    return filler


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


@pytest.mark.parametrize("torn_size", [MiB + 4096, 9 * MiB], ids=["over-1MiB", "over-8MiB"])
def test_a_torn_tail_of_any_length_is_cut_alone(run: Any, reg_path: Path, tmp_path: Path, torn_size: int) -> None:
    _history(run, reg_path, tmp_path)
    before = _log(reg_path)
    with open(reg_path / "audit.jsonl", "ab") as fh:
        fh.write(b'{"id":"sha256:' + b"a" * torn_size)  # a write cut short: no newline anywhere in it
    report = _verify(run, reg_path)
    assert report["ok"] is True and report["audit_entries"] == 5
    assert [f["kind"] for f in report["findings"]] == ["leftover"], report["findings"]

    _ok(run("promote", "-R", reg_path, "m@2", "staging"))
    after = _log(reg_path)
    assert after.startswith(before), "complete entries before the torn line were lost"
    assert len(_ids(after)) == len(_ids(before)) + 1
    assert json.loads(after.splitlines()[-1])["prev"] == [_ids(before)[-1]]
    final = _verify(run, reg_path)
    assert final["ok"] is True and final["findings"] == [] and final["audit_entries"] == 6


def test_a_complete_last_entry_without_its_newline_is_kept(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    _history(run, reg_path, tmp_path)
    data = _log(reg_path)
    (reg_path / "audit.jsonl").write_bytes(data[:-1])  # an editor that drops the final newline
    last = json.loads(data.splitlines()[-1])

    report = _verify(run, reg_path)
    assert report["ok"] is True, report["findings"]
    assert report["audit_entries"] == 5, "the unterminated entry is an entry"
    assert [(f["severity"], f["kind"]) for f in report["findings"]] == [("warning", "leftover")]
    assert "newline" in report["findings"][0]["message"]

    result = cli("promote", "-R", reg_path, "m@2", "production", "--reason", "after an edit")
    assert result.exit_code == 0, result.stderr
    after = _log(reg_path)
    assert after.startswith(data), "the last entry was cut or changed"
    new = [json.loads(line) for line in after[len(data) :].splitlines()]
    assert [e["action"] for e in new] == ["archive", "promote"]
    assert new[0]["prev"] == [last["id"]], "the kept entry is the head the next change links to"
    assert _verify(run, reg_path)["findings"] == []

    # Only a whole, valid entry is kept: a parsable last line whose id does not match is cut.
    kept = _log(reg_path)
    edited = {**new[-1], "reason": "edited"}
    (reg_path / "audit.jsonl").write_bytes(kept + json.dumps(edited).encode())
    assert [f["kind"] for f in _verify(run, reg_path)["findings"]] == ["leftover"]
    _ok(run("promote", "-R", reg_path, "m@1", "staging"))
    final = _log(reg_path)
    assert final.startswith(kept) and b"edited" not in final
    assert _verify(run, reg_path)["findings"] == []


def test_a_short_write_fails_with_exit_4_and_leaves_the_log_as_it_was(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """The appending process may grow files to 60 bytes past the log only: its write of the
    promote entry returns short, then fails (EFBIG). The command exits 4 naming the log, the log
    is byte for byte what it was, and the next command completes the change."""
    _history(run, reg_path, tmp_path)
    before = _log(reg_path)
    env = dict(os.environ)
    limited = subprocess.run(
        [sys.executable, "-m", "modelreg", "promote", "-R", str(reg_path), "m@2", "staging", "--reason", "r"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
        preexec_fn=_file_size_limit(len(before) + 60),
    )
    assert limited.returncode == 4, limited.stdout + limited.stderr
    assert "Traceback" not in limited.stderr
    assert str(reg_path / "audit.jsonl") in limited.stderr
    assert _log(reg_path) == before, "a partial line was left in the log"

    _ok(run("promote", "-R", reg_path, "m@1", "staging", "--reason", "after the failure"))
    entries = [json.loads(line) for line in _log(reg_path).splitlines()]  # every line is one entry
    assert [(e["action"], e["version"], e["to_stage"]) for e in entries[len(_ids(before)) :]] == [
        ("promote", 2, "staging"),  # the interrupted change, finished from its journal
        ("promote", 1, "staging"),
    ]
    assert _verify(run, reg_path)["findings"] == []


def test_a_full_disk_part_way_through_an_append_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    """A real full tmpfs: the line crosses into a page the disk does not have, so ``write``
    returns short and then fails with ENOSPC. The append raises StorageError naming the log and
    cuts its partial line; once there is room, the next append links to the old head."""
    from modelreg.errors import StorageError
    from modelreg.records.audit import AuditLog

    with _tmpfs(tmp_path / "disk", "256k") as disk:
        log = AuditLog(disk / "audit.jsonl", tmp_path / "heads.json")
        first = log.append([{"action": "init", "reason": "x" * (4096 - 300)}])
        size = (disk / "audit.jsonl").stat().st_size
        assert 3700 < size < 4096  # the next line of ~400 bytes needs a second page
        before = (disk / "audit.jsonl").read_bytes()
        filler = _fill(disk)
        with pytest.raises(StorageError) as failed:
            log.append([{"action": "annotate", "model": "m", "version": 1, "reason": "y" * 300}])
        assert str(disk / "audit.jsonl") in failed.value.message and failed.value.exit_code == 4
        assert (disk / "audit.jsonl").read_bytes() == before
        filler.unlink()
        second = log.append([{"action": "annotate", "model": "m", "version": 1, "reason": "z"}])
        assert second[0]["prev"] == [first[0]["id"]]
        chain = log.check()
        assert chain.problems == [] and chain.entries == 2 and not chain.torn_tail


def test_an_entry_over_64_kib_is_refused_before_anything_is_written(
    cli: Any, run: Any, reg_path: Path, tmp_path: Path
) -> None:
    """A reason is capped at 8,192 characters (it always fits an entry); an entry over the 64 KiB
    cap some other way (an annotation listing 600 long tag keys) is refused: exit 2 naming the
    limit, and neither the log, the manifests nor a journal is written."""
    from conftest import snapshot

    _history(run, reg_path, tmp_path)
    before = snapshot(reg_path, ignore=(".modelreg/cache", ".modelreg/locks"))
    for reason in ("r" * 65_400, "é" * 40_000):
        proc = run("promote", "-R", reg_path, "m@2", "staging", "--reason", reason)
        assert proc.returncode == 2, proc.stderr[-300:]
        message = proc.stderr.strip()
        assert message.count("\n") == 0 and "8,192" in message and len(message) < 400, message
        assert snapshot(reg_path, ignore=(".modelreg/cache", ".modelreg/locks")) == before
    tags = [arg for i in range(600) for arg in ("--tag", f"{'k' * 120}{i:03d}=v")]
    proc = run("annotate", "-R", reg_path, "m@2", *tags)
    assert proc.returncode == 2, proc.stderr[-300:]
    message = proc.stderr.strip()
    assert message.count("\n") == 0 and "65536" in message and len(message) < 400, message
    assert snapshot(reg_path, ignore=(".modelreg/cache", ".modelreg/locks")) == before
    result = cli("annotate", "-R", reg_path, "m@2", *tags, "--json")
    assert result.exit_code == 2
    assert json.loads(result.stderr.splitlines()[-1])["error"]["code"] == "entry_too_large"
    _ok(run("promote", "-R", reg_path, "m@2", "staging", "--reason", "é" * 8_192))  # the longest reason: fine
    assert max(len(line) for line in _log(reg_path).splitlines(keepends=True)) <= 64 * 1024


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_log_that_is_a_link_or_a_fifo_is_never_followed(run: Any, reg_path: Path, tmp_path: Path, kind: str) -> None:
    """A clone can carry ``audit.jsonl`` as a symlink (git stores links): a change must not
    append outside the registry, and no reader may hang on a FIFO. Exit 5, nothing written."""
    from conftest import snapshot

    _history(run, reg_path, tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_bytes(_log(reg_path))
    (reg_path / "audit.jsonl").unlink()
    if kind == "symlink":
        (reg_path / "audit.jsonl").symlink_to(outside)
    else:
        os.mkfifo(reg_path / "audit.jsonl")
    skipped = (".modelreg", "audit.jsonl")  # (a snapshot would block reading the FIFO)
    before, outside_before = snapshot(reg_path, ignore=skipped), outside.read_bytes()
    for args in (("promote", "m@2", "production"), ("log",), ("verify", "--json")):
        proc = subprocess.run(
            [sys.executable, "-m", "modelreg", *args, "-R", str(reg_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 5, f"{args}: exit {proc.returncode}: {proc.stderr}"
        assert "audit.jsonl" in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert outside.read_bytes() == outside_before, "an entry was appended outside the registry"
    assert snapshot(reg_path, ignore=skipped) == before
    assert not list((reg_path / ".modelreg").rglob("journal/*.json"))
