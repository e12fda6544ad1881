"""A file planted in a served copy is gone at the next answer."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from support.procs import run_modelreg as _modelreg

from modelreg import Registry


@pytest.fixture
def served(reg_path: Path, make_file: Any, tmp_path: Path) -> Path:
    reg = Registry(reg_path)
    for n in (1, 2):
        reg.register("m", [make_file(tmp_path / f"w{n}.bin", f"weights {n}")])
        reg.promote(f"m@{n}", "production")
    assert ok_run(_modelreg("get-production", "m", "--path", "-R", reg_path))  # warm every cache
    assert ok_run(_modelreg("log", "m", "-R", reg_path))
    return reg_path


def ok_run(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-500:]
    return proc.stdout


def test_a_file_planted_in_the_served_copy_is_gone_at_the_next_answer(served: Path) -> None:
    path = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    os.chmod(path, 0o755)
    (path / "extra.py").write_text("import os\n")
    (path / "pkg").mkdir()
    again = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    assert sorted(p.name for p in again.iterdir()) == ["w2.bin"]
