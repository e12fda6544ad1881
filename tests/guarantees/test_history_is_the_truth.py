"""The history is the truth: verify replays each model's audit entries and checks that stage files and
aliases tell the same story."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from support.guarantees import AUDIT, append_forged_entry, audit_lines, clean_error, mr, verify_ok
from support.results import ok


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


DUPLICATES = {
    # file under models/m -> (a duplicate top-level key appended, a command that reads the file)
    "versions/1.yaml": ("description: forged\n", ("show", "m@1")),
    "model.yaml": ("description: forged\n", ("show", "m")),
    "stages.yaml": ("versions:\n  2: production\n", ("list", "m")),
}


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _verify(run: Any, reg: Path) -> tuple[int, dict[str, Any]]:
    proc = run("verify", "-R", reg, "--json")
    assert proc.returncode in (0, 5) and "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _errors(report: dict[str, Any]) -> list[dict[str, str]]:
    return [f for f in report["findings"] if f["severity"] == "error"]


def _setup(run: Any, reg: Path, tmp_path: Path) -> None:
    """m@1 in production, m@2 in staging, m@3 in development."""
    for n in (1, 2, 3):
        _ok(run("register", "-R", reg, "m", write_file(tmp_path / f"in{n}" / "w.bin", f"weights {n}\n")))
    _ok(run("promote", "-R", reg, "m@1", "production", "--reason", "first"))
    _ok(run("promote", "-R", reg, "m@2", "staging"))
    code, report = _verify(run, reg)
    assert code == 0 and report["findings"] == [], report


def _stages(reg: Path) -> Path:
    return reg / "models" / "m" / "stages.yaml"


def _forge(reg: Path, **fields: Any) -> None:
    """Append an entry linked to the current heads, exactly as modelreg links one."""
    entries = [json.loads(line) for line in (reg / "audit.jsonl").read_bytes().splitlines()]
    followed = {p for e in entries for p in e["prev"]}
    heads = sorted(e["id"] for e in entries if e["id"] not in followed)
    body = {
        "time": "2030-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "promote",
        "model": "m",
        "version": None,
        "from_stage": None,
        "to_stage": None,
        "reason": None,
        **fields,
        "txn": "e" * 24,
        "prev": heads,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    entry = {"id": "sha256:" + hashlib.sha256(canonical.encode()).hexdigest(), **body}
    with open(reg / "audit.jsonl", "ab") as fh:
        fh.write((json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode())


HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from modelreg.base.fs import atomic_write
    from modelreg.ops.changes import record
    from modelreg.repo import Repo

    reg, flag = Path(sys.argv[1]), Path(sys.argv[2])
    repo = Repo(reg)
    with repo.model_lock("m"):
        # What a promote does under the model's lock: the stage file first, the entry after.
        stages = repo.model_dir("m") / "stages.yaml"
        atomic_write(stages, stages.read_bytes().replace(b"3: staging", b"3: production"))
        print("written", flush=True)
        while not flag.exists():
            time.sleep(0.05)
        with repo.audit_lock():
            repo.audit.append([{**record("promote", "m", 3, from_stage="staging", to_stage="production"),
                                "txn": "d" * 24}])
    """
)


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


def test_a_hand_edited_stage_file_is_an_error_naming_both_stages(run: Any, reg_path: Path, tmp_path: Path) -> None:
    _setup(run, reg_path, tmp_path)
    text = _stages(reg_path).read_text()
    _stages(reg_path).write_text(text.replace("2: staging", "2: production").replace("1: production", "1: archived"))
    code, report = _verify(run, reg_path)
    assert code == 5
    found = {f["message"] for f in _errors(report) if f["path"] == str(_stages(reg_path))}
    assert any("m@2" in m and "'production'" in m and "'staging'" in m for m in found), report
    assert any("m@1" in m and "'archived'" in m and "'production'" in m for m in found), report
    assert run("verify", "-R", reg_path).returncode == 5


