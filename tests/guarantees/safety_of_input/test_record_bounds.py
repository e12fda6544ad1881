"""Issue 10, bounds (records/state.py, manifest.py, names.py; ops/verify.py): no crafted record makes
a command loop or crash, and the exit code says what happened.

- A model holds at most 1,000,000 versions: a model file, stage file or manifest naming more is
  corrupt (exit 5), and a register past the limit is refused (exit 4) with nothing written.
- File sizes in a manifest are below 2**63.
- verify lists a model's manifests once, so a crafted latest_version under the limit ends in
  seconds with a handful of findings, not one per missing version.
- A 5,000-digit metric on the command line is bad input (exit 2), in one short line.
- A directory under models/ whose name no model can have is a finding of verify (exit 5).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot, write_file


def _ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _clean(proc: subprocess.CompletedProcess[str], code: int) -> str:
    assert proc.returncode == code, f"exit {proc.returncode}: {proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and len(lines[0]) < 400, proc.stderr[:500]
    return lines[0]


@pytest.fixture
def one_version(run: Any, reg_path: Path, tmp_path: Path) -> Path:
    _ok(run("register", "-R", reg_path, "m", write_file(tmp_path / "w.bin", "weights\n"), "--metric", "acc=1"))
    _ok(run("promote", "-R", reg_path, "m@1", "production"))
    return reg_path / "models" / "m"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, text
    path.write_text(text.replace(old, new))


def test_latest_version_over_the_limit_is_corrupt(run: Any, reg_path: Path, one_version: Path) -> None:
    _edit(one_version / "model.yaml", "latest_version: 1\n", "latest_version: 1000001\n")
    for args in (("list",), ("show", "m"), ("get-production", "m")):
        message = _clean(run(*args, "-R", reg_path), 5)
        assert "model.yaml" in message and "1000000" in message
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5
    findings = json.loads(proc.stdout)["findings"]
    assert [f["path"] for f in findings] == [str(one_version / "model.yaml")], findings


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("stages.yaml", "  1: production\n", "  1: production\n  1000000000000: staging\n"),
        ("versions/1.yaml", "  size: 8\n", f"  size: {2**64}\n"),
        ("versions/1.yaml", "  size: 8\n", f"  size: {2**63}\n"),
    ],
    ids=["stage-file-version", "file-size-2**64", "file-size-2**63"],
)
def test_numbers_past_their_bounds_are_corrupt(
    run: Any, reg_path: Path, one_version: Path, file: str, old: str, new: str
) -> None:
    _edit(one_version / file, old, new)
    reader = ("list", "m") if file == "stages.yaml" else ("show", "m@1")
    assert Path(file).name in _clean(run(*reader, "-R", reg_path), 5)
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5
    assert any(f["path"] == str(one_version / file) for f in json.loads(proc.stdout)["findings"])


def test_a_crafted_latest_version_under_the_limit_verifies_in_seconds(
    run: Any, reg_path: Path, one_version: Path
) -> None:
    _edit(one_version / "model.yaml", "latest_version: 1\n", "latest_version: 999999\n")
    started = time.monotonic()
    proc = run("verify", "-R", reg_path, "--json")
    elapsed = time.monotonic() - started
    assert proc.returncode == 5, proc.stderr
    findings = json.loads(proc.stdout)["findings"]
    assert len(findings) < 10, f"{len(findings)} findings"
    assert any("999998 versions" in f["message"] and "m@2 to m@999999" in f["message"] for f in findings), findings
    assert elapsed < 15, f"verify took {elapsed:.1f} s"


def test_register_past_the_version_limit_is_refused(
    run: Any, reg_path: Path, one_version: Path, tmp_path: Path
) -> None:
    _edit(one_version / "model.yaml", "latest_version: 1\n", "latest_version: 1000000\n")
    # (register stores the blobs before it takes the model's lock; gc removes unreferenced ones)
    before = snapshot(reg_path, ignore=(".modelreg", "blobs"))
    message = _clean(run("register", "-R", reg_path, "m", write_file(tmp_path / "x.bin", "x\n")), 4)
    assert "1000000" in message and "'m'" in message
    assert snapshot(reg_path, ignore=(".modelreg", "blobs")) == before
    assert not list((reg_path / ".modelreg").rglob("journal/*.json"))


@pytest.mark.parametrize("value", ["1" * 5000, "0." + "1" * 5000, "1" * 4000 + "e5"])
def test_a_metric_of_thousands_of_digits_is_bad_input(run: Any, reg_path: Path, tmp_path: Path, value: str) -> None:
    proc = run("register", "-R", reg_path, "m", write_file(tmp_path / "w.bin", "w\n"), "--metric", f"acc={value}")
    message = _clean(proc, 2)
    assert "'acc'" in message and "100" in message
    assert not (reg_path / "models" / "m").exists()
    for text in ("1e999999", "-1e400"):  # non-finite after conversion
        proc = run("register", "-R", reg_path, "m", write_file(tmp_path / "w.bin", "w\n"), "--metric", f"acc={text}")
        assert "finite" in _clean(proc, 2)


@pytest.mark.parametrize("bad", ["Bad Name", "UPPER", "-dash", "x" * 101])
def test_a_bad_model_directory_name_is_a_finding_of_verify(
    run: Any, reg_path: Path, one_version: Path, bad: str
) -> None:
    (reg_path / "models" / bad).mkdir()
    (reg_path / "models" / bad / "model.yaml").write_bytes((one_version / "model.yaml").read_bytes())
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    assert report["models"] == 1 and report["versions"] == 1, "the good model is still checked"
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [f["path"] for f in errors] == [str(reg_path / "models" / bad)], errors


def test_a_symlinked_model_directory_is_a_finding_of_verify(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """A clone can carry models/NAME as a link to another registry's model: never followed, so
    not a model of this registry, and verify says so instead of passing it over in silence."""
    other = tmp_path / "other"
    _ok(run("init", other))
    _ok(run("register", "-R", other, "x", write_file(tmp_path / "x.bin", "x\n")))
    (reg_path / "models" / "x").symlink_to(other / "models" / "x")
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5, proc.stdout + proc.stderr
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert [f["path"] for f in errors] == [str(reg_path / "models" / "x")], errors
    assert "symbolic link" in errors[0]["message"]
