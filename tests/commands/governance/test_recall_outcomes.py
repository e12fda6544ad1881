"""What a recall (`remove`) leaves behind: production said to be empty, files never handed out,
and steps back (`~N`) that never land on a removed version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelreg import Registry
from modelreg.errors import ModelregError


def _registry(root: Path, versions: int, make_file: Any) -> Registry:
    reg, _ = Registry.init(root)
    for n in range(1, versions + 1):
        reg.register("churn", [make_file(root.parent / "m.bin", f"weights {n}")])
    return reg


def test_removing_the_production_holder_says_production_is_empty(tmp_path: Path, make_file: Any, cli: Any) -> None:
    reg = _registry(tmp_path / "reg", 3, make_file)
    reg.promote("churn@1", "production")
    reg.promote("churn@2", "production")
    result = cli("remove", "churn@2", "--reason", "training data leak", "-R", reg.root)
    assert result.exit_code == 0, result.output
    assert "Removed churn@2 (was production)" in result.stdout
    assert result.stderr.strip() == (
        "warning: production is now empty; `modelreg rollback churn` brings back the previous holder (churn@1)"
    )
    # The library's result carries the same warning; --json carries it in the document too.
    reg.promote("churn@3", "production")
    direct = reg.remove("churn@3", reason="same leak")
    assert direct.warnings == (
        "production is now empty; `modelreg rollback churn` brings back the previous holder (churn@1)",
    )
    # ... and what it names does what it says.
    back = cli("rollback", "churn", "-R", reg.root, "--json")
    assert back.exit_code == 0, back.output
    assert json.loads(back.stdout)["version"] == 1


def test_no_warning_when_production_still_has_a_holder_or_was_not_involved(
    tmp_path: Path, make_file: Any, cli: Any
) -> None:
    reg = _registry(tmp_path / "reg", 3, make_file)
    reg.promote("churn@1", "production")
    result = cli("remove", "churn@3", "--reason", "bad run", "-R", reg.root, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == []
    assert "warning" not in result.stderr


def test_the_only_production_version_removed_has_nothing_to_roll_back_to(
    tmp_path: Path, make_file: Any, cli: Any
) -> None:
    reg = _registry(tmp_path / "reg", 1, make_file)
    reg.promote("churn@1", "production")
    result = cli("remove", "churn@1", "--reason", "recall", "-R", reg.root, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == [
        "production is now empty: churn has no earlier production version to roll back to"
    ]


def test_get_of_a_removed_version_is_refused_in_every_output_mode(tmp_path: Path, make_file: Any, run: Any) -> None:
    reg = _registry(tmp_path / "reg", 2, make_file)
    reg.remove("churn@1", reason="licence withdrawn")
    for extra in ([], ["--json"], ["--path"], ["--output", str(tmp_path / "out")]):
        proc = run("get", "churn@1", *extra, "-R", reg.root)
        assert proc.returncode == 4, (extra, proc.stdout, proc.stderr)
        assert proc.stdout == ""
        if "--json" in extra:
            assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "removed"
        assert "its files are not served" in proc.stderr
    assert not (tmp_path / "out").exists()
    # show still tells the story of the removed version.
    shown = run("show", "churn@1", "-R", reg.root)
    assert shown.returncode == 0 and "REMOVED" in shown.stdout and "licence withdrawn" in shown.stdout
    assert run("get", "churn@2", "--json", "-R", reg.root).returncode == 0


def test_production_steps_back_over_removed_versions(tmp_path: Path, make_file: Any, cli: Any) -> None:
    reg = _registry(tmp_path / "reg", 4, make_file)
    for n in (1, 2, 3, 4):
        reg.promote(f"churn@{n}", "production")
    reg.remove("churn@3", reason="recall")
    reg.remove("churn@2", reason="recall")
    shown = cli("show", "churn@production~1", "--json", "-R", reg.root)
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["version"] == 1
    assert cli("show", "churn@production~2", "-R", reg.root).exit_code == 3


# A model's production history as operations: promote version N, remove version N, roll back.
OPS = st.lists(
    st.tuples(st.sampled_from(["promote", "remove", "rollback"]), st.integers(min_value=1, max_value=4)),
    min_size=1,
    max_size=10,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_production_steps_never_name_a_removed_version(tmp_path_factory: Any, make_file: Any, ops: Any) -> None:
    root = tmp_path_factory.mktemp("steps") / "reg"
    reg = _registry(root, 4, make_file)
    took: list[int] = []  # versions in the order they entered production
    for op, n in ops:
        try:
            if op == "promote":
                reg.promote(f"churn@{n}", "production")
            elif op == "remove":
                reg.remove(f"churn@{n}", reason="recall")
            else:
                reg.rollback("churn")
        except ModelregError:
            continue
        version = reg.resolve("churn@production").version if reg.state("churn").holders("production") else None
        if version is not None and (not took or took[-1] != version):
            took.append(version)
    removed = set(reg.state("churn").removed)
    holders = reg.state("churn").holders("production")
    if not holders:
        return
    # The expected answer: each step back names the previous different, not removed holder.
    turns: list[int] = []
    for number in took:
        if number not in removed and (not turns or turns[-1] != number):
            turns.append(number)
    position = len(turns) - 1
    assert turns[position] == holders[-1]
    for back in range(1, 5):
        try:
            got = reg.resolve(f"churn@production~{back}").version
        except ModelregError as exc:
            assert exc.exit_code == 3
            assert back > position
            continue
        assert got not in removed
        assert got == turns[position - back]
