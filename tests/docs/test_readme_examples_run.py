"""The tour and the Python snippet of the README run as written, against a fresh directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _block(language: str, starting: str) -> str:
    found = [b for b in re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL) if b.startswith(starting)]
    assert len(found) == 1, f"one {language} block starting with {starting!r}"
    return found[0]


def test_the_tour_runs_line_by_line(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"a trained model")
    outputs = []
    for line in _block("sh", "modelreg init").splitlines():
        command = line.split("  #", 1)[0].strip()
        # python -m modelreg: the code under test, wherever a console script may point.
        proc = subprocess.run(
            ["bash", "-c", f'modelreg() {{ "{sys.executable}" -m modelreg "$@"; }}; {command}'],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (command, proc.stderr)
        outputs.append(proc.stdout)
    served = Path(outputs[4].strip())
    assert (served / "model.pkl").read_bytes() == b"a trained model"
    production = json.loads(outputs[5])
    assert (production["version"], production["stage"]) == (2, "production")
    assert production["lineage"]["datasets"] == ["data/leads.parquet"]


def test_the_python_snippet_runs(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"weights")
    assert subprocess.run([sys.executable, "-m", "modelreg", "init"], cwd=tmp_path, env=_env()).returncode == 0
    snippet = _block("python", "from modelreg import Registry")
    check = "\nprint(prod.version, prod.stage, (files_dir / 'model.pkl').read_bytes().decode())\n"
    proc = subprocess.run(
        [sys.executable, "-c", snippet + check], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "production", "weights"]
