"""register at its edges: a registry inside an input directory, its own changes in lineage, metric
values, bad paths and settings."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


def code(result: Any) -> int:
    return result.exit_code


def test_registry_inside_an_input_directory_is_skipped(cli: Any, tmp_path: Path, make_file: Any) -> None:
    project = tmp_path / "project"
    make_file(project / "model.bin", "weights")
    make_file(project / "src" / "train.py", "print(1)")
    Registry.init(project / "registry")
    data = json.loads(cli("register", "m", str(project), "--json", "-R", project / "registry").stdout)
    assert [f["path"] for f in data["files"]] == ["model.bin", "src/train.py"]
    refused = cli("register", "m", str(project / "registry"), "-R", project / "registry")
    assert code(refused) == 2 and "registry itself" in refused.stderr


def test_lineage_ignores_the_registrys_own_changes(tmp_path: Path, make_file: Any, monkeypatch: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    for key in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{key}_NAME", "t")
        monkeypatch.setenv(f"GIT_{key}_EMAIL", "t@example.com")
    monkeypatch.delenv("GIT_CEILING_DIRECTORIES", raising=False)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    reg, _ = Registry.init(repo / "registry")
    weights = make_file(repo / "w.bin", "w")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "base"], cwd=repo, check=True)
    first, _ = reg.register("m", [weights], cwd=repo)
    second, _ = reg.register("m", [weights], cwd=repo)  # the first register changed tracked registry files
    assert first.lineage["git"]["dirty"] is False
    assert second.lineage["git"]["dirty"] is False
    weights.write_text("changed")
    third, _ = reg.register("m", [weights], cwd=repo)
    assert third.lineage["git"]["dirty"] is True


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("1e3", True),
        ("-0.5", True),
        (".5", True),
        ("1_000", False),
        ("0x10", False),
        ("nan", False),
        ("9007199254740993", False),
    ],
)
def test_metric_values_are_json_numbers(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path, value: str, ok: bool
) -> None:
    f = make_file(tmp_path / "w.bin", "w")
    result = cli("register", "m", str(f), "--metric", f"x={value}", "--json", "-R", reg_path)
    assert code(result) == (0 if ok else 2), result.stderr
    if ok:
        assert json.loads(result.stdout)["metrics"]["x"] == float(value)


def test_bad_paths_and_settings_are_usage_errors(
    cli: Any, reg_path: Path, tmp_path: Path, monkeypatch: Any, make_file: Any
) -> None:
    afile = make_file(tmp_path / "afile", "x")
    result = cli("init", str(afile / "sub"))
    assert code(result) == 2 and "Traceback" not in result.stderr
    monkeypatch.setenv("MODELREG_LOCK_TIMEOUT", "nan")
    assert code(cli("list", "-R", reg_path)) == 2
