"""``register`` without Typer records what the full CLI records, and prints what it prints.

``modelreg.cli.fast_path`` takes the plain forms of a register command line and calls the
function the Typer command calls (``cli/writes.py``). A write cannot be compared by running both
ways on one registry, so each way starts from the same copy of a template registry at the same
path, with the clock fixed: the exit code, stdout, stderr and every byte the command left in the
registry (its records, its audit log, its blobs) must be the same. Command lines are built by
hypothesis from their parts, odd ones included (those the fast path leaves to Typer).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from support.both_ways import VIA_TYPER, fast_answer
from typer.testing import CliRunner

from modelreg.cli import fast_path

FIXED_NOW = "2026-12-01T09:30:00.000000Z"


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``template``: a registry with one version of churn and a stage that asks for a reason; the
    inputs a command line names beside it."""
    from modelreg import Registry

    base = tmp_path_factory.mktemp("fastregister")
    reg, _ = Registry.init(base / "template")
    config = base / "template" / "modelreg.toml"
    config.write_text(config.read_text() + '\nrequire_reason = ["production"]\n')
    (base / "model.bin").write_bytes(b"weights v1")
    reg.register("churn", [base / "model.bin"], metrics={"auc": 0.91}, author="tester")
    (base / "model.bin").write_bytes(b"weights v2")
    (base / "other.bin").write_bytes(b"other weights")
    (base / "dir").mkdir()
    (base / "dir" / "a.bin").write_bytes(b"a")
    (base / "dir" / "b.txt").write_text("b")
    (base / "metrics.json").write_text(json.dumps({"loss": 0.25}))
    (base / "bad-metrics.json").write_text("[1, 2]")
    (base / "requirements.txt").write_text("numpy==2.1.0\n")
    yield base


def _argv(words: list[str], base: Path) -> list[str]:
    names = {
        "REG": base / "reg",
        "MODEL": base / "model.bin",
        "OTHER": base / "other.bin",
        "DIR": base / "dir",
        "MISSING": base / "missing.bin",
        "METRICS": base / "metrics.json",
        "BADMETRICS": base / "bad-metrics.json",
        "REQ": base / "requirements.txt",
    }
    return [str(names[w]) if w in names else w for w in words]


def _fresh(base: Path) -> Path:
    reg = base / "reg"
    shutil.rmtree(reg, ignore_errors=True)
    shutil.copytree(base / "template", reg, symlinks=True)
    return reg


def _state(reg: Path) -> dict[str, object]:
    """Every file the registry keeps (not its caches and lock files), by relative path; of the
    audit log's events, all but their time (the clock's), transaction id (random) and so their id and
    the next one's link to it."""
    found: dict[str, object] = {}
    for path in sorted(reg.rglob("*")):
        rel = path.relative_to(reg).as_posix()
        if path.is_file() and not rel.startswith((".modelreg/cache/", ".modelreg/locks/")):
            found[rel] = path.read_bytes()
    found["audit.jsonl"] = [
        {k: v for k, v in json.loads(line).items() if k not in ("txn", "time", "id", "prev")}
        for line in (reg / "audit.jsonl").read_text().splitlines()
    ]
    return found


BEFORE = [["--json"], ["-q"], ["-R", "REG"], ["--registry=REG"]]
NAMES = ["churn", "fraud", "fraud-2", "Not A Name", "x" * 101]
PATHS = ["MODEL", "OTHER", "DIR", "MISSING"]
OPTIONS = [
    ["-m", "auc=0.93"],
    ["--metric", "loss=1e-3"],
    ["--metric=f1=0.5"],
    ["-m", "auc=nan"],
    ["-m", "auc= 1"],
    ["-m", "auc"],
    ["--param", "lr=0.1"],
    ["-p", "depth=7"],
    ["-t", "team=risk"],
    ["--tag", "owner"],
    ["-d", "a gradient boosted model"],
    ["--description", "--json"],
    ["--dataset", "s3://bucket/train.parquet"],
    ["--stage", "staging"],
    ["--stage", "production"],
    ["--stage", "nosuch"],
    ["--reason", "weekly retrain"],
    ["--author", "alice"],
    ["--author", "   "],
    ["--link"],
    ["--push"],
    ["--metrics-file", "METRICS"],
    ["--metrics-file", "BADMETRICS"],
    ["--metrics-file", "MISSING"],
    ["--env-file", "REQ"],
    ["--env-file", "MISSING"],
    ["--sign", "MISSING"],
    ["--python", "MISSING"],
    ["--json"],
    ["-q"],
    ["-R", "REG"],
]
# What only the full CLI reads, or reads its own way.
ODD = [[""], ["--"], ["-x"], ["--help"], ["-mauc=1"], ["--json=1"], ["--link=yes"], ["--no-link"], ["-qR", "REG"]]


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], bool]:
    before = draw(st.lists(st.sampled_from(BEFORE), max_size=2))
    name = draw(st.sampled_from(NAMES))
    paths = [[p] for p in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2))]
    options = draw(st.lists(st.sampled_from(OPTIONS), max_size=3))
    odd = draw(st.sampled_from([[]] * 4 + [[o] for o in ODD]))  # one in four has one
    after = draw(st.permutations([*paths, *options, *odd]))
    registry = [] if any("REG" in " ".join(g) for g in before + options) else [["-R", "REG"]]
    words = [w for g in before for w in g] + ["register", name] + [w for g in [*after, *registry] for w in g]
    return words, not odd


