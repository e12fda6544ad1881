"""Choosing a version (issue 14): aliases, relative and time references, queries, `get`, the
per-model history view and the training environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelreg import Registry, UsageError
from modelreg.ops.queries.query import parse_condition
from modelreg.records.refs import parse_ref

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def js(cli: Any, *args: Any) -> Any:
    out = cli(*args, "--json")
    assert out.exit_code == 0, out.stderr
    return json.loads(out.stdout)


def code(cli: Any, *args: Any) -> int:
    out = cli(*args)
    assert "Traceback" not in out.stderr
    return int(out.exit_code)


@pytest.fixture
def history(cli: Any, reg_path: Path, tmp_path: Path) -> Path:
    """churn@1..5 (v3 without metrics); production 2 -> 4 -> 1; champion 3 -> 5."""
    for i in range(1, 6):
        metric = [] if i == 3 else ["--metric", f"auc={0.80 + i / 100:.2f}"]
        js(cli, "register", "churn", write_file(tmp_path / f"w{i}.bin", f"weights {i}"), *metric, "-R", reg_path)
    for v in (2, 4, 1):
        js(cli, "promote", f"churn@{v}", "production", "-R", reg_path)
    js(cli, "alias", "churn@3", "champion", "-R", reg_path)
    js(cli, "alias", "churn@5", "champion", "-R", reg_path)
    return reg_path


def version_of(cli: Any, reg: Path, ref: str) -> int:
    return int(js(cli, "show", ref, "-R", reg)["version"])


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("churn@latest", 5),
        ("churn@3", 3),
        ("churn@production", 1),
        ("churn@champion", 5),
        ("churn@latest~1", 4),
        ("churn~2", 3),
        ("churn@4~3", 1),
        ("churn@production~1", 4),
        ("churn@production~2", 2),
        ("churn@champion~1", 3),
        ("churn@archived~1", 2),
        ("churn@production~1~1", 2),
    ],
)
def test_every_reference_form_names_the_right_version(cli: Any, history: Path, ref: str, expected: int) -> None:
    assert version_of(cli, history, ref) == expected


def test_digest_references_and_their_steps(cli: Any, history: Path) -> None:
    digest = js(cli, "show", "churn@4", "-R", history)["digest"]
    assert version_of(cli, history, f"churn@{digest[:15]}") == 4
    assert version_of(cli, history, f"churn@{digest[:15]}~1") == 3


def test_time_references_replay_the_history(cli: Any, history: Path) -> None:
    entries = js(cli, "log", "churn", "-R", history)["entries"]
    promotions = [e for e in entries if e["action"] == "promote"]
    # Just after each promotion, production named that version.
    for entry, expected in zip(promotions, (2, 4, 1), strict=True):
        at = entry["time"]
        assert version_of(cli, history, f"churn@production@{{{at}}}") == expected
    before = entries[0]["time"]  # the first register: nothing in production yet
    assert code(cli, "show", f"churn@production@{{{before}}}", "-R", history) == 3
    # Combined: the holder before the one that held production after the second promotion.
    assert version_of(cli, history, f"churn@production@{{{promotions[1]['time']}}}~1") == 2
    # latest at a moment: the newest version registered by then.
    third_register = [e for e in entries if e["action"] == "register"][2]["time"]
    assert version_of(cli, history, f"churn@{{{third_register}}}") == 3
    # A day before the registry existed, and a relative time in the future of nothing.
    day_before = (datetime.fromisoformat(before.replace("Z", "+00:00")) - timedelta(days=1)).date().isoformat()
    assert code(cli, "show", f"churn@{{{day_before}}}", "-R", history) == 3
    assert version_of(cli, history, "churn@production@{0s}") == 1
    assert code(cli, "show", "churn@production@{1000w}", "-R", history) == 3


@pytest.mark.parametrize(
    "ref",
    [
        "churn@",
        "churn@1@2",
        "churn@{yesterday}",
        "churn@production@{}",
        "churn@latest~x",
        "churn@0",
        "churn@-1",
        "churn@sha256:abc",
        "churn@Champion",
        "churn@{3d",
        "Churn@1",
        "churn@production~99999999",
    ],
)
def test_malformed_references_exit_2(cli: Any, history: Path, ref: str) -> None:
    out = cli("show", ref, "-R", history)
    assert out.exit_code == 2, (ref, out.stderr)
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "ref",
    [
        "churn@9",
        "churn@nowhere",
        "churn@production~3",
        "churn@champion~2",
        "churn@latest~5",
        "churn~9",
        "churn@staging",
        "ghost@1",
        "churn@1~1",
    ],
)
def test_references_that_name_nothing_exit_3(cli: Any, history: Path, ref: str) -> None:
    assert code(cli, "show", ref, "-R", history) == 3, ref


def test_get_hands_out_any_reference(cli: Any, history: Path, tmp_path: Path) -> None:
    data = js(cli, "get", "churn@champion~1", "-R", history)
    assert data["version"] == 3 and Path(data["path"], "w3.bin").read_text() == "weights 3"
    out = cli("get", "churn@production~1", "--path", "-R", history)
    assert out.exit_code == 0 and Path(out.stdout.strip(), "w4.bin").read_text() == "weights 4"
    dest = tmp_path / "canary"
    js(cli, "get", "churn@champion", "--output", dest, "-R", history)
    assert sorted(p.name for p in dest.iterdir()) == ["w5.bin"]
    assert code(cli, "get", "churn@nowhere", "-R", history) == 3
    # get-production is get of the production stage.
    assert js(cli, "get-production", "churn", "-R", history)["version"] == version_of(cli, history, "churn@production")


def test_aliases_set_move_delete_list_and_show(cli: Any, history: Path) -> None:
    assert js(cli, "alias", "churn", "-R", history) == {"name": "churn", "aliases": {"champion": 5}}
    moved = js(cli, "alias", "churn@production", "champion", "--reason", "back to prod", "-R", history)
    assert moved == {"name": "churn", "alias": "champion", "version": 1, "previous": 5, "changed": True, "hooks": []}
    again = js(cli, "alias", "churn@1", "champion", "-R", history)
    assert again["changed"] is False
    js(cli, "alias", "churn@2", "eu-canary", "-R", history)
    assert js(cli, "show", "churn@1", "-R", history)["aliases"] == ["champion"]
    models = js(cli, "list", "-R", history)["models"]
    assert models[0]["aliases"] == {"champion": 1, "eu-canary": 2}
    assert js(cli, "alias", "churn", "eu-canary", "--delete", "-R", history)["previous"] == 2
    assert code(cli, "alias", "churn", "eu-canary", "--delete", "-R", history) == 3
    actions = [(e["action"], e.get("alias"), e["version"]) for e in js(cli, "log", "churn", "-R", history)["entries"]]
    assert actions[-3:] == [("alias", "champion", 1), ("alias", "eu-canary", 2), ("alias", "eu-canary", None)]
    # An alias may not be a stage, latest or a number, and follows the name rule.
    for bad in ("production", "latest", "42", "Champion", "-x"):
        assert code(cli, "alias", "churn@1", bad, "-R", history) == 2, bad
    assert js(cli, "verify", "-R", history)["ok"] is True


def test_queries_over_metrics_params_tags_stage_and_aliases(cli: Any, history: Path) -> None:
    def versions(*args: str) -> list[int]:
        return [v["version"] for v in js(cli, "list", "churn", *args, "-R", history)["versions"]]

    assert versions("--where", "metrics.auc>=0.83") == [4, 5]
    assert versions("--where", "metrics.auc!=0.81") == [2, 4, 5]  # v3 has no auc: no match, even for !=
    assert versions("--sort", "-metrics.auc") == [5, 4, 2, 1, 3]  # the one without the metric last
    assert versions("--sort", "metrics.auc", "--limit", "2") == [1, 2]
    assert versions("--where", "alias=champion") == [5]
    assert versions("--where", "stage=archived", "--sort", "-version") == [4, 2]
    assert versions("--where", "version>3", "--where", "metrics.auc<0.9") == [4, 5]
    assert versions("--where", "metrics.nothing>0") == []
    for bad in ("metrics.auc", "auc>=1", "metrics.auc>=", "alias>x", "stage=~"):
        out = cli("list", "churn", "--where", bad, "-R", history)
        assert out.exit_code == (2 if bad != "stage=~" else 0), (bad, out.stderr)
    assert code(cli, "list", "--where", "metrics.auc>1", "-R", history) == 2  # a query needs NAME


def test_params_compare_as_numbers_when_both_are_numbers(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    for i, c in enumerate(("0.1", "10", "9", "abc")):
        js(cli, "register", "m", write_file(tmp_path / f"{i}.bin", c), "--param", f"C={c}", "-R", reg_path)
    got = [v["params"]["C"] for v in js(cli, "list", "m", "--where", "params.C>1", "-R", reg_path)["versions"]]
    assert got == ["10", "9"]
    got = [v["params"]["C"] for v in js(cli, "list", "m", "--sort", "params.C", "-R", reg_path)["versions"]]
    assert got == ["0.1", "9", "10", "abc"]


def git(*args: Any, cwd: Path) -> str:
    out = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_an_alias_and_a_register_on_two_git_branches_merge_cleanly(cli: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "user.email", "t@example.com", cwd=repo)
    git("config", "user.name", "t", cwd=repo)
    reg = repo / "registry"
    js(cli, "init", reg)
    js(cli, "register", "churn", write_file(tmp_path / "a.bin", "a"), "-R", reg)
    js(cli, "register", "churn", write_file(tmp_path / "b.bin", "b"), "-R", reg)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "two versions", cwd=repo)
    git("checkout", "-qb", "aliasing", cwd=repo)
    js(cli, "alias", "churn@1", "champion", "-R", reg)
    git("commit", "-qam", "champion", cwd=repo)
    git("checkout", "-q", "main", cwd=repo)
    js(cli, "register", "churn", write_file(tmp_path / "c.bin", "c"), "-R", reg)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v3", cwd=repo)
    merged = subprocess.run(
        ["git", "merge", "--no-edit", "aliasing"], cwd=repo, capture_output=True, text=True, check=False
    )
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert js(cli, "show", "churn@champion", "-R", reg)["version"] == 1
    assert js(cli, "show", "churn", "-R", reg)["latest_version"] == 3
    assert js(cli, "show", "churn@champion@{0s}", "-R", reg)["version"] == 1  # from the merged history
    assert js(cli, "verify", "-R", reg)["ok"] is True


def test_the_history_view_follows_checkouts_merges_and_other_writers(cli: Any, run: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "user.email", "t@example.com", cwd=repo)
    git("config", "user.name", "t", cwd=repo)
    reg = repo / "registry"
    js(cli, "init", reg)
    js(cli, "register", "churn", write_file(tmp_path / "a.bin", "a"), "-R", reg)
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "one", cwd=repo)
    for i in range(3):
        js(cli, "register", "other", write_file(tmp_path / f"o{i}.bin", f"o{i}"), "-R", reg)
    js(cli, "promote", "churn@1", "production", "-R", reg)
    assert len(js(cli, "log", "churn", "-R", reg)["entries"]) == 2  # the view is built now
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "two", cwd=repo)
    # A checkout of the older commit rewrites the log: the view must not show the promotion.
    git("checkout", "-q", "HEAD~1", cwd=repo)
    assert [e["action"] for e in js(cli, "log", "churn", "-R", reg)["entries"]] == ["register"]
    assert code(cli, "show", "churn@production~0", "-R", reg) == 3
    git("checkout", "-q", "main", cwd=repo)
    assert [e["action"] for e in js(cli, "log", "churn", "-R", reg)["entries"]] == ["register", "promote"]
    # Another process appends: the next reader scans only the new tail and sees it.
    assert run("annotate", "churn@1", "-d", "x", "-R", reg).returncode == 0
    assert js(cli, "log", "churn", "-R", reg)["entries"][-1]["action"] == "annotate"
    # A planted view (no MAC of this machine) is ignored.
    view = reg / ".modelreg" / "cache" / "history"
    for f in view.iterdir():
        f.write_bytes(b"\0" * 40)
    assert len(js(cli, "log", "churn", "-R", reg)["entries"]) == 3


def make_venv(where: Path, *, pip: bool) -> Path:
    args = [sys.executable, "-m", "venv", str(where)] + ([] if pip else ["--without-pip"])
    subprocess.run(args, check=True, capture_output=True)
    return where


@pytest.mark.slow
def test_the_training_environment_is_captured_and_diffed(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    with_pip = make_venv(tmp_path / "train-env", pip=True)
    bare = make_venv(tmp_path / "bare-env", pip=False)
    pip_version = subprocess.run(
        [with_pip / "bin" / "python", "-c", "import importlib.metadata as m; print(m.version('pip'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    reqs = write_file(tmp_path / "requirements.txt", f"pip=={pip_version}\n")
    model = write_file(tmp_path / "model.bin", "w")
    # From the active virtual environment, read without running it.
    out = run("register", "m", model, "--env-file", reqs, "-R", reg_path, "--json", env={"VIRTUAL_ENV": str(with_pip)})
    assert out.returncode == 0, out.stderr
    v1 = json.loads(out.stdout)
    env1 = v1["lineage"]["environment"]
    assert env1["packages"]["pip"] == pip_version
    assert env1["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env1["source"] == f"virtualenv:{with_pip}"
    assert "environment/requirements.txt" in {f["path"] for f in v1["files"]}
    # From an interpreter given explicitly (run in isolated mode to ask it).
    v2 = js(cli, "register", "m", model, "--python", bare / "bin" / "python", "-R", reg_path)
    assert "pip" not in v2["lineage"]["environment"]["packages"]
    diff = js(cli, "diff", "m@1", "2", "-R", reg_path)
    assert diff["environment"]["packages"]["removed"]["pip"] == pip_version
    human = cli("diff", "m@1", "2", "-R", reg_path)
    assert "environment" in human.stdout and "pip" in human.stdout
    # The environment file is served with the model.
    served = Path(js(cli, "get", "m@1", "-R", reg_path)["path"])
    assert (served / "environment" / "requirements.txt").read_text() == f"pip=={pip_version}\n"
    # No environment active: nothing recorded; a --python that is not Python: exit 2.
    v3 = js(cli, "register", "m", model, "-R", reg_path)
    assert "environment" not in v3["lineage"]
    assert code(cli, "register", "m", model, "--python", reqs, "-R", reg_path) == 2


# -- properties --------------------------------------------------------------------------------------

names = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,20}", fullmatch=True)
labels = st.from_regex(r"[a-z][a-z0-9_-]{0,15}", fullmatch=True).filter(lambda s: s != "latest")
bases = st.one_of(
    st.just("latest"),
    st.integers(min_value=1, max_value=10**9).map(str),
    labels,
    st.from_regex(r"sha256:[0-9a-f]{8,64}", fullmatch=True),
)
moments = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ),
    st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2100, 1, 1).date()).map(str),
)


@settings(max_examples=300, deadline=None)
@given(names, bases, moments, st.lists(st.integers(min_value=0, max_value=50), max_size=3))
def test_composed_references_round_trip(name: str, base: str, moment: str | None, steps: list[int]) -> None:
    text = f"{name}@{base}" + ("@{" + moment + "}" if moment else "") + "".join(f"~{n}" for n in steps)
    ref = parse_ref(text)
    assert ref.name == name and ref.back == sum(steps)
    assert parse_ref(str(ref)) == ref
    assert (ref.at is None) is (moment is None)
    if moment and "T" in moment:
        assert ref.at == moment


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_a_usage_error(text: str) -> None:
    for candidate in (text, f"m@{text}", f"m@latest@{{{text}}}", f"m~{text}"):
        try:
            ref = parse_ref(candidate)
        except UsageError as exc:
            assert exc.exit_code == 2
            continue
        assert parse_ref(str(ref)) == replace(ref, explicit=True)  # a bare NAME prints as NAME@latest


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["metrics.auc", "params.C", "tags.owner", "stage", "version", "created_at", "created_by"]),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "=="]),
    st.text(alphabet=st.characters(blacklist_characters="!=<>"), min_size=1, max_size=20).filter(str.strip),
)
def test_where_expressions_parse_back_to_their_parts(key: str, op: str, value: str) -> None:
    condition = parse_condition(f"{key}{op}{value}")
    assert (condition.key, condition.op, condition.value) == (key, op, value.strip())


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_where_text_parses_or_is_a_usage_error(text: str) -> None:
    try:
        parse_condition(text)
    except UsageError as exc:
        assert exc.exit_code == 2


def test_registry_api_for_choosing(tmp_path: Path) -> None:
    reg, _ = Registry.init(tmp_path / "reg")
    for i in (1, 2):
        reg.register("m", [write_file(tmp_path / f"{i}.bin", str(i))], metrics={"acc": i / 10})
    reg.alias("m@1", "champion")
    assert reg.aliases("m") == {"champion": 1}
    assert reg.resolve("m@champion").aliases == ("champion",)
    assert [v.version for v in reg.list_versions("m", sort="-metrics.acc")] == [2, 1]
    assert reg.delete_alias("m", "champion").previous == 1
    assert os.fspath(reg.root)
