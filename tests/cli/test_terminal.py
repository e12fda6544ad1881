"""Issue 12: output that reads at 80 columns on a real terminal, and stays plain when piped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.terminal import on_terminal, plain

from modelreg import Registry

LONG_AUTHOR = "alexandra.konstantinopoulou"
SHORT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d")
FULL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")


def width(line: str) -> int:
    return len(plain(line))


@pytest.fixture
def busy(tmp_path: Path, make_file: Any, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One model with 12 versions: staging holds 4 and 6, production 8, archived 1."""
    monkeypatch.setenv("MODELREG_AUTHOR", LONG_AUTHOR)
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    for n in range(1, 13):
        reg.register(
            "churn-classifier",
            [make_file(tmp_path / f"w{n}.bin", f"weights {n}")],
            metrics={"accuracy": round(0.8 + n / 100, 4), "roc_auc": round(0.9 + n / 1000, 4)},
            params={"learning_rate": "0.001"},
            description=f"gradient boosting retrained on the November extract, attempt number {n}",
        )
    reg.promote("churn-classifier@1", "production")
    for n in (4, 6):
        reg.promote(f"churn-classifier@{n}", "staging")
    reg.promote("churn-classifier@8", "production", reason="beats version 1 on the holdout set by a clear margin")
    reg.annotate("churn-classifier", description="Predicts which customers cancel in the next 30 days")
    return root


def versions(root: Path) -> list[dict[str, Any]]:
    return [v.to_json() for v in Registry(root).versions("churn-classifier")]


def assert_fits(lines: list[str], columns: int) -> None:
    too_wide = [line for line in lines if width(line) > columns]
    assert too_wide == [], too_wide


def test_version_list_reads_at_80_columns(busy: Path) -> None:
    screen = on_terminal(["list", "churn-classifier", "-R", busy])
    assert screen.code == 0, screen.terminal
    lines = screen.lines
    assert_fits(lines, 80)
    assert "(UTC)" in lines[0], "shortened times say they are UTC"
    for v in versions(busy):
        # One line per version, starting with its number: a long list stays readable.
        rows = [line for line in lines if re.match(rf"\s*{v['version']}\s", line)]
        assert len(rows) == 1, (v["version"], lines)
        row = rows[0]
        assert v["stage"] in row.split()  # a stage name is never split
        stamp = v["created_at"][:10] + " " + v["created_at"][11:16]
        assert stamp in row, (stamp, row)  # nor a timestamp (shortened to the minute)
        metric = f"accuracy={v['metrics']['accuracy']:g}"
        assert metric in row.split(), (metric, row)  # nor a metric
        if "digest" in lines[0]:
            assert v["digest"][:15] in row
    assert not FULL_TIME.search(screen.text)


def test_production_stands_out_on_a_terminal(busy: Path) -> None:
    screen = on_terminal(["list", "churn-classifier", "-R", busy])
    production_row = next(line for line in screen.terminal.splitlines() if "production" in plain(line))
    assert "\x1b[1;32mproduction" in production_row
    other = next(line for line in screen.terminal.splitlines() if "development" in plain(line))
    assert "32m" not in other
    models = on_terminal(["list", "-R", busy])
    assert "\x1b[1;32mproduction=8" in models.terminal


def test_list_never_calls_a_set_of_versions_a_range(busy: Path, cli: Any) -> None:
    screen = on_terminal(["list", "-R", busy])
    assert screen.code == 0
    assert_fits(screen.lines, 80)
    text = screen.text
    assert "development=2,3,5,7,9-12" in text and "staging=4,6" in text and "production=8" in text
    assert "archived=1" in text and ".." not in text
    piped = cli("list", "-R", busy)
    assert "development=2,3,5,7,9-12 staging=4,6 production=8 archived=1" in piped.stdout
    reg = Registry(busy)
    reg.promote("churn-classifier@10", "staging")
    # development: 2,3 5 7 9 11,12 -- five runs are a count, not a misleading range.
    piped = cli("list", "-R", busy)
    assert "development=7 versions staging=4,6,10" in piped.stdout
    for n in (2, 3):
        reg.promote(f"churn-classifier@{n}", "archived")
    piped = cli("list", "-R", busy)
    assert "development=5,7,9,11,12" in piped.stdout and "archived=1-3" in piped.stdout


