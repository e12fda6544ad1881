"""The static completion scripts in completions/ are generated from the app and must not go stale."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelreg.cli import app

ROOT = Path(__file__).resolve().parents[3]
FILES = {"bash": "modelreg.bash", "zsh": "_modelreg", "fish": "modelreg.fish"}


@pytest.mark.parametrize("shell", sorted(FILES))
def test_completion_scripts_are_current(shell: str) -> None:
    result = CliRunner().invoke(app, ["completion", shell])
    assert result.exit_code == 0
    committed = (ROOT / "completions" / FILES[shell]).read_text()
    assert result.stdout == committed, f"completions/{FILES[shell]} is stale: run `modelreg completion {shell}`"


def test_unknown_shell_is_refused() -> None:
    result = CliRunner().invoke(app, ["completion", "tcsh"])
    assert result.exit_code == 2
    assert "bash, zsh, fish" in result.stderr


def _complete(words: str, cword: int, cwd: Path) -> list[str]:
    env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_MODELREG_COMPLETE": "complete_bash"}
    env.pop("MODELREG_REGISTRY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg"], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_bash_completes_model_names_and_stages(tmp_path: Path) -> None:
    from modelreg import Registry

    reg, _ = Registry.init(tmp_path)
    model = tmp_path / "m.bin"
    model.write_bytes(b"x")
    reg.register("churn", [model])
    reg.register("credit-risk", [model])
    assert _complete("modelreg get-production c", 2, tmp_path) == ["churn", "credit-risk"]
    assert _complete("modelreg get-production ch", 2, tmp_path) == ["churn"]
    assert _complete("modelreg promote churn@1 st", 3, tmp_path) == ["staging"]
    assert "churn@production" in _complete("modelreg show churn@", 2, tmp_path)
    assert _complete("modelreg get-pr", 1, tmp_path) == ["get-production"]
