"""A file planted in a served copy is gone at the next answer."""

from __future__ import annotations

import os
from pathlib import Path

from support.procs import run_modelreg as _modelreg
from support.results import ok_run


def test_a_file_planted_in_the_served_copy_is_gone_at_the_next_answer(served: Path) -> None:
    path = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    os.chmod(path, 0o755)
    (path / "extra.py").write_text("import os\n")
    (path / "pkg").mkdir()
    again = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    assert sorted(p.name for p in again.iterdir()) == ["w2.bin"]
