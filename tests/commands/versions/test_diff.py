"""diff: files, metrics and params of two versions, and its arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.results import ok_doc as ok

from modelreg import Registry


def test_diff_reports_files_metrics_and_params(cli: Any, two_versions: Registry) -> None:
    data = ok(cli("diff", "m@1", "m@2", "--json", "-R", two_versions.root))
    files = data["files"]
    assert [f["path"] for f in files["added"]] == ["new.cfg"]
    assert [f["path"] for f in files["removed"]] == ["old.cfg"]
    assert [f["path"] for f in files["changed"]] == ["model.bin"]
    assert files["changed"][0]["a"]["size"] == 11 and files["changed"][0]["b"]["size"] == 12
    assert files["unchanged"] == 1
    assert data["metrics"]["acc"]["delta"] == pytest.approx(0.05)
    assert data["metrics"]["loss"] == {"a": 0.3, "b": None, "delta": None}
    assert data["metrics"]["f1"] == {"a": None, "b": 0.7, "delta": None}
    assert data["params"] == {"lr": {"a": "0.1", "b": "0.05"}}
    assert data["tags"] == {}
    assert data["same_content"] is False
    # The short form names a version of the first model; plain text is readable when piped.
    assert ok(cli("diff", "m@1", "2", "--json", "-R", two_versions.root)) == data
    text = ok(cli("diff", "m@1", "2", "-R", two_versions.root))
    assert "+  new.cfg" in text and "-  old.cfg" in text and "~  model.bin" in text


def test_diff_of_identical_content(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    f = make_file(tmp_path / "w.bin", b"same")
    reg = Registry(reg_path)
    reg.register("m", [f])
    reg.register("m", [f])
    data = ok(cli("diff", "m@1", "m@2", "--json", "-R", reg_path))
    assert data["same_content"] is True
    assert data["files"] == {"added": [], "removed": [], "changed": [], "unchanged": 1}


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
