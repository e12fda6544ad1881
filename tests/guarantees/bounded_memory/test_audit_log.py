"""``log``, ``log -n``, ``log --json`` and ``verify`` on a long audit log, in memory that does not
grow with the log: each runs as a real process under an address-space cap far below what the
whole log would take once parsed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.audit_bulk import grow_log
from support.capped import run_capped
from support.procs import modelreg_cmd

from modelreg.records import audit

ENTRIES = 100_000  # about 60 MB of log; parsed whole it takes several times that
CAP_MIB = 100


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelreg import Registry

    reg = tmp_path_factory.mktemp("bounded") / "reg"
    Registry.init(reg)
    src = reg.parent / "model"
    src.mkdir()
    (src / "w.bin").write_bytes(b"weights")
    proc = subprocess.run(modelreg_cmd("register", "m", src, "-R", reg), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert grow_log(reg, ENTRIES) > 50 << 20
    return reg


def test_log_n_reads_the_newest_from_the_end(big: Path) -> None:
    proc = run_capped("log", "-n", "10", "-R", big, "--json", cap_mib=CAP_MIB)
    assert proc.returncode == 0, proc.stderr[-500:]
    entries = json.loads(proc.stdout)["entries"]
    assert [int(e["reason"].split()[0]) for e in entries] == list(range(ENTRIES - 10, ENTRIES))


def test_log_json_streams_one_document(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "log.json"
    proc = run_capped("log", "-R", big, "--json", cap_mib=CAP_MIB)
    assert proc.returncode == 0, proc.stderr[-500:]
    out.write_text(proc.stdout)
    document = json.loads(proc.stdout)
    assert list(document) == ["entries"]
    entries = document["entries"]
    assert len(entries) == ENTRIES + 2  # init, register, then the bulk
    assert [e["action"] for e in entries[:2]] == ["init", "register"]
    assert entries[-1]["reason"].startswith(f"{ENTRIES - 1} ")
    # Byte for byte what one json.dumps of the whole result would have written.
    assert proc.stdout == json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def test_plain_log_streams_rows(big: Path) -> None:
    proc = run_capped("log", "-R", big, cap_mib=CAP_MIB)
    assert proc.returncode == 0, proc.stderr[-500:]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TIME", "ACTOR", "ACTION", "TARGET", "CHANGE", "REASON"]
    assert len(lines) == ENTRIES + 3  # one header, every entry once, in log order
    assert lines[-1].split()[4] == str(ENTRIES - 1)


def test_verify_walks_the_chain_in_bounded_memory(big: Path) -> None:
    proc = run_capped("verify", "-R", big, cap_mib=CAP_MIB)
    assert proc.returncode == 0, proc.stderr[-500:] + proc.stdout[-500:]
    assert f"{ENTRIES + 2} audit entries" in proc.stdout


# -- the chain check beyond its exact window ---------------------------------------------------------


def _lines(reg: Path) -> list[str]:
    return (reg / "audit.jsonl").read_text().splitlines(keepends=True)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window of 4 ids, so that a short log exercises the Bloom filter and the second read."""
    monkeypatch.setattr(audit, "_WINDOW", 4)


def _small(reg: Path, n: int = 40) -> list[str]:
    grow_log(reg, n, reason_bytes=10, models=3)
    return _lines(reg)


def test_a_deleted_entry_far_back_is_named(narrow: None, reg_path: Path, cli: Callable[..., Any]) -> None:
    lines = _small(reg_path)
    del lines[5]
    (reg_path / "audit.jsonl").write_text("".join(lines))
    result = cli("verify", "-R", reg_path, "--json")
    assert result.exit_code == 5
    problems = [f["path"] for f in json.loads(result.stdout)["findings"] if f["kind"] == "audit"]
    assert problems == [f"{reg_path / 'audit.jsonl'}:6"]


def test_a_repeated_entry_far_back_is_named(narrow: None, reg_path: Path, cli: Callable[..., Any]) -> None:
    lines = _small(reg_path)
    lines.append(lines[3])  # its prev and its id are both far behind the window
    (reg_path / "audit.jsonl").write_text("".join(lines))
    result = cli("verify", "-R", reg_path, "--json")
    assert result.exit_code == 5
    found = [f for f in json.loads(result.stdout)["findings"] if f["kind"] == "audit"]
    assert [f["path"].rsplit(":", 1)[1] for f in found] == [str(len(lines))]
    assert "repeats entry" in found[0]["message"]


def test_a_reference_far_back_is_sound(narrow: None, reg_path: Path, cli: Callable[..., Any]) -> None:
    """A merge's second branch follows an entry long before the window: no problem."""
    lines = _small(reg_path)
    anchor = json.loads(lines[2])["id"]
    head = json.loads(lines[-1])["id"]
    body = {"time": "2026-02-01T00:00:00.000000Z", "actor": "x", "action": "annotate", "model": "bulk-0"}
    body |= {"version": 1, "from_stage": None, "to_stage": None, "reason": "branch", "prev": [anchor]}
    branch = {"id": audit.entry_id(body), **body}
    joined = {**body, "reason": "join", "prev": sorted([head, branch["id"]])}
    joined = {"id": audit.entry_id(joined), **joined}
    (reg_path / "audit.jsonl").write_text(
        "".join(lines) + "".join(audit.encode_line(e).decode() for e in (branch, joined))
    )
    result = cli("verify", "-R", reg_path, "--json")
    assert result.exit_code == 0, result.stdout


def test_an_entry_following_a_later_one_is_named(narrow: None, reg_path: Path, cli: Callable[..., Any]) -> None:
    lines = _small(reg_path)
    lines[10], lines[20] = lines[20], lines[10]
    (reg_path / "audit.jsonl").write_text("".join(lines))
    result = cli("verify", "-R", reg_path, "--json")
    assert result.exit_code == 5
    found = {f["path"].rsplit(":", 1)[1] for f in json.loads(result.stdout)["findings"] if f["kind"] == "audit"}
    assert found == {"11", "12"}  # each follows an entry that now comes later


# -- reading backwards ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"x")), max_size=12),
    terminated=st.booleans(),
    block=st.integers(1, 16),
)
def test_backwards_gives_the_lines_forwards_gives(
    lines: list[bytes], terminated: bool, block: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = b"\n".join(lines) + (b"\n" if terminated and lines else b"")
    path = tmp_path_factory.mktemp("back") / "log"
    path.write_bytes(data)
    limit = 20
    saved = audit._BLOCK, audit.MAX_LINE_BYTES
    audit._BLOCK, audit.MAX_LINE_BYTES = block, limit
    try:
        import os

        fd = os.open(path, os.O_RDONLY)
        try:
            got = list(audit._lines_backwards(fd, len(data)))
        finally:
            os.close(fd)
    finally:
        audit._BLOCK, audit.MAX_LINE_BYTES = saved
    assert got == [line for line in data.split(b"\n") if line and len(line) <= limit][::-1]
