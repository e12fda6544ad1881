"""Exit codes, exactly one JSON document, one-line errors without a traceback."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot, write_file
from filelock import FileLock
from support.core import (
    CACHES,
    DEFAULT_STAGES,
    Ctx,
    Drive,
    Outcome,
    assert_error,
    assert_version_object,
    blob_of,
    flip_byte,
    jdoc,
    make_driver,
)

from modelreg import Registry


@pytest.fixture
def drive(request: pytest.FixtureRequest, cli: Any, run: Any, tmp_path: Path) -> Drive:
    """Parametrised indirectly with "clirunner", "python-m" or "console-script"."""
    return make_driver(request.param, cli, run, tmp_path)


TWO_DRIVERS = ["clirunner", "python-m"]


@dataclass
class Case:
    args: list[Any]
    code: int
    needles: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    during: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
    after: Callable[[], None] | None = None


def case_ok(c: Ctx) -> Case:
    c.seed()
    return Case(["list", "-R", c.reg], 0)


def case_bad_name(c: Ctx) -> Case:
    src = write_file(c.tmp / "model.bin", b"x")
    return Case(["register", "Bad Name", src, "-R", c.reg], 2, ("Bad Name", "lowercase", "100"))


def case_bad_metric(c: Ctx) -> Case:
    src = write_file(c.tmp / "model.bin", b"x")
    return Case(["register", "m", src, "--metric", "acc=high", "-R", c.reg], 2, ("acc", "high", "number"))


def case_unknown_stage(c: Ctx) -> Case:
    c.seed()
    return Case(["promote", "m@1", "prod", "-R", c.reg], 2, ("'prod'", *DEFAULT_STAGES))


def case_missing_input(c: Ctx) -> Case:
    return Case(["register", "m", c.tmp / "nope.bin", "-R", c.reg], 2, ("nope.bin",))


def case_malformed_config(c: Ctx) -> Case:
    c.seed()
    (c.reg / "modelreg.toml").write_text("format_version = [[[\n")
    return Case(["list", "-R", c.reg], 2, ("modelreg.toml",))


def case_same_path_twice(c: Ctx) -> Case:
    a = write_file(c.tmp / "a" / "model.bin", b"a")
    b = write_file(c.tmp / "b" / "model.bin", b"b")
    return Case(["register", "m", a, b, "-R", c.reg], 2, ("model.bin",))


def case_no_registry(c: Ctx) -> Case:
    empty = c.tmp / "elsewhere"
    empty.mkdir()
    return Case(["list"], 3, ("modelreg init",), cwd=empty)


def case_unknown_model(c: Ctx) -> Case:
    c.seed()
    return Case(["show", "nope", "-R", c.reg], 3, ("nope",))


def case_unknown_version(c: Ctx) -> Case:
    c.seed()
    return Case(["show", "m@9", "-R", c.reg], 3, ("9",))


def case_nothing_in_production(c: Ctx) -> Case:
    c.seed()
    return Case(["get-production", "m", "-R", c.reg], 3, ("production",))


def case_lock_timeout(c: Ctx) -> Case:
    c.seed()
    lock_path = Registry(c.reg).model_lock_path("m")
    lock_path.parent.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def held() -> Iterator[None]:
        with FileLock(str(lock_path)):
            yield

    return Case(
        ["promote", "m@1", "staging", "-R", c.reg], 4, ("lock",), env={"MODELREG_LOCK_TIMEOUT": "0.2"}, during=held
    )


def case_policy(c: Ctx) -> Case:
    c.seed()
    c.edit_config(lambda d: d["stages"].__setitem__("require_reason", ["production"]))
    return Case(["promote", "m@1", "production", "-R", c.reg], 4, ("--reason",))


def case_flipped_blob(c: Ctx) -> Case:
    v = c.seed(production=True)
    flip_byte(blob_of(c.reg, v.files[0].digest), offset=3)
    dest = c.tmp / "out"

    def nothing_written() -> None:
        assert not any(p.is_file() for p in dest.rglob("*")), "no unverified byte may be handed out"

    return Case(["get-production", "m", "--output", dest, "-R", c.reg], 5, ("digest",), after=nothing_written)


CASES = {
    "0-ok": case_ok,
    "2-bad-name": case_bad_name,
    "2-bad-metric": case_bad_metric,
    "2-unknown-stage": case_unknown_stage,
    "2-missing-input": case_missing_input,
    "2-malformed-config": case_malformed_config,
    "2-same-path-twice": case_same_path_twice,
    "3-no-registry": case_no_registry,
    "3-unknown-model": case_unknown_model,
    "3-unknown-version": case_unknown_version,
    "3-nothing-in-production": case_nothing_in_production,
    "4-lock-timeout": case_lock_timeout,
    "4-policy": case_policy,
    "5-flipped-blob": case_flipped_blob,
}


USER_MISTAKES = [
    ["register", "m"],  # missing PATH
    ["register", "m", "model.bin", "--metric", "novalue"],
    ["register", "m", "model.bin", "--metric", "acc=nan"],
    ["register", "m", "model.bin", "--tag", "=v"],
    ["register", "m", "model.bin", "--metrics-file", "missing.json"],
    ["register", "m", "model.bin", "--metrics-file", "list.json"],
    ["register", "m", "model.bin", "--stage", "nowhere"],
    ["promote", "m@1"],
    ["promote", "m@x!", "staging"],
    ["promote", "m@0", "staging"],
    ["show", "m@sha256:abc"],
    ["show", "m@"],
    ["list", "--stage", "nowhere"],
    ["list", "--tag", "novalue"],
    ["annotate", "m"],
    ["get-production", "m", "--bogus-flag"],
    ["frobnicate"],
]


CLICK_USAGE_ERRORS = [
    ["register", "m"],  # missing argument
    ["register", "m", "model.bin", "--bogus-flag"],  # unknown option
    ["promote", "m@1", "staging", "--reason"],  # option without its value
    ["frobnicate"],  # unknown command
]


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("drive", TWO_DRIVERS, indirect=True)
def test_exit_codes(drive: Drive, case_name: str, json_mode: bool, reg_path: Path, tmp_path: Path) -> None:
    case = CASES[case_name](Ctx(reg_path, tmp_path))
    args = [*case.args, "--json"] if json_mode else case.args
    before = snapshot(reg_path, ignore=CACHES)
    with case.during() if case.during else contextlib.nullcontext():
        out = drive(*args, env=case.env, cwd=case.cwd)
    if case.code == 0:
        assert out.code == 0, out.stderr
        assert out.stdout.strip()
        if json_mode:
            json.loads(out.stdout)
        return
    assert_error(out, case.code, json_mode=json_mode, needles=case.needles)
    assert snapshot(reg_path, ignore=CACHES) == before, "a refused command must leave the registry untouched"
    if case.after:
        case.after()


@pytest.mark.parametrize("drive", TWO_DRIVERS, indirect=True)
def test_every_command_prints_exactly_one_json_document(drive: Drive, tmp_path: Path, make_file: Any) -> None:
    reg = tmp_path / "reg"
    src = make_file(tmp_path / "m.bin", 100)
    init = jdoc(drive("init", reg, "--json"))
    assert set(init) >= {"path", "created", "changed"}
    reg_v = jdoc(drive("register", "m", src, "-R", reg, "--json"))
    assert_version_object(reg_v, "m", 1)
    promoted = jdoc(drive("promote", "m@1", "production", "-R", reg, "--json"))
    assert_version_object(promoted, "m", 1)
    listed = jdoc(drive("list", "-R", reg, "--json"))
    assert set(listed) == {"models"}
    versions = jdoc(drive("list", "m", "-R", reg, "--json"))
    assert set(versions) == {"versions"}
    assert_version_object(versions["versions"][0], "m", 1)
    model = jdoc(drive("show", "m", "-R", reg, "--json"))
    assert model["name"] == "m" and model["latest_version"] == 1
    shown = jdoc(drive("show", "m@1", "-R", reg, "--json"))
    assert_version_object(shown, "m", 1)
    prod = jdoc(drive("get-production", "m", "-R", reg, "--json"))
    assert_version_object(prod, "m", 1)
    assert "path" in prod
    ann = jdoc(drive("annotate", "m@1", "--tag", "owner=ml", "-R", reg, "--json"))
    assert ann["tags"] == {"owner": "ml"}
    noop = jdoc(drive("promote", "m@1", "production", "-R", reg, "--json"))
    assert noop["changed"] is False


@pytest.mark.parametrize("args", USER_MISTAKES, ids=lambda a: " ".join(a))
def test_user_mistakes_exit_2_without_traceback(run: Any, reg_path: Path, tmp_path: Path, args: list[str]) -> None:
    Ctx(reg_path, tmp_path).seed()
    write_file(tmp_path / "model.bin", b"bytes")
    write_file(tmp_path / "list.json", b"[1, 2]")
    before = snapshot(reg_path, ignore=CACHES)
    out = run(*args, env={"MODELREG_REGISTRY": str(reg_path)}, cwd=tmp_path)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr and out.stderr.strip()
    assert out.stdout == ""
    assert snapshot(reg_path, ignore=CACHES) == before


@pytest.mark.parametrize("json_mode", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("args", CLICK_USAGE_ERRORS, ids=lambda a: " ".join(a))
def test_usage_errors_are_one_line_and_json(
    cli: Any, run: Any, reg_path: Path, tmp_path: Path, args: list[str], json_mode: bool
) -> None:
    write_file(tmp_path / "model.bin", b"bytes")
    full = [*args, "-R", reg_path, *(["--json"] if json_mode else [])]
    r = cli(*full)
    assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=json_mode)
    proc = run(*full, cwd=tmp_path)
    assert_error(Outcome(proc.returncode, proc.stdout, proc.stderr), 2, json_mode=json_mode)


def test_huge_version_number_is_usage_error(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed()
    out = cli("show", "m@" + "1" * 5000, "-R", reg_path)
    assert out.exit_code in (2, 3), out.stderr
    assert "internal error" not in out.stderr
