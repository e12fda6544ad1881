"""A registry whose served copy and caches are warm: what the special-file and planted-file tests spoil."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.procs import run_modelreg
from support.results import ok_run

from modelreg import Registry


@pytest.fixture
def served(reg_path: Path, make_file: Any, tmp_path: Path) -> Path:
    reg = Registry(reg_path)
    for n in (1, 2):
        reg.register("m", [make_file(tmp_path / f"w{n}.bin", f"weights {n}")])
        reg.promote(f"m@{n}", "production")
    assert ok_run(run_modelreg("get-production", "m", "--path", "-R", reg_path))  # warm every cache
    assert ok_run(run_modelreg("log", "m", "-R", reg_path))
    return reg_path
