"""The hot read commands answered without Typer print exactly what the full CLI prints.

``modelreg.cli.main`` (behind ``python -m modelreg`` and the ``modelreg`` console script) first
asks ``modelreg.cli.fast_path`` whether the command line is a plain get / get-production / list
/ show; every other one goes to Typer. Each way is driven on the same registry: as real
processes (the entry points against the Typer app built and called directly), and in-process on
command lines that hypothesis builds from their parts, the Typer side through CliRunner. Stdout,
stderr and the exit code must be the same, and the modules loaded tell which way a process took.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import console_script
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from support.both_ways import VIA_TYPER, fast_answer
from typer.testing import CliRunner

from modelreg.cli import fast_path

UI_LIBRARIES = {"typer", "click", "rich"}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    from modelreg import Registry

    base = tmp_path_factory.mktemp("fastpath")
    reg, _ = Registry.init(base / "reg")
    model = base / "model.bin"
    model.write_bytes(b"weights v1")
    reg.register("churn", [model], metrics={"auc": 0.91}, tags={"team": "risk"}, author="tester")
    model.write_bytes(b"weights v2")
    reg.register("churn", [model], metrics={"auc": 0.87}, author="tester")
    model.write_bytes(b"weights v3")
    reg.register("churn", [model], metrics={"auc": 0.95}, author="tester")
    reg.promote("churn@1", "production", actor="tester")
    reg.alias("churn@2", "champion", actor="tester")
    reg.remove("churn@3", reason="leaked test data", actor="tester")
    reg.register("other", [model], author="tester")
    reg.annotate("other", set_tags={"team": "growth"})
    for ref in ("churn@1", "churn@2", "other@1"):
        reg.materialize(reg.resolve(ref))  # both ways then find the served copies built
    # A version whose bytes are not here (a clone before a pull): --json warns, -q silences it.
    (base / "gone.bin").write_bytes(b"bytes that were never pulled")
    digest = reg.register("gone", [base / "gone.bin"], author="tester").version.files[0].digest
    hexpart = digest.partition(":")[2]
    (base / "reg" / "blobs" / "sha256" / hexpart[:2] / hexpart).unlink()
    yield base / "reg"


def _argv(args: list[str], registry: Path) -> list[str]:
    names = {"REG": str(registry), "MISSING": str(registry.parent / "missing")}
    return [names.get(a, a.replace("=REG", f"={registry}")) for a in args]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    for name in ("MODELREG_REGISTRY", "MODELREG_DEBUG", "_MODELREG_COMPLETE"):
        env.pop(name, None)
    return env


def _process(command: list[str], argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _imported(stderr: str) -> set[str]:
    """The top-level packages a process imported, from its -X importtime report."""
    return {
        line.rsplit("|", 1)[1].strip().split(".")[0] for line in stderr.splitlines() if line.startswith("import time:")
    }


# (arguments, exit code, taken by the fast path); REG is the registry, MISSING no directory.
INVOCATIONS: list[tuple[list[str], int, bool]] = [
    (["get", "churn@1", "--json", "-R", "REG"], 0, True),
    (["get", "churn@production", "--path", "-R", "REG"], 0, True),
    (["get", "churn", "--path", "--json", "--registry", "REG"], 0, True),
    (["--json", "get", "churn@2", "-R", "REG"], 0, True),
    (["-R", "REG", "get", "churn@champion", "--path"], 0, True),
    (["get", "churn@3", "--json", "-R", "REG"], 4, True),
    (["get", "churn", "--json", "--registry=REG"], 0, True),
    (["get-production", "churn", "--json", "-R", "REG"], 0, True),
    (["get-production", "churn", "--path", "-q", "-R", "REG"], 0, True),
    (["get-production", "nosuch", "--json", "-R", "REG"], 3, True),
    (["get-production", "other", "--json", "-R", "REG"], 3, True),
    (["get-production", "other", "--path", "-R", "REG"], 3, True),
    (["get", "nosuch", "--path", "-R", "REG"], 3, True),
    (["get", "churn@7", "--json", "-R", "REG"], 3, True),
    (["get", "churn@@", "--json", "-R", "REG"], 2, True),
    (["get", "gone", "--json", "-R", "REG"], 0, True),
    (["-q", "get", "gone", "--json", "-R", "REG"], 0, True),
    (["get", "gone", "--path", "-R", "REG"], 3, True),
    (["get", "Not A Name", "--path", "-R", "REG"], 2, True),
    (["list", "--json", "-R", "REG"], 0, True),
    (["--quiet", "list", "churn", "--json", "-R", "REG"], 0, True),
    (["-R", "MISSING", "list", "--json", "-R", "REG"], 0, True),
    (["list", "--json", "-R", "MISSING"], 3, True),
    (["list", "nosuch", "--json", "-R", "REG"], 3, True),
    (["list", "--json", "--tag", "team=risk", "-R", "REG"], 0, True),
    (["list", "--json", "--stage", "production", "-R", "REG"], 0, True),
    (["list", "--json", "--stage", "nosuch", "-R", "REG"], 2, True),
    (["list", "churn", "--json", "--where", "metrics.auc>0.9", "--sort", "-metrics.auc", "-R", "REG"], 0, True),
    (["list", "churn", "--json", "--limit", "1", "--sort", "version", "-R", "REG"], 0, True),
    (["list", "--json", "--limit", "1", "-R", "REG"], 2, True),
    (["list", "--json", "--tag", "team", "-R", "REG"], 2, True),
    (["show", "churn", "--json", "-R", "REG"], 0, True),
    (["show", "churn@production", "--json", "-R", "REG"], 0, True),
    (["show", "churn@3", "--json", "-R", "REG"], 0, True),
    (["show", "churn@9", "--json", "-R", "REG"], 3, True),
    (["show", "churn@bad@", "--json", "-R", "REG"], 2, True),
    # Everything else is Typer's.
    (["get", "churn", "-R", "REG"], 0, False),
    (["show", "churn", "-R", "REG"], 0, False),
    (["list", "-R", "REG"], 0, False),
    (["get", "--help"], 0, False),
    (["--version"], 0, False),
    (["get", "churn", "--jsn", "-R", "REG"], 2, False),
    (["get", "churn", "--json=yes", "-R", "REG"], 2, False),
    (["get", "churn", "extra", "--json", "-R", "REG"], 2, False),
    (["get-production", "--json", "-R", "REG"], 2, False),
    (["get", "churn", "--json", "-R"], 2, False),
    (["get", "churn", "--json", "-R", ""], 3, False),
    (["get", "--json", "--", "churn", "-R", "REG"], 2, False),
    (["show", "churn", "--path", "-R", "REG"], 2, False),
    (["list", "--json", "--limit", "0", "-R", "REG"], 2, False),
    (["list", "churn", "--json", "--limit", "+1", "-R", "REG"], 0, False),
    (["get", "churn", "--json", "-qR", "REG"], 0, False),
    (["get", "churn", "--json", "--output", "OUT", "-R", "REG"], 0, False),
]


@pytest.mark.parametrize(("args", "code", "fast"), INVOCATIONS, ids=[" ".join(a) for a, _, _ in INVOCATIONS])
def test_the_entry_point_prints_what_typer_prints(
    registry: Path, tmp_path: Path, args: list[str], code: int, fast: bool
) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in _argv(args, registry)]
    main = _process([sys.executable, "-m", "modelreg"], argv, tmp_path, _env())
    if "OUT" in args:  # the first run wrote there; the second must start from the same place
        import shutil

        shutil.rmtree(tmp_path / "out")
    typer = _process([sys.executable, "-c", VIA_TYPER], argv, tmp_path, _env())
    assert (main.returncode, main.stdout, main.stderr) == (typer.returncode, typer.stdout, typer.stderr)
    assert main.returncode == code, main.stderr
    assert "Traceback" not in main.stderr
    loaded = _imported(_process([sys.executable, "-X", "importtime", "-m", "modelreg"], argv, tmp_path, _env()).stderr)
    if fast:
        assert not loaded & UI_LIBRARIES, sorted(loaded & UI_LIBRARIES)
    else:
        assert "typer" in loaded


def test_the_console_script_takes_the_fast_path(registry: Path, tmp_path: Path) -> None:
    argv = ["get-production", "churn", "--json", "-R", str(registry)]
    script = _process([console_script()], argv, tmp_path, _env())
    typer = _process([sys.executable, "-c", VIA_TYPER], argv, tmp_path, _env())
    assert (script.returncode, script.stdout, script.stderr) == (0, typer.stdout, typer.stderr)
    timed = _process([console_script()], argv, tmp_path, _env(PYTHONPROFILEIMPORTTIME="1"))
    loaded = _imported(timed.stderr)
    assert "modelreg" in loaded
    assert not loaded & UI_LIBRARIES, sorted(loaded & UI_LIBRARIES)


def test_the_fast_answers_are_the_registry_s_own(registry: Path, tmp_path: Path) -> None:
    """Beyond agreeing with Typer: what the fast path prints is right."""
    served = _process(
        [sys.executable, "-m", "modelreg"], ["get-production", "churn", "--path", "-R", str(registry)], tmp_path, _env()
    )
    assert (Path(served.stdout.strip()) / "model.bin").read_bytes() == b"weights v1"
    listed = _process([sys.executable, "-m", "modelreg"], ["list", "--json", "-R", str(registry)], tmp_path, _env())
    models = json.loads(listed.stdout)["models"]
    assert [(m["name"], m["latest_version"]) for m in models] == [("churn", 2), ("gone", 1), ("other", 1)]
    assert models[0]["aliases"] == {"champion": 2}
    best = _process(
        [sys.executable, "-m", "modelreg"],
        [
            "list",
            "churn",
            "--json",
            "--where",
            "metrics.auc<0.95",
            "--sort",
            "-metrics.auc",
            "--limit",
            "1",
            "-R",
            str(registry),
        ],
        tmp_path,
        _env(),
    )
    assert [v["version"] for v in json.loads(best.stdout)["versions"]] == [1]
    warned = _process(
        [sys.executable, "-m", "modelreg"], ["get", "gone", "--json", "-R", str(registry)], tmp_path, _env()
    )
    assert json.loads(warned.stdout)["path"] is None
    assert warned.stderr.startswith("warning: ")
    quiet = _process(
        [sys.executable, "-m", "modelreg"], ["get", "gone", "--json", "-q", "-R", str(registry)], tmp_path, _env()
    )
    assert (quiet.stdout, quiet.stderr) == (warned.stdout, "")


@pytest.mark.parametrize(
    "environ",
    [{"_MODELREG_COMPLETE": "complete_bash"}, {"MODELREG_DEBUG": "1"}],
    ids=["a shell asking for completions", "debugging"],
)
def test_these_environments_are_left_to_the_full_cli(registry: Path, environ: dict[str, str]) -> None:
    argv = ["get-production", "churn", "--json", "-R", str(registry)]
    assert fast_path.parse(argv) is not None
    assert fast_path.answer(argv, environ) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory: no unreadable path to give")
def test_an_unreadable_registry_path_is_typer_s_to_refuse(registry: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        argv = ["get", "churn", "--json", "-R", str(locked)]
        assert fast_path.parse(argv) is None
        assert fast_path.parse(["get", "churn", "--json", "-R", str(tmp_path / "absent")]) is not None
    finally:
        locked.chmod(0o700)


def test_the_forms_match_the_typer_commands() -> None:
    """Every option the fast path reads exists in the Typer command with the same shape, so a
    renamed or retyped option cannot leave the two ways reading one command line differently."""
    import inspect

    import typer.main

    from modelreg.cli.group import _DECLARED, build_app

    for name, form in fast_path.FORMS.items():
        group = typer.main.get_command(build_app(name))
        command = group.commands[name]  # type: ignore[attr-defined]
        options = {opt: p for p in command.params if p.param_type_name == "option" for opt in p.opts}
        arguments = [p for p in command.params if p.param_type_name == "argument"]
        assert sum(a.nargs if a.nargs > 0 else 1 for a in arguments if a.required) == form.least, name
        variadic = any(a.nargs == -1 for a in arguments)
        assert form.most == (None if variadic else sum(a.nargs for a in arguments)), name
        for opt, dest in {**fast_path.GLOBAL_FLAGS, **form.flags}.items():
            assert options[opt].is_flag and options[opt].name == dest, (name, opt)
        for opt, dest in {**fast_path.GLOBAL_VALUES, **form.values}.items():
            assert not options[opt].is_flag and not options[opt].multiple, (name, opt)
            assert options[opt].name == dest and options[opt].nargs == 1, (name, opt)
        for opt, dest in form.repeated.items():
            assert options[opt].multiple and options[opt].name == dest and options[opt].nargs == 1, (name, opt)
        if form.paths is not None:  # what the fast path checks as a path is a path to click
            first, named = form.paths
            assert all(a.type.name == "path" for a in arguments[first:]), name
            assert {p.name for p in command.params if p.type.name == "path"} == {*named, "registry"} | {
                a.name for a in arguments[first:]
            }, name
        # The Typer command runs the function the fast path calls.
        module = "writes" if name == "register" else "reads"
        called = f"{module}.{'list_' if name == 'list' else name.replace('-', '_')}("
        assert called in inspect.getsource(_DECLARED[name]), name


# -- command lines built from their parts, in-process ----------------------------------------------

BEFORE = [["--json"], ["-q"], ["--quiet"], ["-R", "REG"], ["--registry", "REG"], ["--registry=REG"], ["-R", "MISSING"]]
REFS = [
    "churn",
    "churn@1",
    "churn@production",
    "churn@champion",
    "churn@latest~1",
    "churn@3",
    "other",
    "gone",
    "nosuch",
]
ODD_REFS = ["churn@@", "Not A Name", "churn@{2020-01-01}"]
LIST_OPTIONS = [
    ["--stage", "production"],
    ["--stage", "staging"],
    ["--stage", "nosuch"],
    ["--tag", "team=risk"],
    ["--tag", "team"],
    ["--where", "metrics.auc>0.9"],
    ["--where", "metrics.auc>>"],
    ["--sort", "-metrics.auc"],
    ["--sort", "version"],
    ["--limit", "1"],
    ["--limit", "2"],
    ["--stage=production"],
]
# What only the full CLI reads, or reads its own way.
ODD = [
    [""],
    ["--"],
    ["-x"],
    ["--help"],
    ["-h"],
    ["--output"],
    ["--signature"],
    ["--limit", "0"],
    ["--limit", "٣"],
    ["--limit", " 1"],
    ["--jso"],
    ["-qR", "REG"],
    ["--json=1"],
    ["-R"],
    ["--stage", ""],
]


@st.composite
def command_lines(draw: st.DrawFn) -> tuple[list[str], bool]:
    """A command line, and whether it is one of the plain forms the fast path must take."""
    command = draw(st.sampled_from(["get", "get-production", "list", "show"]))
    before = draw(st.lists(st.sampled_from(BEFORE), max_size=2))
    least = 0 if command == "list" else 1
    refs = REFS + ODD_REFS if command != "get-production" else ["churn", "other", "nosuch", "Not A Name"]
    values = draw(st.lists(st.sampled_from(refs), min_size=least, max_size=1))
    output = ["--json"] if command in ("list", "show") else draw(st.sampled_from([["--json"], ["--path"]]))
    own = LIST_OPTIONS if command == "list" else ([["--path"]] if command.startswith("get") else [])
    flags = draw(st.lists(st.sampled_from([*BEFORE, output, *own]), max_size=3))
    odd = draw(st.lists(st.sampled_from(ODD), max_size=1))
    after = [[v] for v in values] + flags + odd
    if not odd and output not in flags + before:
        after.append(output)
    after = draw(st.permutations(after))
    words = [w for g in before for w in g] + [command] + [w for g in after for w in g]
    # Plain: the fast path must take it (it may take more: an odd word read as an option's value).
    plain = not odd and any(g in (["--json"], ["--path"]) for g in before + after)
    return words, plain


@pytest.fixture(scope="module")
def typer_app() -> Any:
    from modelreg.cli import build_app

    return build_app()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command_lines())
@example((["-q", "get", "gone", "--json", "-R", "REG"], True))
@example((["get", "gone", "--quiet", "--json", "-R", "REG"], True))
@example((["-R", "MISSING", "get-production", "churn", "--path", "-R", "REG"], True))
@example((["-R", "REG", "--json", "list", "-R", "MISSING"], True))
def test_any_command_line_the_fast_path_takes_gives_typer_s_output(
    registry: Path, typer_app: Any, monkeypatch: pytest.MonkeyPatch, line: tuple[list[str], bool]
) -> None:
    words, plain = line
    argv = _argv(words, registry)
    for name in ("MODELREG_REGISTRY", "MODELREG_DEBUG", "_MODELREG_COMPLETE"):
        monkeypatch.delenv(name, raising=False)
    if fast_path.parse(argv) is None:
        assert not plain, f"a plain form was left to Typer: {argv}"
        return
    quick = fast_answer(argv)
    full = CliRunner().invoke(typer_app, argv)
    assert quick == (full.exit_code, full.stdout, full.stderr), argv
    assert not isinstance(full.exception, Exception) or isinstance(full.exception, SystemExit), full.exception


def test_what_the_fast_path_reads_from_a_command_line() -> None:
    line = fast_path.parse(
        [
            "-R",
            "a",
            "--json",
            "list",
            "m",
            "--where",
            "x=1",
            "--sort",
            "-y",
            "--where",
            "z<2",
            "--limit",
            "3",
            "-R",
            "b",
        ]
    )
    assert line is not None
    assert (line.command, line.args) == ("list", ["m"])
    assert line.options == {"registry": Path("b"), "json": True, "where": ["x=1", "z<2"], "sort": "-y", "limit": 3}
    # A global flag before the command name, an option of the command only after it.
    assert fast_path.parse(["--path", "get", "m"]) is None
    assert fast_path.parse(["get", "m", "--path", "--stage", "x"]) is None
    # click reads the next word as an option's value whatever it looks like.
    taken = fast_path.parse(["list", "m", "--json", "--sort", "--json"])
    assert taken is not None and taken.options["sort"] == "--json"
