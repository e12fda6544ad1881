"""Edge cases found in review: custom stages, argument rules, inputs, lineage, strict numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry

CUSTOM_TOML = """format_version = 1

[stages]
names = ["dev", "prod", "retired"]
default = "dev"
exclusive = ["prod"]
archive = "retired"
"""


def code(result: Any) -> int:
    return result.exit_code


def test_custom_stages_name_their_production_stage(cli: Any, tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "custom"
    Registry.init(root)
    (root / "modelreg.toml").write_text(CUSTOM_TOML)  # no `production` key: the one exclusive stage
    reg = Registry(root)
    assert reg.config.production == "prod"
    for n in (1, 2):
        reg.register("m", [make_file(tmp_path / f"w{n}.bin", f"w{n}")])
    reg.promote("m@1", "prod")
    reg.promote("m@2", "prod")
    got = json.loads(cli("get-production", "m", "--json", "-R", root).stdout)
    assert (got["version"], got["stage"]) == (2, "prod")
    assert reg.resolve("m@1").stage == "retired"
    assert json.loads(cli("rollback", "m", "--json", "-R", root).stdout)["version"] == 1
    # Two exclusive stages and no `production` key: get-production cannot guess.
    (root / "modelreg.toml").write_text(CUSTOM_TOML.replace('exclusive = ["prod"]', 'exclusive = ["prod", "dev"]'))
    result = cli("get-production", "m", "-R", root)
    assert code(result) == 2 and "[stages] production" in result.stderr


def test_latest_cannot_be_a_stage(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "r"
    Registry.init(root)
    (root / "modelreg.toml").write_text(CUSTOM_TOML.replace('"retired"]', '"retired", "latest"]'))
    result = cli("list", "-R", root)
    assert code(result) == 2 and "latest" in result.stderr


def test_diff_bare_second_argument(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    reg = Registry(reg_path)
    for n in (1, 2):
        reg.register("bar", [make_file(tmp_path / "b.bin", f"bar{n}")])
    reg.register("2", [make_file(tmp_path / "c.bin", "model named two")])  # an all-digit model name
    reg.promote("bar@1", "staging")
    same_model = json.loads(cli("diff", "bar@2", "1", "--json", "-R", reg_path).stdout)
    assert (same_model["b"]["name"], same_model["b"]["version"]) == ("bar", 1)
    by_stage = json.loads(cli("diff", "bar@2", "staging", "--json", "-R", reg_path).stdout)
    assert (by_stage["b"]["name"], by_stage["b"]["version"]) == ("bar", 1)
    other_model = json.loads(cli("diff", "bar@2", "2@1", "--json", "-R", reg_path).stdout)
    assert other_model["b"]["name"] == "2"


def test_registry_inside_an_input_directory_is_skipped(cli: Any, tmp_path: Path, make_file: Any) -> None:
    project = tmp_path / "project"
    make_file(project / "model.bin", "weights")
    make_file(project / "src" / "train.py", "print(1)")
    Registry.init(project / "registry")
    data = json.loads(cli("register", "m", str(project), "--json", "-R", project / "registry").stdout)
    assert [f["path"] for f in data["files"]] == ["model.bin", "src/train.py"]
    refused = cli("register", "m", str(project / "registry"), "-R", project / "registry")
    assert code(refused) == 2 and "registry itself" in refused.stderr


def test_parallel_init_creates_once(tmp_path: Path) -> None:
    target = tmp_path / "shared"
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "modelreg", "init", str(target), "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(6)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sum(o["created"] for o in outputs) == 1
    entries = [json.loads(line) for line in (target / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in entries] == ["init"]


def test_global_quiet_silences_messages(run: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    f = make_file(tmp_path / "w.bin", "w")
    for _ in range(2):
        assert run("register", "m", f, "-R", reg_path).returncode == 0
    Registry(reg_path).promote("m@1", "production")
    loud = run("promote", "m@2", "production", "-R", reg_path)
    assert "moved to archived" in loud.stderr
    quiet = run("-q", "promote", "m@1", "production", "-R", reg_path)
    assert quiet.returncode == 0 and quiet.stderr == "" and "Promoted" in quiet.stdout


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


def test_log_options_are_checked(cli: Any, reg_path: Path) -> None:
    far = cli("log", "--since", "99999999999d", "--json", "-R", reg_path)
    assert code(far) == 0 and [e["action"] for e in json.loads(far.stdout)["entries"]] == ["init"]
    bad = cli("log", "--action", "promot", "-R", reg_path)
    assert code(bad) == 2 and "promote" in bad.stderr


def test_untag_of_a_missing_key_warns(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    Registry(reg_path).register("m", [make_file(tmp_path / "w.bin", "w")], tags={"team": "a"})
    result = cli("annotate", "m@1", "--untag", "owner", "--json", "-R", reg_path)
    assert code(result) == 0 and json.loads(result.stdout)["changed"] is False
    assert "'owner' was not set" in result.stderr


def test_bad_paths_and_settings_are_usage_errors(
    cli: Any, reg_path: Path, tmp_path: Path, monkeypatch: Any, make_file: Any
) -> None:
    afile = make_file(tmp_path / "afile", "x")
    result = cli("init", str(afile / "sub"))
    assert code(result) == 2 and "Traceback" not in result.stderr
    monkeypatch.setenv("MODELREG_LOCK_TIMEOUT", "nan")
    assert code(cli("list", "-R", reg_path)) == 2


def test_export_of_a_version_without_its_blobs_creates_nothing(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path
) -> None:
    reg = Registry(reg_path)
    version, _ = reg.register("m", [make_file(tmp_path / "w.bin", "w")])
    reg.blobs.path(version.files[0].digest).unlink()
    dest = tmp_path / "out" / "nested"
    result = cli("export", "m@1", str(dest), "-R", reg_path)
    assert code(result) == 3 and "pull" in result.stderr
    assert not (tmp_path / "out").exists()
