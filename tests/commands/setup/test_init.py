"""Issue 12: init inside or next to a registry says so; its message says how to find the registry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


@pytest.mark.parametrize("inside", ["models", "models/churn", "blobs", ".modelreg/cache"])
def test_init_inside_a_registrys_own_folders_is_refused(inside: str, cli: Any, run: Any, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    Registry.init(outer)
    target = outer / inside
    for result in (cli("init", target), run("init", target)):
        code = getattr(result, "exit_code", getattr(result, "returncode", None))
        assert code == 2, result.stderr
        assert str(outer) in result.stderr and "corrupt" in result.stderr
    assert not (target / "modelreg.toml").exists()


def test_init_inside_a_registry_warns_and_names_it(cli: Any, tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    Registry.init(outer)
    result = cli("init", outer / "team-a")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.startswith("warning: ") and str(outer) in result.stderr
    assert (outer / "team-a" / "modelreg.toml").is_file()
    quiet = cli("-q", "init", outer / "team-b")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_init_above_a_registry_warns_and_names_it(cli: Any, tmp_path: Path) -> None:
    project = tmp_path / "project"
    Registry.init(project / "ml" / "registry")
    result = cli("init", project)
    assert result.exit_code == 0
    assert "warning: a registry already exists at" in result.stderr
    assert str(project / "ml" / "registry") in result.stderr


def test_init_elsewhere_is_silent(cli: Any, tmp_path: Path) -> None:
    result = cli("init", tmp_path / "fresh")
    assert result.exit_code == 0 and result.stderr == ""


def test_init_says_how_commands_find_the_registry(run: Any, tmp_path: Path) -> None:
    proc = run("init", tmp_path / "my reg")
    assert proc.returncode == 0 and proc.stderr == ""
    root = (tmp_path / "my reg").resolve()
    first, second = proc.stdout.splitlines()
    assert first == f"Created registry at {root}"
    assert f"-R '{root}'" in second and f"MODELREG_REGISTRY='{root}'" in second
    again = run("init", tmp_path / "my reg")
    assert again.stdout.splitlines()[0] == f"Already a registry at {root}" and "-R" in again.stdout
    # The hint is true: from elsewhere, -R and the variable both find it.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert run("list", "-R", root, cwd=elsewhere).returncode == 0
    assert run("list", cwd=elsewhere, env={"MODELREG_REGISTRY": str(root)}).returncode == 0
    assert run("list", cwd=elsewhere).returncode == 3
    assert json.loads(run("init", root, "--json").stdout) == {"path": str(root), "created": False, "changed": False}