def test_show_version_never_splits_the_digest(busy: Path) -> None:
    v = versions(busy)[7]
    screen = on_terminal(["show", "churn-classifier@8", "-R", busy])
    assert screen.code == 0, screen.terminal
    assert_fits(screen.lines, 80)
    assert any(v["digest"] in line for line in screen.lines), "the full digest stays on one line"
    assert any(f"{v['created_at'][:10]} {v['created_at'][11:16]} UTC" in line for line in screen.lines)
    assert any("beats version 1 on the holdout" in line for line in screen.lines)
    assert "\x1b[1;32mproduction" in screen.terminal


def test_model_and_log_at_80_columns(busy: Path) -> None:
    for args in (["show", "churn-classifier"], ["log"], ["log", "churn-classifier@8"]):
        screen = on_terminal([*args, "-R", busy])
        assert screen.code == 0, (args, screen.terminal)
        assert_fits(screen.lines, 80)
        assert not FULL_TIME.search(screen.text), args
        for line in screen.lines:
            for stage in ("developm", "producti", "archiv"):  # "archive" is an action too
                # A stage name is whole wherever it appears: never "developm" / "ent".
                for word in re.findall(rf"\b{stage}\w*", line):
                    assert word in ("development", "production", "archived", "archive"), (word, line)
    log = on_terminal(["log", "-R", busy]).text
    assert "reason: beats version 1 on the" in log and "clear margin" in log


@pytest.mark.parametrize("columns", [40, 60, 100, 160])
def test_other_widths_never_split_a_value(busy: Path, columns: int) -> None:
    screen = on_terminal(["list", "churn-classifier", "-R", busy], columns=columns)
    assert screen.code == 0
    assert_fits(screen.lines, columns)
    text = screen.text
    for v in versions(busy):
        stamp = v["created_at"][:10] + " " + v["created_at"][11:16]
        assert any(stamp in line for line in screen.lines), (columns, stamp)
        assert any(f"accuracy={v['metrics']['accuracy']:g}" in line for line in screen.lines)
    if columns >= 100:
        assert LONG_AUTHOR in text and "not shown" not in text
    if columns == 40:
        assert "version 12" in text  # a record per version when even the key columns do not fit


def test_hidden_columns_are_named(busy: Path) -> None:
    text = on_terminal(["list", "churn-classifier", "-R", busy]).text
    if LONG_AUTHOR not in text:
        assert "by not shown at 80 columns" in text


def test_no_color_on_a_terminal_keeps_the_layout_without_escapes(busy: Path) -> None:
    screen = on_terminal(["list", "churn-classifier", "-R", busy], env={"NO_COLOR": "1"})
    assert "\x1b[" not in screen.terminal
    assert_fits(screen.lines, 80)
    assert SHORT_TIME.search(screen.text)


def test_piped_output_is_plain_and_stable(busy: Path, cli: Any, run: Any) -> None:
    proc = run("list", "churn-classifier", "-R", busy, env={"TERM": "xterm-256color", "COLUMNS": "80"})
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["VERSION", "STAGE", "CREATED", "BY", "METRICS", "DIGEST"]
    assert "\x1b[" not in proc.stdout
    for v, line in zip(versions(busy), lines[1:], strict=True):
        assert line.split()[:4] == [str(v["version"]), v["stage"], v["created_at"], LONG_AUTHOR]
    assert cli("list", "churn-classifier", "-R", busy).stdout == proc.stdout
    # JSON is unchanged by any of this.
    doc = json.loads(run("list", "churn-classifier", "-R", busy, "--json").stdout)
    assert [v["created_at"] for v in doc["versions"]] == [v["created_at"] for v in versions(busy)]


def test_wide_characters_are_measured_as_two_columns(tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    reg.register("m", [make_file(tmp_path / "w.bin", "w")], description="模型说明" * 12)
    reg.register("m", [make_file(tmp_path / "w.bin", "v")], description="short")
    screen = on_terminal(["show", "m", "-R", root])
    assert screen.code == 0
    from modelreg.cli.layout import width_of

    assert [line for line in screen.lines if width_of(line) > 80] == []


def test_messages_fit_the_terminal(tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "reg"
    Registry.init(root)
    screen = on_terminal(["register", "a-model-with-a-long-name", make_file(tmp_path / "w.bin", "w"), "-R", root])
    assert screen.code == 0
    assert_fits(screen.lines, 80)
    v = Registry(root).resolve("a-model-with-a-long-name@1")
    assert screen.lines == [f"Registered a-model-with-a-long-name@1 (development) {v.digest[:19]}"]
