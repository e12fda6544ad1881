"""Issue 12: what a tired person types is refused (exit 2, naming the key), never resolved silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


@pytest.fixture
def setup(tmp_path: Path, make_file: Any) -> tuple[Path, Path]:
    root = tmp_path / "reg"
    Registry.init(root)
    return root, make_file(tmp_path / "model.bin", "weights")


def refused(result: Any, *needles: str) -> None:
    assert result.exit_code == 2, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--metric", "acc=0.9", "--metric", "acc=0.8"], ("acc", "twice")),
        (["-m", "acc=0.9", "-m", "auc=0.7", "-m", "acc=0.9"], ("acc", "twice")),
        (["--param", "lr=0.1", "--param", "lr=0.2"], ("lr", "twice")),
        (["--tag", "owner=ada", "-t", "owner=bob"], ("owner", "twice")),
        (["--metric", "acc= 0.5"], ("acc", "no spaces")),
        (["--metric", "acc =0.5"], ("acc", "no spaces")),
        (["--metric", "acc=0.5 "], ("acc", "no spaces")),
        (["--metric", "acc="], ("acc", "no value")),
        (["--param", "lr= 0.1"], ("lr", "no spaces")),
        (["--tag", " owner=ada"], ("owner", "no spaces")),
    ],
)
def test_register_refuses(args: list[str], needles: tuple[str, ...], cli: Any, setup: tuple[Path, Path]) -> None:
    root, model = setup
    refused(cli("register", "m", model, *args, "-R", root), *needles)
    assert Registry(root).model_names() == []  # nothing was registered


def test_metric_in_the_file_and_on_the_command_line(cli: Any, setup: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = setup
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps({"acc": 0.9, "auc": 0.8}))
    refused(cli("register", "m", model, "--metrics-file", metrics, "--metric", "acc=0.91", "-R", root), "'acc'", "both")
    ok = cli("register", "m", model, "--metrics-file", metrics, "--metric", "f1=0.7", "-R", root, "--json")
    assert ok.exit_code == 0, ok.stderr
    assert json.loads(ok.stdout)["metrics"] == {"acc": 0.9, "auc": 0.8, "f1": 0.7}


@pytest.mark.parametrize(
    ("name", "text"),
    [("m.json", '{"acc": 0.9, "acc": 0.8}'), ("m.yaml", "acc: 0.9\nauc: 0.5\nacc: 0.8\n")],
)
def test_a_metrics_file_naming_a_metric_twice(
    name: str, text: str, cli: Any, setup: tuple[Path, Path], tmp_path: Path
) -> None:
    root, model = setup
    (tmp_path / name).write_text(text)
    refused(cli("register", "m", model, "--metrics-file", tmp_path / name, "-R", root), "'acc'", "twice")


def test_annotate_refuses_contradictions(cli: Any, setup: tuple[Path, Path]) -> None:
    root, model = setup
    Registry(root).register("m", [model])
    refused(cli("annotate", "m@1", "--tag", "a=1", "--untag", "a", "-R", root), "'a'", "--untag")
    refused(cli("annotate", "m@1", "--tag", "a=1", "--tag", "a=2", "-R", root), "a", "twice")
    refused(cli("annotate", "m@1", "--untag", "a", "--untag", "a", "-R", root), "'a'", "twice")
    assert Registry(root).resolve("m@1").tags == {}


def test_list_refuses_a_contradictory_filter(cli: Any, setup: tuple[Path, Path]) -> None:
    root, model = setup
    Registry(root).register("m", [model], tags={"k": "v"})
    refused(cli("list", "m", "--tag", "k=v", "--tag", "k=w", "-R", root), "k", "twice")


def test_values_with_equals_and_inner_spaces_still_work(cli: Any, setup: tuple[Path, Path]) -> None:
    root, model = setup
    out = cli("register", "m", model, "-p", "expr=a=b", "-t", "note=two words", "-m", "acc=-1e3", "-R", root, "--json")
    assert out.exit_code == 0, out.stderr
    v = json.loads(out.stdout)
    assert v["params"] == {"expr": "a=b"} and v["tags"] == {"note": "two words"} and v["metrics"] == {"acc": -1000.0}


def test_json_error_names_the_code(cli: Any, setup: tuple[Path, Path]) -> None:
    root, model = setup
    out = cli("--json", "register", "m", model, "-m", "acc=1", "-m", "acc=2", "-R", root)
    assert out.exit_code == 2
    assert json.loads(out.stderr.splitlines()[-1])["error"]["code"] == "duplicate_key"
