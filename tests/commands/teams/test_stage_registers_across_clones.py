"""``register --stage`` and ``annotate`` in many clones of one registry with a claim engine: what
each clone writes is its own (a version's manifest, its ``started/<n>.yaml``), so the ordinary
``git pull --rebase && git push`` of every clone goes through without a conflict, and every clone
then sees each version in the stage it was registered in. A register into an exclusive stage is
a pointer change: of two clones registering into production at once, one is refused (exit 4)
and its number stays claimed and unused, never two holders."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import run_modelreg
from support.teams import clone_of, finish_json, git, launch_together, publish, publish_together, team_origin

CLONES = 4


@pytest.fixture(params=["git", "s3"])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A bare repository holding a claims registry with no model yet (engine "s3" on a directory)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    return team_origin(tmp_path, request.param, str(shared))


def shown(root: Path, ref: str) -> dict[str, object]:
    done = run_modelreg("-R", root, "show", ref, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def pull_and_verify(root: Path) -> dict[str, object]:
    git("pull", "-q", "--rebase", "origin", "main", cwd=root)
    assert git("status", "--porcelain", cwd=root) == ""
    pulled = run_modelreg("-R", root, "pull")  # the other clones' files, from the shared store
    assert pulled.returncode == 0, pulled.stderr
    done = run_modelreg("-R", root, "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_clones_registering_into_staging_at_once_merge_without_conflict(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    roots = [clone_of(origin, tmp_path / f"job{i}") for i in range(CLONES)]
    srcs = [make_file(tmp_path / f"c{i}.bin", f"candidate {i}".encode()) for i in range(CLONES)]
    # Half into staging, half into the default stage: the model is created by all at once.
    stages = ["staging" if i % 2 == 0 else "development" for i in range(CLONES)]
    procs = launch_together(
        [
            ["-R", root, "register", "churn", src, "--stage", stage, "--json"]
            for root, src, stage in zip(roots, srcs, stages, strict=True)
        ],
        tmp_path / "go",
    )
    results = finish_json(procs)
    expected = {r["version"]: stage for r, stage in zip(results, stages, strict=True)}
    assert sorted(expected) == list(range(1, CLONES + 1))
    publish_together(roots)
    for root in [*roots, clone_of(origin, tmp_path / "late")]:
        report = pull_and_verify(root)
        assert report["findings"] == []
        assert {n: shown(root, f"churn@{n}")["stage"] for n in expected} == expected
        model = shown(root, "churn")
        assert sorted(model["stages"]["staging"]) == sorted(n for n, s in expected.items() if s == "staging")  # type: ignore[index]


def test_annotations_and_stage_registers_of_one_model_merge_without_conflict(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    seed = clone_of(origin, tmp_path / "first")
    for i in (1, 2):
        done = run_modelreg("-R", seed, "register", "churn", make_file(tmp_path / f"v{i}.bin", f"v{i}".encode()))
        assert done.returncode == 0, done.stderr
    assert publish(seed).returncode == 0
    a, b, c = (clone_of(origin, tmp_path / n) for n in "abc")
    src = make_file(tmp_path / "new.bin", b"new")
    procs = launch_together(
        [
            ["-R", a, "annotate", "churn@1", "--tag", "checked=a", "--json"],
            ["-R", b, "annotate", "churn@2", "--tag", "checked=b", "--json"],
            ["-R", a, "annotate", "churn", "--description", "the churn model", "--json"],
            ["-R", c, "register", "churn", src, "--stage", "staging", "--json"],
        ],
        tmp_path / "go",
    )
    finish_json(procs)
    publish_together([a, b, c])
    for root in (a, b, c):
        assert pull_and_verify(root)["findings"] == []
        assert shown(root, "churn@1")["tags"] == {"checked": "a"}
        assert shown(root, "churn@2")["tags"] == {"checked": "b"}
        assert shown(root, "churn@3")["stage"] == "staging"
        assert shown(root, "churn")["description"] == "the churn model"


def test_of_two_clones_registering_into_production_at_once_one_is_refused(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    a, b = clone_of(origin, tmp_path / "a"), clone_of(origin, tmp_path / "b")
    srcs = [make_file(tmp_path / f"p{i}.bin", f"prod {i}".encode()) for i in range(2)]
    procs = launch_together(
        [
            ["-R", root, "register", "churn", src, "--stage", "production"]
            for root, src in zip((a, b), srcs, strict=True)
        ],
        tmp_path / "go",
    )
    outcomes = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert sorted(code for code, _ in outcomes) == [0, 4], outcomes
    refused = next(err for code, err in outcomes if code == 4)
    assert "modelreg sync" in refused
    winner, loser = (a, b) if outcomes[0][0] == 0 else (b, a)
    assert git("status", "--porcelain", cwd=loser) == ""  # the refused register changed nothing
    assert publish(winner).returncode == 0
    git("pull", "-q", "--rebase", "origin", "main", cwd=loser)
    again = run_modelreg("-R", loser, "register", "churn", srcs[0], "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["version"] == 3  # the refused register's number is never handed out
    assert publish(loser).returncode == 0
    for root in (a, b):
        report = pull_and_verify(root)
        # The refused register's number stays claimed and unused, reported as such.
        (finding,) = report["findings"]  # type: ignore[misc]
        assert finding["severity"] == "warning" and "abandoned" in finding["message"]
        model = shown(root, "churn")
        holder = model["stages"]["production"]  # type: ignore[index]
        assert holder in (1, 2) and f"churn@{3 - holder}" in finding["message"]
        assert [v["version"] for v in model["versions"]] == [holder, 3]  # type: ignore[attr-defined]
        (unused,) = model["unused_claims"]  # type: ignore[misc]
        assert unused["version"] == 3 - holder and unused["claimed_by"]


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        ("format_version: 1\nname: churn\nversion: 1\nstage: production\n", 5),  # a story the log does not tell
        ("format_version: 1\nname: other\nversion: 1\nstage: staging\n", 5),  # names another version
        ("[not, a, mapping]\n", 5),
    ],
)
def test_a_started_stage_file_that_does_not_match_the_history_fails_verify(
    tmp_path: Path, make_file: Callable[..., Path], edit: str, code: int
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    root = clone_of(team_origin(tmp_path, "s3", str(shared)), tmp_path / "clone")
    done = run_modelreg("-R", root, "register", "churn", make_file(tmp_path / "m.bin", b"w"), "--stage", "staging")
    assert done.returncode == 0, done.stderr
    started = root / "models" / "churn" / "started" / "1.yaml"
    assert started.is_file() and not (root / "models" / "churn" / "stages.yaml").exists()
    assert "staging" not in (root / "models" / "churn" / "model.yaml").read_text()
    started.write_text(edit)
    assert run_modelreg("-R", root, "verify").returncode == code
