"""One numbering across clones: K git clones of one registry, each a CI job with its own working
copy, register the same model at once (processes released together behind a barrier), then each
commits and runs the ordinary ``git pull --rebase && git push`` loop against a bare repository on
local disk. No pull ever stops on a conflict, and afterwards every clone holds every version under
its own number, verifies, and serves each version's bytes.

The engines: the git remote itself ("git"), the object-store engine on a real S3 server
(SeaweedFS on loopback, conditional writes over HTTP: "seaweedfs"), and the same engine on a
directory store ("directory")."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import run_modelreg
from support.s3server import SeaweedS3
from support.teams import (
    clone_of,
    finish_json,
    git,
    holds_every_version,
    launch_together,
    publish_together,
    team_origin,
)

CLONES = 5
BUCKET = "modelreg-race"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture(params=["directory", "git", pytest.param("seaweedfs", marks=pytest.mark.slow)])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A bare repository holding a claims registry whose blobs go to a shared store, and whose
    numbers are claimed on that store (directory, SeaweedFS) or on the bare repository (git)."""
    if request.param == "seaweedfs":
        server: SeaweedS3 = request.getfixturevalue("aws_env")
        url = f"s3://{BUCKET}/race-{secrets.token_hex(6)}"
        return team_origin(tmp_path, "s3", url, server.endpoint_url)
    shared = tmp_path / "shared"
    shared.mkdir()
    return team_origin(tmp_path, "git" if request.param == "git" else "s3", str(shared))


def test_parallel_registers_in_many_clones_merge_without_conflict(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    roots = [clone_of(origin, tmp_path / f"job{i}") for i in range(CLONES)]
    srcs = [make_file(tmp_path / f"cand{i}.bin", f"candidate {i} ".encode() * 100) for i in range(CLONES)]
    procs = launch_together(
        [["-R", root, "register", "churn", src, "--json"] for root, src in zip(roots, srcs, strict=True)],
        tmp_path / "go",
    )
    by_number = {r["version"]: r["digest"] for r in finish_json(procs)}
    assert sorted(by_number) == list(range(1, CLONES + 1))  # dense, each number one version
    publish_together(roots)
    for root in [*roots, clone_of(origin, tmp_path / "late")]:
        git("pull", "-q", "--rebase", "origin", "main", cwd=root)
        assert git("status", "--porcelain", cwd=root) == ""
        findings, served = holds_every_version(root, "churn", by_number)
        assert findings == []
        assert sorted(served) == sorted(s.read_bytes() for s in srcs)


def test_a_second_wave_after_the_first_keeps_counting(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    roots = [clone_of(origin, tmp_path / f"job{i}") for i in range(3)]
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
