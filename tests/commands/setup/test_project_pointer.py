"""Commands run anywhere in a project find its registry folder through ``[tool.modelreg] registry``
in pyproject.toml; a pointer that would lead outside the project is refused and changes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


def project(tmp_path: Path, pointer: str | None, registry: str = "registry") -> Path:
    """A project with src/, a model file and (when ``registry``) a registry folder."""
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "model.bin").write_bytes(b"weights")
    if registry:
        Registry.init(root / registry)
    lines = ['[project]\nname = "churn"\n']
    if pointer is not None:
        lines.append(f"[tool.modelreg]\nregistry = {json.dumps(pointer)}\n")
    (root / "pyproject.toml").write_text("\n".join(lines))
    return root


def test_commands_from_the_project_root_and_below_find_the_pointed_registry(tmp_path: Path, run: Any) -> None:
    root = project(tmp_path, "registry")
    proc = run("register", "churn", "model.bin", "--json", cwd=root, env={"MODELREG_REGISTRY": None})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 1
    assert (root / "registry" / "models" / "churn" / "model.yaml").is_file()
    below = run("list", "--json", cwd=root / "src", env={"MODELREG_REGISTRY": None})
    assert below.returncode == 0, below.stderr
    assert [m["name"] for m in json.loads(below.stdout)["models"]] == ["churn"]
    # -R and MODELREG_REGISTRY still win over the pointer.
    other, _ = Registry.init(tmp_path / "other")
    listed = run("list", "--json", cwd=root, env={"MODELREG_REGISTRY": str(other.root)})
    assert json.loads(listed.stdout)["models"] == []


def test_a_tab_finds_it_too(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = project(tmp_path, "registry")
    Registry(root / "registry").register("churn", [root / "model.bin"])
    env = {k: v for k, v in os.environ.items() if k != "MODELREG_REGISTRY"}
    env.update(_MODELREG_COMPLETE="complete_bash", COMP_LINE="modelreg show ch")
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg"], env=env, cwd=root / "src", capture_output=True, text=True, timeout=60
    )
    assert proc.stdout.split() == ["churn"]


@pytest.mark.parametrize(
    "pointer, why",
    [
        ("../elsewhere", "relative path inside the project"),
        ("/ABSOLUTE", "relative path inside the project"),
        ("~/registry", "relative path inside the project"),
        ("linked", "leads outside the project"),
        ("", "must be a folder of the project"),
    ],
)
def test_a_pointer_out_of_the_project_is_refused(
    tmp_path: Path, run: Any, tree_snapshot: Any, pointer: str, why: str
) -> None:
    outside, _ = Registry.init(tmp_path / "elsewhere")
    pointer = pointer.replace("/ABSOLUTE", str(outside.root))
    root = project(tmp_path, pointer, registry="")
    (root / "linked").symlink_to(outside.root)
    before = tree_snapshot(tmp_path)
    proc = run("register", "churn", "model.bin", cwd=root, env={"MODELREG_REGISTRY": None})
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert why in proc.stderr and "pyproject.toml" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert tree_snapshot(tmp_path) == before  # nothing written, outside the project or in it


def test_a_pointer_to_a_folder_without_a_registry_says_how_to_create_it(tmp_path: Path, run: Any) -> None:
    root = project(tmp_path, "registry", registry="")
    proc = run("list", cwd=root, env={"MODELREG_REGISTRY": None})
    assert proc.returncode == 3
    assert "holds no registry; create it with: modelreg init" in proc.stderr
    assert not (root / "registry").exists()


def test_init_in_a_project_says_how_commands_find_it(tmp_path: Path, run: Any) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "churn"\n')
    proc = run("init", "registry", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-3:] == [
        "So that commands run anywhere in the project find it, add to its pyproject.toml:",
        "[tool.modelreg]",
        'registry = "registry"',
    ]
    # Done as it says, a command from the project root finds it.
    with (root / "pyproject.toml").open("a") as fh:
        fh.write('\n[tool.modelreg]\nregistry = "registry"\n')
    assert run("list", cwd=root, env={"MODELREG_REGISTRY": None}).returncode == 0
    assert "pyproject" not in run("init", "registry", cwd=root).stdout  # already pointed to
