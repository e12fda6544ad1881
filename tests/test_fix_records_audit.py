"""Issue 10, the audit log's tail (records/audit.py): no complete entry is ever lost, whatever the
last line looks like; a write that fails part-way leaves the log exactly as it was; entries have a
size cap.

Real processes (``run``) and the CLI in-process (``cli``); the short writes are real ones: a file
size limit (RLIMIT_FSIZE) on the appending process, and a full real tmpfs.
"""

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

MiB = 1 << 20


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


# -- a torn tail of any length ----------------------------------------------------------------


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


# -- a complete last entry without its newline -------------------------------------------------


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


# -- short writes ------------------------------------------------------------------------------


def _file_size_limit(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


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


# -- the size cap ------------------------------------------------------------------------------


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


# -- what is at the log's path -----------------------------------------------------------------


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
