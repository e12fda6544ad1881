"""One numbering across clones: K git clones of one registry, each a CI job with its own working
copy, register the same model at once (processes released together behind a barrier), then each
commits and runs the ordinary ``git pull --rebase && git push`` loop against a bare repository on
local disk. No pull ever stops on a conflict, and afterwards every clone holds every version under
its own number, verifies, and serves each version's bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import run_modelreg, start
from support.teams import GIT_ENV, PUBLISH_LOOP, finish_json, git, init_claims_registry, launch_together

CLONES = 5


@pytest.fixture(params=["s3", "git"])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path]:
    """A bare repository holding a claims registry, and the shared store of its blobs: the
    clones claim on that store (engine "s3", here a directory) or on the bare repository (engine
    "git", refs pushed to it)."""
    bare, shared, seed = tmp_path / "origin.git", tmp_path / "shared", tmp_path / "seed"
    shared.mkdir()
    git("init", "-q", "--bare", "-b", "main", bare, cwd=tmp_path)
    git("init", "-q", "-b", "main", seed, cwd=tmp_path)
    init_claims_registry(seed, str(shared))
    toml = seed / "modelreg.toml"
    text = toml.read_text().replace("push_on_register = false", "push_on_register = true")
    toml.write_text(text.replace('engine = "s3"', f'engine = "{request.param}"'))
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "a registry", cwd=seed)
    git("remote", "add", "origin", bare, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    return bare, shared


def clone(bare: Path, where: Path) -> Path:
    git("clone", "-q", bare, where, cwd=bare.parent)
    return where


def publish_together(roots: list[Path]) -> None:
    """Every clone commits and runs the pull --rebase && push loop, all at once."""
    env: dict[str, str | None] = {**GIT_ENV}
    procs = [start(["bash", "-c", PUBLISH_LOOP, "publish", str(i)], env=env, cwd=root) for i, root in enumerate(roots)]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"the publish loop ended with {proc.returncode} (3: a conflict): {out}{err}"


def test_parallel_registers_in_many_clones_merge_without_conflict(
    tmp_path: Path, origin: tuple[Path, Path], make_file: Callable[..., Path]
) -> None:
    bare, _shared = origin
    roots = [clone(bare, tmp_path / f"job{i}") for i in range(CLONES)]
    srcs = [make_file(tmp_path / f"cand{i}.bin", f"candidate {i} ".encode() * 100) for i in range(CLONES)]
    procs = launch_together(
        [["-R", root, "register", "churn", src, "--json"] for root, src in zip(roots, srcs, strict=True)],
        tmp_path / "go",
    )
    by_number = {r["version"]: r["digest"] for r in finish_json(procs)}
    assert sorted(by_number) == list(range(1, CLONES + 1))
    publish_together(roots)
    for root in [*roots, clone(bare, tmp_path / "late")]:
        git("pull", "-q", "--rebase", "origin", "main", cwd=root)
        assert git("status", "--porcelain", cwd=root) == ""
        listed = json.loads(run_modelreg("-R", root, "list", "churn", "--json").stdout)
        assert {v["version"]: v["digest"] for v in listed["versions"]} == by_number
        pulled = run_modelreg("-R", root, "pull")  # the other jobs' files, from the shared store
        assert pulled.returncode == 0, pulled.stderr
        verified = run_modelreg("-R", root, "verify", "--json")
        assert verified.returncode == 0, verified.stdout
        assert json.loads(verified.stdout)["findings"] == []
        for number in by_number:
            out = tmp_path / f"out-{root.name}-{number}"
            served = run_modelreg("-R", root, "get", f"churn@{number}", "--output", out)
            assert served.returncode == 0, served.stderr
        served_bytes = sorted((tmp_path / f"out-{root.name}-{n}").iterdir().__next__().read_bytes() for n in by_number)
        assert served_bytes == sorted(s.read_bytes() for s in srcs)


def test_a_second_wave_after_the_first_keeps_counting(
    tmp_path: Path, origin: tuple[Path, Path], make_file: Callable[..., Path]
) -> None:
    bare, _shared = origin
    roots = [clone(bare, tmp_path / f"job{i}") for i in range(3)]
    for wave in range(2):
        srcs = [make_file(tmp_path / f"w{wave}-{i}.bin", f"w{wave} {i}".encode()) for i in range(3)]
        procs = launch_together(
            [["-R", root, "register", "churn", src, "--json"] for root, src in zip(roots, srcs, strict=True)],
            tmp_path / f"go{wave}",
        )
        numbers = sorted(r["version"] for r in finish_json(procs))
        assert numbers == [3 * wave + 1, 3 * wave + 2, 3 * wave + 3]
        publish_together(roots)
    for root in roots:
        git("pull", "-q", "--rebase", "origin", "main", cwd=root)
        done = run_modelreg("-R", root, "verify")
        assert done.returncode == 0, done.stdout
        listed = json.loads(run_modelreg("-R", root, "list", "--json").stdout)
        assert listed["models"][0]["latest_version"] == 6
