"""Finding the registry (-R, $MODELREG_REGISTRY, walking up), init's idempotence and its race."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from support.core import Outcome, assert_error, lib_register

from modelreg import Registry


def code(result: Any) -> int:
    return result.exit_code


def test_discovery_by_option_env_and_walking_up(cli: Any, run: Any, tmp_path: Path, make_file: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for reg, model in ((one, "alpha"), (two, "beta")):
        Registry.init(reg)
        lib_register(reg, model, {"w": model.encode()}, tmp_path)

    def names(out: Any) -> list[str]:
        assert out.exit_code == 0, out.stderr
        return [m["name"] for m in json.loads(out.stdout)["models"]]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with contextlib.chdir(elsewhere):
        assert names(cli("list", "-R", one, "--json")) == ["alpha"]
        assert names(cli("list", "--registry", two, "--json")) == ["beta"]
        assert names(cli("list", "--json", env={"MODELREG_REGISTRY": str(two)})) == ["beta"]
        # -R wins over $MODELREG_REGISTRY.
        assert names(cli("list", "-R", one, "--json", env={"MODELREG_REGISTRY": str(two)})) == ["alpha"]
    deep = one / "src" / "pkg" / "deep"
    deep.mkdir(parents=True)
    with contextlib.chdir(deep):
        assert names(cli("list", "--json")) == ["alpha"]
        # $MODELREG_REGISTRY wins over walking up.
        assert names(cli("list", "--json", env={"MODELREG_REGISTRY": str(two)})) == ["beta"]
        # A register found by walking up lands in that registry.
        out = cli("register", "gamma", make_file(deep / "g.bin", b"g"), "--json")
        assert out.exit_code == 0, out.stderr
    assert sorted(r.name for r in (one / "models").iterdir() if r.is_dir()) == ["alpha", "gamma"]
    # The same through a real process.
    proc = run("show", "alpha@1", "--json", cwd=deep)
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "alpha"
    proc = run("show", "beta@1", "--json", cwd=elsewhere, env={"MODELREG_REGISTRY": str(two)})
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "beta"


@pytest.mark.parametrize("how", ["walk", "env", "option"])
def test_no_registry_exits_3_with_init_hint(run: Any, tmp_path: Path, how: str) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args: list[Any] = ["show", "m"]
    env: dict[str, str] = {}
    if how == "env":
        env["MODELREG_REGISTRY"] = str(empty)
    elif how == "option":
        args += ["-R", empty]
    out = run(*args, cwd=empty, env=env)
    message = assert_error(Outcome(out.returncode, out.stdout, out.stderr), 3, json_mode=False)
    assert "modelreg init" in message
    assert snapshot(empty) == {}, "looking for a registry must not create one"


def test_init_is_idempotent(cli: Any, run: Any, tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_text("*.pyc\n")
    with contextlib.chdir(target):
        first = cli("init", "--json")  # PATH defaults to the working directory
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["created"] is True
    gitignore = (target / ".gitignore").read_text()
    assert "*.pyc" in gitignore and "blobs/" in gitignore and "*.mrtmp" in gitignore.splitlines()
    assert re.search(r"^audit\.jsonl\s+merge=union$", (target / ".gitattributes").read_text(), re.MULTILINE)
    before = snapshot(target)
    again = cli("init", target, "--json")
    assert again.exit_code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["changed"] is False and doc["created"] is False
    proc = run("init", target)
    assert proc.returncode == 0 and proc.stderr == ""
    assert snapshot(target) == before


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