def test_a_deleted_last_change_is_an_error(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """The last promotion (and the archive it caused) cut off the end of the log: the chain is
    intact, the stage file is not what the history says."""
    _setup(run, reg_path, tmp_path)
    lines = (reg_path / "audit.jsonl").read_bytes().splitlines(keepends=True)
    _ok(run("promote", "-R", reg_path, "m@3", "production", "--reason", "replace"))
    code, report = _verify(run, reg_path)
    assert code == 0, report
    (reg_path / "audit.jsonl").write_bytes(b"".join(lines))
    code, report = _verify(run, reg_path)
    assert code == 5
    messages = " ".join(f["message"] for f in _errors(report))
    assert "m@3" in messages and "m@1" in messages, report


def test_an_appended_entry_is_checked_by_its_story_and_unknown_actions_move_nothing(
    run: Any, reg_path: Path, tmp_path: Path
) -> None:
    _setup(run, reg_path, tmp_path)
    # Actions this version does not know (future governance entries) move no version.
    _forge(reg_path, action="request", version=3, from_stage="development", to_stage="production")
    _forge(reg_path, action="alias", version=3, to_stage="champion")
    code, report = _verify(run, reg_path)
    assert code == 0 and report["findings"] == [], report
    # A promotion that never happened: well linked, but the files disagree with it.
    _forge(reg_path, action="promote", version=3, from_stage="development", to_stage="production")
    code, report = _verify(run, reg_path)
    assert code == 5
    assert [f["path"] for f in _errors(report)] == [str(_stages(reg_path))], report
    assert "m@3" in _errors(report)[0]["message"]


def test_an_edited_initial_stage_in_the_model_file_is_an_error(run: Any, reg_path: Path, tmp_path: Path) -> None:
    _ok(run("register", "-R", reg_path, "m", write_file(tmp_path / "w.bin", "w\n"), "--stage", "staging"))
    model_file = reg_path / "models" / "m" / "model.yaml"
    text = model_file.read_text()
    assert "1: staging" in text
    model_file.write_text(text.replace("1: staging", "1: production"))
    code, report = _verify(run, reg_path)
    assert code == 5
    assert [f["path"] for f in _errors(report)] == [str(model_file)], report


def test_a_deleted_model_or_version_is_an_error(run: Any, reg_path: Path, tmp_path: Path) -> None:
    import shutil

    _setup(run, reg_path, tmp_path)
    _ok(run("register", "-R", reg_path, "other", write_file(tmp_path / "o.bin", "o\n")))
    shutil.rmtree(reg_path / "models" / "other")
    code, report = _verify(run, reg_path)
    assert code == 5
    assert any("'other'" in f["message"] for f in _errors(report)), report
    # The newest version removed by hand (manifest gone, latest_version lowered).
    model_file = reg_path / "models" / "m" / "model.yaml"
    model_file.write_text(model_file.read_text().replace("latest_version: 3", "latest_version: 2"))
    (reg_path / "models" / "m" / "versions" / "3.yaml").unlink()
    code, report = _verify(run, reg_path)
    assert any("m@3" in f["message"] for f in _errors(report)), report


def test_verify_waits_for_a_change_in_flight_before_reporting_a_stage(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """A promote that has written stages.yaml but not yet appended its entry is not a mismatch:
    verify waits for the model's lock and reads both again. A real edit is still an error."""
    for n in (1, 2, 3):
        _ok(run("register", "-R", reg_path, "m", write_file(tmp_path / f"in{n}" / "w.bin", f"w{n}\n")))
    _ok(run("promote", "-R", reg_path, "m@3", "staging"))
    flag = tmp_path / "go"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(reg_path), str(flag)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "written"
        verifying = subprocess.Popen(
            [sys.executable, "-m", "modelreg", "verify", "-R", str(reg_path), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert verifying.poll() is None, "verify reported without waiting for the change in flight"
        flag.touch()
        out, err = verifying.communicate(timeout=60)
        assert verifying.returncode == 0, out + err
        assert json.loads(out)["findings"] == []
    finally:
        flag.touch()
        assert holder.wait(timeout=60) == 0
    _stages(reg_path).write_text(_stages(reg_path).read_text().replace("3: production", "3: archived"))
    code, report = _verify(run, reg_path)
    assert code == 5 and "m@3" in _errors(report)[0]["message"]


def test_a_read_only_registry_still_gets_its_history_checked(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """A serving container's read-only mount: verify cannot take a lock there, and still reports a
    stage file that disagrees with the history (exit 5), not a refused write (exit 4)."""
    import os
    import shutil

    import pytest

    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    _setup(run, reg_path, tmp_path)
    _stages(reg_path).write_text(_stages(reg_path).read_text().replace("2: staging", "2: production"))
    shutil.rmtree(reg_path / ".modelreg")  # no lock directory: taking a lock would have to create one
    view = tmp_path / "ro"
    view.mkdir()
    if subprocess.run(["mount", "--bind", str(reg_path), str(view)], capture_output=True).returncode != 0:
        pytest.skip("cannot bind-mount here")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip("cannot remount read-only here")
        code, report = _verify(run, view)
        assert code == 5, report
        assert {f["path"] for f in _errors(report)} == {str(view / "models" / "m" / "stages.yaml")}, report
        assert any("m@2" in f["message"] and "history" in f["message"] for f in _errors(report)), report
    finally:
        subprocess.run(["umount", "-l", str(view)], capture_output=True, check=False)