@pytest.fixture(scope="module")
def typer_app() -> Any:
    from modelreg.cli import build_app

    return build_app()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command_lines())
@example((["register", "fraud", "MODEL", "DIR", "-m", "auc=0.9", "-t", "team=risk", "-R", "REG"], True))
@example((["--json", "register", "fraud", "MODEL", "--stage", "production", "-R", "REG"], True))
@example((["register", "churn", "MODEL", "--stage", "production", "--reason", "ok", "--json", "-R", "REG"], True))
@example((["-q", "register", "churn", "MISSING", "--registry=REG"], True))
def test_a_register_without_typer_records_and_prints_what_typer_does(
    place: Path, typer_app: Any, monkeypatch: pytest.MonkeyPatch, line: tuple[list[str], bool]
) -> None:
    words, plain = line
    argv = _argv(words, place)
    for name in ("MODELREG_REGISTRY", "MODELREG_DEBUG", "_MODELREG_COMPLETE", "MODELREG_AUTHOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("modelreg.ops.capture.lineage.now_utc", lambda: FIXED_NOW)
    monkeypatch.chdir(place)
    if fast_path.parse(argv) is None:
        assert not plain, f"a plain form was left to Typer: {argv}"
        event("left to Typer")
        return
    reg = _fresh(place)
    quick = fast_answer(argv)
    event(f"exit {quick[0]}")
    quick_state = _state(reg)
    reg = _fresh(place)
    full = CliRunner().invoke(typer_app, argv)
    assert quick == (full.exit_code, full.stdout, full.stderr), argv
    assert quick_state == _state(reg), argv
    assert not isinstance(full.exception, Exception) or isinstance(full.exception, SystemExit), full.exception


def test_the_entry_point_registers_without_typer(place: Path, tmp_path: Path) -> None:
    """As real processes: ``python -m modelreg register`` loads no Typer, and prints what the
    Typer app prints from the same registry (the line names the version and its file set)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MODELREG_REGISTRY", "MODELREG_DEBUG")}
    argv = _argv(["register", "fraud", "MODEL", "DIR", "-m", "auc=0.9", "-R", "REG"], place)
    runs = []
    for command in ([sys.executable, "-X", "importtime", "-m", "modelreg"], [sys.executable, "-c", VIA_TYPER]):
        _fresh(place)
        runs.append(subprocess.run([*command, *argv], capture_output=True, text=True, env=env, cwd=tmp_path))
    quick, full = runs
    loaded = {line.rsplit("|", 1)[1].strip() for line in quick.stderr.splitlines() if line.startswith("import time:")}
    assert not {"typer", "click"} & loaded
    assert (quick.returncode, quick.stdout) == (full.returncode, full.stdout) == (0, full.stdout)
    assert full.stdout.startswith("Registered fraud@1 (") and full.stderr == ""
    shown = subprocess.run(
        [sys.executable, "-m", "modelreg", "show", "fraud@1", "--json", "-R", argv[-1]],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    version = json.loads(shown.stdout)
    assert sorted(f["path"] for f in version["files"]) == ["a.bin", "b.txt", "model.bin"]
    assert version["metrics"] == {"auc": 0.9}
