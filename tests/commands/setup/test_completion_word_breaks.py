"""bash completes only the end of a word after its last COMP_WORDBREAKS character: the answers
the engine gives bash are that end, whatever the user's COMP_WORDBREAKS holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


@pytest.fixture
def reg(tmp_path: Path, make_file: Any) -> Path:
    root = tmp_path / "reg"
    registry, _ = Registry.init(root)
    for n in (1, 2):
        registry.register("churn", [make_file(tmp_path / "m.bin", f"w{n}")])
    return root


def bash_answers(line: str, cwd: Path, breaks: str | None = None) -> list[str]:
    """What completions/modelreg.bash hands bash for the line up to the cursor."""
    env = {k: v for k, v in os.environ.items() if k != "MODELREG_REGISTRY"}
    env.update(_MODELREG_COMPLETE="complete_bash", COMP_LINE=line)
    if breaks is not None:
        env["COMP_WORDBREAKS"] = breaks
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg"], env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_default_word_breaks(reg: Path) -> None:
    # "@" stays in the text readline replaces (one of bash's special prefixes).
    assert bash_answers("modelreg show churn@pro", reg) == ["@production"]
    assert "@latest" in bash_answers("modelreg show churn@", reg)
    # After a whole NAME@REF the next argument is the stage, not a file.
    assert bash_answers("modelreg promote churn@2 st", reg) == ["staging"]
    assert bash_answers("modelreg promote churn@2 ", reg) == ["development", "staging", "production", "archived"]
    assert bash_answers("modelreg sh", reg) == ["show"]


def test_word_breaks_without_the_at_sign(reg: Path) -> None:
    # A user (or bash-completion's __ltrim helpers) may have taken "@" out: whole words then.
    assert bash_answers("modelreg show churn@pro", reg, breaks=" \t\n\"'><=;|&(:") == ["churn@production"]
    # Only "@" among the breaks: still the end from the "@".
    assert bash_answers("modelreg show churn@pro", reg, breaks=" \t\n@") == ["@production"]
