"""get-production: the served copy is git-ignored and repaired, verified, and --output refuses a file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from support.core import Ctx, Outcome, as_path, assert_error, blob_of, flip_byte, lib_register, read_tree

from modelreg import Registry


def test_get_production_path_is_git_ignored_and_repaired(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v = lib_register(reg_path, "m", {"w.bin": b"weights", "cfg/a.json": b"{}"}, tmp_path)
    Registry.open(reg_path).promote("m@1", "production")
    first = cli("get-production", "m", "--path", "-R", reg_path)
    assert first.exit_code == 0, first.stderr
    cache_dir = as_path(first.stdout.strip(), tmp_path)
    (cache_dir / "w.bin").unlink()  # a damaged cached copy is rebuilt, verified
    again = cli("get-production", "m", "--path", "-R", reg_path)
    assert again.exit_code == 0, again.stderr
    assert read_tree(as_path(again.stdout.strip(), tmp_path)) == {"w.bin": b"weights", "cfg/a.json": b"{}"}
    assert v.digest == Registry.open(reg_path).get_production("m").digest
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(reg_path)], check=True)
    ignored = subprocess.run(["git", "-C", str(reg_path), "check-ignore", "-q", str(cache_dir.resolve())])
    assert ignored.returncode == 0, "the --path directory must be git-ignored"


def test_integrity_failure_on_path_too(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v = Ctx(reg_path, tmp_path).seed(production=True)
    flip_byte(blob_of(reg_path, v.files[0].digest), offset=0)
    out = cli("get-production", "m", "--path", "-R", reg_path)
    assert_error(Outcome(out.exit_code, out.stdout, out.stderr), 5, json_mode=False)


def test_output_onto_a_file_is_usage_error(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed(production=True)
    target = write_file(tmp_path / "not-a-dir", b"keep me")
    r = cli("get-production", "m", "--output", target, "-R", reg_path)
    assert target.read_bytes() == b"keep me"
    assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=False, needles=("not-a-dir",))
