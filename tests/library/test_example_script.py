"""examples/train_and_register.py runs as a user would run it: a training job that registers,
checks the gates, requests promotion and pushes through the library alone."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.governance import add_policy

from modelreg import Registry

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "train_and_register.py"


def run_example(*args: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ.copy(),
    )


def team_registry(tmp_path: Path, gate: str) -> tuple[Path, Path]:
    """A registry whose modelreg.toml names a directory remote and production's gates and approvals."""
    root, remote = tmp_path / "reg", tmp_path / "remote"
    remote.mkdir()
    Registry.init(root)
    config = root / "modelreg.toml"
    config.write_text(config.read_text().replace("[remote]\n", f'[remote]\nurl = "{remote}"\n'))
    add_policy(root, f'[gates.production]\nmetrics = ["{gate}"]\nrequire = ["file:MODEL_CARD.md"]\napprovals = 1\n')
    return root, remote


def test_the_script_uses_only_the_library_and_the_standard_library() -> None:
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
            if node.module.startswith("modelreg"):
                assert node.module == "modelreg", "only the public names of modelreg"
    assert roots - sys.stdlib_module_names == {"modelreg"}, roots


def test_registers_requests_and_pushes(tmp_path: Path) -> None:
    root, remote = team_registry(tmp_path, "r2 >= 0.9")
    proc = run_example(root, "--name", "demand", "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    reg = Registry.open(root)

    version = reg.resolve("demand@1")
    assert outcome["version"] == version.to_json()
    assert version.metrics["r2"] >= 0.9 and version.params["method"] == "ols"
    assert sorted(f.path for f in version.files) == ["MODEL_CARD.md", "model.json"]
    assert "pass  r2 >= 0.9" in proc.stderr and "pass  file:MODEL_CARD.md" in proc.stderr

    # A request awaits a reviewer; nothing is in production yet.
    (request,) = reg.list_requests().requests
    assert outcome["request"]["id"] == request["id"]
    assert (request["name"], request["version"], request["stage"], request["status"]) == (
        "demand",
        1,
        "production",
        "open",
    )
    assert reg.listing(stage="production").to_json() == {"models": []}

    # The bytes are on the remote: a clone without its blobs gets the same files back.
    assert outcome["push"]["transferred"] >= 1 and any(p.is_file() for p in remote.rglob("*"))
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, ignore=shutil.ignore_patterns("blobs", ".modelreg"))
    copy = Registry.open(clone)
    served = copy.get("demand@1", output=tmp_path / "out", path=False)
    model = json.loads((tmp_path / "out" / "model.json").read_text())
    assert abs(model["slope"] - 3) < 0.1 and abs(model["intercept"] - 2) < 0.2
    assert served.version.digest == version.digest

    # A reviewer approves: the model reaches production.
    decided = reg.approve(request["id"], actor="reviewer")
    assert decided.promoted is not None and reg.get_production("demand").version == 1


def test_a_model_failing_its_gates_is_registered_but_not_requested_nor_pushed(tmp_path: Path) -> None:
    root, remote = team_registry(tmp_path, "r2 >= 0.9999")
    proc = run_example(root)
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == ""
    assert "FAIL  r2 >= 0.9999" in proc.stderr and "error: moving demand@1 to production" in proc.stderr
    reg = Registry.open(root)
    assert reg.resolve("demand@1").version == 1
    assert reg.list_requests().requests == ()
    assert not any(p.is_file() for p in remote.rglob("*"))


def test_a_stage_without_approvals_is_promoted_directly(tmp_path: Path) -> None:
    root, remote = team_registry(tmp_path, "r2 >= 0.9")
    proc = run_example(root, "--stage", "staging")
    assert proc.returncode == 0, proc.stderr
    outcome = json.loads(proc.stdout)
    assert outcome["promoted"]["stage"] == "staging" and "request" not in outcome
    assert Registry.open(root).resolve("demand@staging").version == 1
    assert outcome["push"]["transferred"] >= 1 and any(p.is_file() for p in remote.rglob("*"))


def test_creates_the_registry_when_there_is_none(tmp_path: Path) -> None:
    """No registry and no remote: it creates one, registers and promotes, and says why it cannot push."""
    proc = run_example(tmp_path / "new", "--stage", "staging")
    assert proc.returncode == 2, proc.stderr
    assert "remote" in proc.stderr
    reg = Registry.open(tmp_path / "new")
    assert reg.resolve("demand@staging").version == 1
