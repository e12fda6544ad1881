"""``promote``, ``rollback``, ``alias`` and ``remove`` compare-and-swap the model's pointers on the
claim engine: a clone that has not seen another clone's move is refused (exit 4, naming ``modelreg
sync``) and changes nothing; after ``git pull`` it moves from what it has now seen. ``sync``
reports, and never touches the git branch."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import run_modelreg
from support.teams import GIT_ENV, PUBLISH_LOOP, git, init_claims_registry, launch_together


@pytest.fixture(params=["s3", "git"])
def pair(request: pytest.FixtureRequest, tmp_path: Path, make_file: Callable[..., Path]) -> tuple[Path, Path]:
    """Two clones of one registry (bare repository on disk) that both hold churn@1 and churn@2;
    their engine is the shared directory store ("s3") or the bare repository ("git")."""
    bare, shared, seed = tmp_path / "origin.git", tmp_path / "shared", tmp_path / "seed"
    shared.mkdir()
    git("init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    git("init", "-q", "-b", "main", seed, cwd=tmp_path)
    init_claims_registry(seed, str(shared))
    toml = seed / "modelreg.toml"
    toml.write_text(toml.read_text().replace('engine = "s3"', f'engine = "{request.param}"'))
    if request.param == "git":  # the seed claims on the bare repository from its first register
        git("remote", "add", "origin", bare, cwd=seed)
    for i in (1, 2):
        done = run_modelreg("-R", seed, "register", "churn", make_file(tmp_path / f"v{i}.bin", f"v{i}".encode()))
        assert done.returncode == 0, done.stderr
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "two versions", cwd=seed)
    if request.param == "s3":
        git("remote", "add", "origin", bare, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    a, b = tmp_path / "a", tmp_path / "b"
    git("clone", "-q", bare, a, cwd=tmp_path)
    git("clone", "-q", bare, b, cwd=tmp_path)
    return a, b


def publish(root: Path) -> None:
    import os
    import subprocess

    done = subprocess.run(
        ["bash", "-c", PUBLISH_LOOP, "publish", "x"], cwd=root, env={**os.environ, **GIT_ENV}, capture_output=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def pointer_files(root: Path) -> dict[str, bytes]:
    folder = root / "models" / "churn"
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name in ("stages.yaml", "aliases.yaml")}


def test_a_promote_that_has_not_seen_the_other_clones_is_refused(pair: tuple[Path, Path]) -> None:
    a, b = pair
    assert run_modelreg("-R", a, "promote", "churn@1", "production").returncode == 0
    publish(a)
    before = pointer_files(b)
    refused = run_modelreg("-R", b, "promote", "churn@2", "production")
    assert refused.returncode == 4
    assert "modelreg sync" in refused.stderr and "promote by" in refused.stderr
    assert pointer_files(b) == before  # nothing changed
    head = git("rev-parse", "HEAD", cwd=b)
    synced = json.loads(run_modelreg("-R", b, "sync", "--json").stdout)
    assert synced["models"][0]["pointers"] == "behind"
    assert git("rev-parse", "HEAD", cwd=b) == head and git("status", "--porcelain", cwd=b) == ""
    git("pull", "-q", "--rebase", "origin", "main", cwd=b)
    assert json.loads(run_modelreg("-R", b, "sync", "--json").stdout)["models"][0]["pointers"] == "in step"
    moved = run_modelreg("-R", b, "promote", "churn@2", "production", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["archived"] == [1]  # the holder it has now seen
    publish(b)
    git("pull", "-q", "--rebase", "origin", "main", cwd=a)
    assert run_modelreg("-R", a, "verify").returncode == 0


@pytest.mark.parametrize(
    "command",
    [
        ["alias", "churn@1", "champion"],
        ["rollback", "churn", "--to", "1"],
        ["remove", "churn@1", "--reason", "recalled"],
        ["deploy", "churn@1", "--env", "prod-eu"],
    ],
)
def test_every_pointer_change_is_refused_in_a_clone_that_is_behind(pair: tuple[Path, Path], command: list[str]) -> None:
    a, b = pair
    assert run_modelreg("-R", a, "promote", "churn@2", "production").returncode == 0
    before = pointer_files(b)
    refused = run_modelreg("-R", b, *command)
    assert refused.returncode == 4, refused.stderr
    assert "modelreg sync" in refused.stderr
    assert pointer_files(b) == before


def deployment_file(root: Path) -> bytes | None:
    path = root / "models" / "churn" / "deployments.yaml"
    return path.read_bytes() if path.exists() else None


def test_a_deploy_that_has_not_seen_the_other_clones_is_refused(pair: tuple[Path, Path]) -> None:
    a, b = pair
    assert run_modelreg("-R", a, "deploy", "churn@1", "--env", "prod-eu").returncode == 0
    publish(a)
    before = pointer_files(b)
    for command in (["deploy", "churn@2", "--env", "prod-eu"], ["promote", "churn@2", "production"]):
        refused = run_modelreg("-R", b, *command)
        assert refused.returncode == 4, refused.stderr
        assert "modelreg sync" in refused.stderr and "deploy by" in refused.stderr
        assert deployment_file(b) is None and pointer_files(b) == before
    git("pull", "-q", "--rebase", "origin", "main", cwd=b)
    moved = run_modelreg("-R", b, "deploy", "churn@2", "--env", "prod-eu", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["previous"] == 1  # the deployment it has now seen
    undeployed = run_modelreg("-R", b, "undeploy", "churn", "--env", "prod-eu")
    assert undeployed.returncode == 0, undeployed.stderr
    refused = run_modelreg("-R", a, "deploy", "churn@2", "--env", "prod-us")
    assert refused.returncode == 4 and "undeploy by" in refused.stderr
    publish(b)
    git("pull", "-q", "--rebase", "origin", "main", cwd=a)
    assert run_modelreg("-R", a, "verify").returncode == 0
    deployed = json.loads(run_modelreg("-R", a, "deployed", "--json").stdout)
    assert deployed["deployments"] == []


def test_of_two_clones_promoting_at_once_one_wins(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    procs = launch_together(
        [["-R", a, "promote", "churn@1", "production"], ["-R", b, "promote", "churn@2", "production"]],
        tmp_path / "go",
    )
    codes = sorted(p.wait(timeout=300) for p in procs)
    assert codes == [0, 4]


def test_a_writer_killed_between_its_swap_and_its_commit_does_not_block_the_model(pair: tuple[Path, Path]) -> None:
    """The engine took the swap, the clone never recorded the change: the clone's next change puts
    the engine back to what the clone holds (the change happened nowhere) and goes ahead."""
    import os
    import subprocess
    import sys

    a, b = pair
    killed = subprocess.run(
        [sys.executable, "-m", "modelreg", "-R", str(a), "promote", "churn@1", "production"],
        env={**os.environ, "MODELREG_TEST_CRASH_AT": "after-swap"},
        capture_output=True,
        check=False,
    )
    assert killed.returncode == 137
    assert json.loads(run_modelreg("-R", a, "show", "churn@1", "--json").stdout)["stage"] == "development"
    refused = run_modelreg("-R", b, "promote", "churn@2", "production")  # b never saw it either
    assert refused.returncode == 4
    moved = run_modelreg("-R", a, "promote", "churn@2", "production", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["archived"] == []
    assert run_modelreg("-R", a, "verify").returncode == 0
    publish(a)
    git("pull", "-q", "--rebase", "origin", "main", cwd=b)
    assert run_modelreg("-R", b, "alias", "churn@2", "champion").returncode == 0
