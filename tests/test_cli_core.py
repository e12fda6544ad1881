"""The registry core through the command line (issue 2).

Each workflow runs through Typer's ``CliRunner`` (in-process) and through real processes
(``python -m modelreg`` and the ``modelreg`` console script), with stdout and stderr kept apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from conftest import AUTHOR, snapshot, write_file
from filelock import FileLock

from modelreg import Registry

DEFAULT_STAGES = ["development", "staging", "production", "archived"]
ANSI = re.compile(r"\x1b\[")
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
# Caches (git-ignored, rebuilt at will) may be filled by any read; they are not registry state.
CACHES = (".modelreg/cache",)
VERSION_KEYS = {
    "name",
    "version",
    "stage",
    "digest",
    "created_at",
    "created_by",
    "description",
    "metrics",
    "params",
    "tags",
    "lineage",
    "files",
}


# -- driving the CLI in-process or as a real process ---------------------------------------------


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


Drive = Callable[..., Outcome]


def make_driver(kind: str, cli: Callable[..., Any], run: Callable[..., Any], home: Path) -> Drive:
    """A uniform ``drive(*args, env=None, cwd=None) -> Outcome`` for one way of running modelreg."""

    def drive(*args: Any, env: dict[str, str | None] | None = None, cwd: Path | None = None) -> Outcome:
        if kind == "clirunner":
            with contextlib.chdir(cwd or home):
                result = cli(*args, env=env)
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception  # a crash: show its traceback in the test report
            return Outcome(result.exit_code, result.stdout, result.stderr)
        proc = run(*args, env=env, cwd=cwd or home, script=kind == "console-script")
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    drive.kind = kind  # type: ignore[attr-defined]
    return drive


@pytest.fixture
def drive(request: pytest.FixtureRequest, cli: Any, run: Any, tmp_path: Path) -> Drive:
    """Parametrised indirectly with "clirunner", "python-m" or "console-script"."""
    return make_driver(request.param, cli, run, tmp_path)


ALL_DRIVERS = ["clirunner", "python-m", "console-script"]
TWO_DRIVERS = ["clirunner", "python-m"]


def jdoc(out: Outcome) -> Any:
    """The one JSON document on stdout of a successful command."""
    assert out.code == 0, f"exit {out.code}; stderr: {out.stderr}"
    assert "Traceback" not in out.stderr
    return json.loads(out.stdout)  # json.loads refuses trailing data: exactly one document


def assert_error(out: Outcome, code: int, *, json_mode: bool, needles: tuple[str, ...] = ()) -> str:
    """A user-facing error: the exit code, nothing on stdout, one line (+ JSON) on stderr."""
    assert out.code == code, f"expected exit {code}, got {out.code}; stderr: {out.stderr!r}"
    assert out.stdout == "", f"stdout must stay empty on errors, got {out.stdout!r}"
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert lines, "an error must say what is wrong on stderr"
    message = lines[0]
    for needle in needles:
        assert needle in out.stderr, f"{needle!r} not in {out.stderr!r}"
    if json_mode:
        assert len(lines) == 2, lines
        doc = json.loads(lines[-1])
        assert set(doc) == {"error"}
        assert set(doc["error"]) >= {"code", "message"}
        assert isinstance(doc["error"]["code"], str) and doc["error"]["code"]
        assert isinstance(doc["error"]["message"], str) and doc["error"]["message"]
        assert doc["error"]["message"] in message
    else:
        assert len(lines) == 1, lines
    return message


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_tree(directory: Path) -> dict[str, bytes]:
    """``{relpath: bytes}`` of the regular files under ``directory``."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_version_object(v: dict[str, Any], name: str, number: int) -> None:
    missing = VERSION_KEYS - set(v)
    assert not missing, missing
    assert v["name"] == name
    assert v["version"] == number and type(v["version"]) is int
    assert isinstance(v["stage"], str) and v["stage"]
    assert DIGEST.match(v["digest"]), v["digest"]
    assert RFC3339_UTC.match(v["created_at"]), v["created_at"]
    assert v["created_by"] == AUTHOR
    assert isinstance(v["description"], str)
    for key in ("metrics", "params", "tags", "lineage"):
        assert isinstance(v[key], dict), key
    assert isinstance(v["lineage"].get("datasets"), list)
    assert isinstance(v["files"], list) and v["files"]
    for f in v["files"]:
        assert set(f) >= {"path", "size", "digest"}
        assert isinstance(f["path"], str) and type(f["size"]) is int and DIGEST.match(f["digest"])


def blob_files(reg: Path) -> list[Path]:
    return [p for p in (reg / "blobs").rglob("*") if p.is_file()]


def flip_byte(path: Path, offset: int = 0) -> None:
    mode = path.stat().st_mode
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0xFF]))
    path.chmod(mode & 0o777)


def blob_of(reg: Path, digest: str) -> Path:
    hexpart = digest.partition(":")[2]
    found = [p for p in (reg / "blobs").rglob(hexpart) if p.is_file()]
    assert len(found) == 1, found
    return found[0]


def as_path(text: str, cwd: Path) -> Path:
    path = Path(text)
    return path if path.is_absolute() else cwd / path


def lib_register(reg: Path, name: str, files: dict[str, bytes], tmp: Path, **kwargs: Any) -> Any:
    """Register a version through the library (fast setup for CLI tests)."""
    src = tmp / f"src-{name}-{len(list(tmp.glob('src-*')))}"
    for rel, data in files.items():
        write_file(src / rel, data)
    version, _ = Registry.open(reg).register(name, [src], **kwargs)
    return version


# -- the deployment-guide workflow ---------------------------------------------------------------


@pytest.mark.parametrize("drive", ALL_DRIVERS, indirect=True)
def test_deployment_guide_round_trip(drive: Drive, tmp_path: Path, make_file: Any) -> None:
    reg = tmp_path / "registry"
    created = jdoc(drive("init", reg, "--json"))
    assert created["created"] is True and Path(created["path"]) == reg.resolve()

    v1_model = make_file(tmp_path / "train1" / "model.pkl", 5000)
    v2_dir = tmp_path / "train2"
    v2_files = {"model.pkl": os.urandom(7000), "preprocess/scaler.json": b'{"mean": 0.5}'}
    for rel, data in v2_files.items():
        make_file(v2_dir / rel, data)

    r1 = jdoc(drive("register", "lead_scoring", v1_model, "--metric", "accuracy=0.8", "-R", reg, "--json"))
    assert_version_object(r1, "lead_scoring", 1)
    assert r1["metrics"] == {"accuracy": 0.8}
    assert r1["stage"] == "development"
    assert [(f["path"], f["size"], f["digest"]) for f in r1["files"]] == [
        ("model.pkl", 5000, sha(v1_model.read_bytes()))
    ]

    r2 = jdoc(drive("register", "lead_scoring", v2_dir, "--metric", "accuracy=0.85", "-R", reg, "--json"))
    assert_version_object(r2, "lead_scoring", 2)
    assert r2["metrics"] == {"accuracy": 0.85}
    assert sorted((f["path"], f["size"], f["digest"]) for f in r2["files"]) == sorted(
        (rel, len(data), sha(data)) for rel, data in v2_files.items()
    )

    promoted = jdoc(drive("promote", "lead_scoring@2", "production", "-R", reg, "--json"))
    assert (promoted["version"], promoted["stage"]) == (2, "production")
    assert promoted["changed"] is True and promoted["from_stage"] == "development"

    prod = jdoc(drive("get-production", "lead_scoring", "-R", reg, "--json"))
    assert_version_object(prod, "lead_scoring", 2)
    assert prod["stage"] == "production"
    assert prod["metrics"] == {"accuracy": 0.85}
    assert prod["digest"] == r2["digest"] and prod["files"] == r2["files"]
    assert read_tree(as_path(prod["path"], tmp_path)) == v2_files

    out = drive("get-production", "lead_scoring", "--path", "-R", reg)
    assert out.code == 0 and out.stderr == ""
    lines = out.stdout.splitlines()
    assert len(lines) == 1, "--path prints only the directory"
    cache_dir = as_path(lines[0], tmp_path)
    assert cache_dir.resolve().is_relative_to(reg.resolve()), "the files sit inside the registry's cache"
    assert read_tree(cache_dir) == v2_files

    dest = tmp_path / "deploy"
    out = drive("get-production", "lead_scoring", "--output", dest, "-R", reg)
    assert out.code == 0, out.stderr
    assert read_tree(dest) == v2_files

    human = drive("get-production", "lead_scoring", "-R", reg)
    assert human.code == 0 and "lead_scoring@2" in human.stdout and "production" in human.stdout

    models = jdoc(drive("list", "-R", reg, "--json"))["models"]
    assert [(m["name"], m["latest_version"], m["stages"]["production"]) for m in models] == [("lead_scoring", 2, 2)]
    assert models[0]["stages"]["development"] == [1]


def test_get_production_path_is_git_ignored_and_repaired(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v = lib_register(reg_path, "m", {"w.bin": b"weights", "cfg/a.json": b"{}"}, tmp_path)
    Registry.open(reg_path).promote("m@1", "production")
    first = cli("get-production", "m", "--path", "-R", reg_path)
    assert first.exit_code == 0, first.stderr
    cache_dir = as_path(first.stdout.strip(), tmp_path)
    (cache_dir / "w.bin").unlink()  # a damaged cached copy is rebuilt, verified
    again = cli("get-production", "m", "--path", "-R", reg_path)
    assert again.exit_code == 0, again.stderr
    assert read_tree(as_path(again.stdout.strip(), tmp_path)) == {"w.bin": b"weights", "cfg/a.json": b"{}"}
    assert v.digest == Registry.open(reg_path).get_production("m").digest
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(reg_path)], check=True)
    ignored = subprocess.run(["git", "-C", str(reg_path), "check-ignore", "-q", str(cache_dir.resolve())])
    assert ignored.returncode == 0, "the --path directory must be git-ignored"


# -- the MLflow demo workflow --------------------------------------------------------------------


@pytest.mark.parametrize("drive", ALL_DRIVERS, indirect=True)
def test_mlflow_demo_workflow(drive: Drive, tmp_path: Path, make_file: Any) -> None:
    name = "sk-learn-random-forest-reg-model"
    reg = tmp_path / "mlruns-registry"
    jdoc(drive("init", reg, "--json"))
    m1 = make_file(tmp_path / "rf1" / "model.pkl", 3000)
    m2 = make_file(tmp_path / "rf2" / "model.pkl", 3001)
    assert jdoc(drive("register", name, m1, "-m", "rmse=0.3", "-R", reg, "--json"))["version"] == 1
    assert jdoc(drive("register", name, m2, "-m", "rmse=0.25", "-R", reg, "--json"))["version"] == 2

    assert jdoc(drive("promote", f"{name}@1", "production", "-R", reg, "--json"))["stage"] == "production"
    assert jdoc(drive("promote", f"{name}@2", "staging", "-R", reg, "--json"))["stage"] == "staging"

    # Load by stage.
    in_prod = jdoc(drive("show", f"{name}@production", "-R", reg, "--json"))
    in_staging = jdoc(drive("show", f"{name}@staging", "-R", reg, "--json"))
    assert (in_prod["version"], in_prod["stage"], in_prod["files"][0]["digest"]) == (
        1,
        "production",
        sha(m1.read_bytes()),
    )
    assert (in_staging["version"], in_staging["stage"], in_staging["files"][0]["digest"]) == (
        2,
        "staging",
        sha(m2.read_bytes()),
    )

    # Model-level and version-level descriptions.
    model_desc = "This model forecasts the power output of a wind farm."
    v1_desc = "A random forest with 100 decision trees, trained with scikit-learn."
    ann = jdoc(drive("annotate", name, "--description", model_desc, "-R", reg, "--json"))
    assert (ann["version"], ann["description"], ann["changed"]) == (None, model_desc, True)
    ann = jdoc(drive("annotate", f"{name}@1", "--description", v1_desc, "-R", reg, "--json"))
    assert (ann["version"], ann["description"], ann["changed"]) == (1, v1_desc, True)
    model = jdoc(drive("show", name, "-R", reg, "--json"))
    assert model["description"] == model_desc
    assert [(v["version"], v["description"]) for v in model["versions"]] == [(1, v1_desc), (2, "")]
    assert jdoc(drive("show", f"{name}@1", "-R", reg, "--json"))["description"] == v1_desc

    # v2 to production archives v1, as its own audit entry.
    moved = jdoc(drive("promote", f"{name}@2", "production", "-R", reg, "--json"))
    assert (moved["version"], moved["stage"], moved["from_stage"]) == (2, "production", "staging")
    assert moved["archived"] == [1]
    v1 = jdoc(drive("show", f"{name}@1", "-R", reg, "--json"))
    assert v1["stage"] == "archived"
    archive_entries = [e for e in v1["history"] if e["action"] == "archive"]
    assert len(archive_entries) == 1
    assert (archive_entries[0]["from_stage"], archive_entries[0]["to_stage"]) == ("production", "archived")
    assert archive_entries[0]["version"] == 1 and archive_entries[0]["actor"] == AUTHOR
    v2 = jdoc(drive("show", f"{name}@2", "-R", reg, "--json"))
    moves = [(e["from_stage"], e["to_stage"]) for e in v2["history"] if e["action"] == "promote"]
    assert moves == [("development", "staging"), ("staging", "production")]
    assert jdoc(drive("get-production", name, "-R", reg, "--json"))["version"] == 2
    listed = jdoc(drive("list", name, "-R", reg, "--json"))["versions"]
    assert [(v["version"], v["stage"]) for v in listed] == [(1, "archived"), (2, "production")]
    stages = jdoc(drive("list", "-R", reg, "--json"))["models"][0]["stages"]
    assert stages == {"development": [], "staging": [], "production": 2, "archived": [1]}
    # Nothing is left in staging now.
    assert_error(drive("show", f"{name}@staging", "-R", reg), 3, json_mode=False, needles=("staging",))


# -- every exit code of the table ------------------------------------------------------------------


@dataclass
class Case:
    args: list[Any]
    code: int
    needles: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    during: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
    after: Callable[[], None] | None = None


@dataclass
class Ctx:
    reg: Path
    tmp: Path

    def seed(self, production: bool = False) -> Any:
        v = lib_register(self.reg, "m", {"model.bin": b"the weights of m"}, self.tmp)
        if production:
            Registry.open(self.reg).promote("m@1", "production")
        return v

    def edit_config(self, change: Callable[[dict[str, Any]], None]) -> None:
        path = self.reg / "modelreg.toml"
        data = tomllib.loads(path.read_text())
        change(data)
        path.write_text(tomli_w.dumps(data))


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


def test_policy_satisfied_with_reason(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    ctx = Ctx(reg_path, tmp_path)
    ctx.seed()
    ctx.edit_config(lambda d: d["stages"].__setitem__("require_reason", ["production"]))
    out = cli("promote", "m@1", "production", "--reason", "A/B test won", "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    history = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)["history"]
    promote = [e for e in history if e["action"] == "promote"]
    assert [(e["to_stage"], e["reason"]) for e in promote] == [("production", "A/B test won")]


def test_integrity_failure_on_path_too(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v = Ctx(reg_path, tmp_path).seed(production=True)
    flip_byte(blob_of(reg_path, v.files[0].digest), offset=0)
    out = cli("get-production", "m", "--path", "-R", reg_path)
    assert_error(Outcome(out.exit_code, out.stdout, out.stderr), 5, json_mode=False)


# -- --json on every command ---------------------------------------------------------------------------


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


def test_promote_to_current_stage_changes_nothing(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed(production=True)
    before = snapshot(reg_path, ignore=CACHES)
    out = cli("promote", "m@1", "production", "-R", reg_path)
    assert out.exit_code == 0 and "nothing changed" in out.stdout
    assert snapshot(reg_path, ignore=CACHES) == before


# -- user mistakes: no traceback ---------------------------------------------------------------------


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


CLICK_USAGE_ERRORS = [
    ["register", "m"],  # missing argument
    ["register", "m", "model.bin", "--bogus-flag"],  # unknown option
    ["promote", "m@1", "staging", "--reason"],  # option without its value
    ["frobnicate"],  # unknown command
]


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


def test_output_onto_a_file_is_usage_error(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed(production=True)
    target = write_file(tmp_path / "not-a-dir", b"keep me")
    r = cli("get-production", "m", "--output", target, "-R", reg_path)
    assert target.read_bytes() == b"keep me"
    assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=False, needles=("not-a-dir",))


# -- bad names ------------------------------------------------------------------------------------------


BAD_NAMES = ["Bad Name", "../x", "a" * 101, "", "x/y"]


def name_commands(name: str, src: Path) -> list[list[Any]]:
    return [
        ["register", name, src],
        ["show", name],
        ["show", f"{name}@1"],
        ["promote", f"{name}@1", "staging"],
        ["get-production", name],
        ["list", name],
        ["annotate", name, "-d", "text"],
        ["annotate", f"{name}@latest", "--tag", "k=v"],
    ]


@pytest.mark.parametrize("name", BAD_NAMES, ids=["space-upper", "dotdot", "101-chars", "empty", "slash"])
def test_bad_names_refused_and_nothing_changes(cli: Any, run: Any, reg_path: Path, tmp_path: Path, name: str) -> None:
    Ctx(reg_path, tmp_path).seed()
    src = write_file(tmp_path / "model.bin", b"new bytes")
    before = snapshot(tmp_path)
    for args in name_commands(name, src):
        for json_mode in (False, True):
            full = [*args, "-R", reg_path, *(["--json"] if json_mode else [])]
            r = cli(*full)
            message = assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=json_mode)
            assert "lowercase" in message and "100" in message, message
    proc = run("register", name, src, "-R", reg_path)
    assert_error(Outcome(proc.returncode, proc.stdout, proc.stderr), 2, json_mode=False)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "x").exists() and not (reg_path / "x").exists()


def test_name_of_100_characters_is_accepted(cli: Any, reg_path: Path, make_file: Any) -> None:
    name = "a" * 98 + ".9"
    out = cli("register", name, make_file("m.bin", b"x"), "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["name"] == name


# -- dedup ----------------------------------------------------------------------------------------------


def test_same_bytes_registered_three_times_occupy_one_blob(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    data = os.urandom(200_000)
    a = write_file(tmp_path / "a" / "model.bin", data)
    b = write_file(tmp_path / "b" / "renamed.bin", data)
    digests = []
    for name, src in (("m", a), ("m", b), ("other", a)):
        out = cli("register", name, src, "-R", reg_path, "--json")
        assert out.exit_code == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["files"][0]["digest"] == sha(data)
        digests.append(doc["digest"])
    blobs = blob_files(reg_path)
    assert len(blobs) == 1
    assert blobs[0].name == hashlib.sha256(data).hexdigest() and blobs[0].read_bytes() == data
    # The version digest names the file set: same path and bytes -> same digest; another path -> another.
    assert digests[0] == digests[2] != digests[1]


# -- registry discovery -------------------------------------------------------------------------------


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


# -- references -------------------------------------------------------------------------------------------


def test_references(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v1 = lib_register(reg_path, "m", {"a.bin": b"AAAA"}, tmp_path)
    lib_register(reg_path, "m", {"a.bin": b"BBBB"}, tmp_path)
    v3 = lib_register(reg_path, "m", {"a.bin": b"AAAA"}, tmp_path)  # the same file set as v1
    v4 = lib_register(reg_path, "m", {"a.bin": b"CCCC"}, tmp_path)
    assert v1.digest == v3.digest != v4.digest
    reg = Registry.open(reg_path)
    reg.promote("m@2", "staging")
    reg.promote("m@4", "staging")
    reg.promote("m@3", "production")

    def version_of(ref: str) -> int:
        out = cli("show", ref, "-R", reg_path, "--json")
        assert out.exit_code == 0, (ref, out.stderr)
        return json.loads(out.stdout)["version"]

    hex4 = v4.digest.partition(":")[2]
    assert version_of("m@3") == 3
    assert version_of("m@latest") == 4
    assert version_of("m@staging") == 4, "a stage holding several versions names the newest"
    assert version_of("m@production") == 3
    assert version_of(f"m@sha256:{hex4[:8]}") == 4
    assert version_of(f"m@sha256:{hex4[:20]}") == 4
    assert version_of(f"m@{v4.digest}") == 4
    all_hex = [reg.resolve(f"m@{n}").digest.partition(":")[2] for n in range(1, 5)]
    absent = next(p for p in ("00000000", "11111111", "22222222") if not any(h.startswith(p) for h in all_hex))

    def err(ref: str, code: int) -> str:
        r = cli("show", ref, "-R", reg_path)
        return assert_error(Outcome(r.exit_code, r.stdout, r.stderr), code, json_mode=False)

    ambiguous = err(f"m@sha256:{v1.digest[7:19]}", 2)
    assert "m@1" in ambiguous and "m@3" in ambiguous
    err(f"m@sha256:{absent}", 3)
    err("m@sha256:abc", 2)  # fewer than 8 hex digits
    err("m@archived", 3)  # a stage with nobody in it
    err("m@nowhere", 3)  # well formed: a stage or an alias, and this registry has neither
    err("m@5", 3)
    # promote accepts any reference too
    out = cli("promote", f"m@sha256:{hex4[:10]}", "production", "-R", reg_path, "--json")
    assert out.exit_code == 0 and json.loads(out.stdout)["archived"] == [3]


def test_init_is_idempotent(cli: Any, run: Any, tmp_path: Path) -> None:
    target = tmp_path / "proj"
    target.mkdir()
    (target / ".gitignore").write_text("*.pyc\n")
    with contextlib.chdir(target):
        first = cli("init", "--json")  # PATH defaults to the working directory
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["created"] is True
    gitignore = (target / ".gitignore").read_text()
    assert "*.pyc" in gitignore and "blobs/" in gitignore
    assert re.search(r"^audit\.jsonl\s+merge=union$", (target / ".gitattributes").read_text(), re.MULTILINE)
    before = snapshot(target)
    again = cli("init", target, "--json")
    assert again.exit_code == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["changed"] is False and doc["created"] is False
    proc = run("init", target)
    assert proc.returncode == 0 and proc.stderr == ""
    assert snapshot(target) == before


# -- JSON shapes ----------------------------------------------------------------------------------------


def test_list_shapes_cover_every_configured_stage(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    lib_register(reg_path, "a", {"w": b"1"}, tmp_path)
    lib_register(reg_path, "a", {"w": b"2"}, tmp_path)
    lib_register(reg_path, "b", {"w": b"3"}, tmp_path)
    Registry.open(reg_path).promote("a@2", "production")
    doc = json.loads(cli("list", "-R", reg_path, "--json").stdout)
    assert set(doc) == {"models"}
    by_name = {m["name"]: m for m in doc["models"]}
    assert sorted(by_name) == ["a", "b"]
    for m in doc["models"]:
        assert {"name", "latest_version", "stages"} <= set(m)
        assert list(m["stages"]) == DEFAULT_STAGES
    assert by_name["a"]["latest_version"] == 2
    assert by_name["a"]["stages"] == {"development": [1], "staging": [], "production": 2, "archived": []}
    assert by_name["b"]["stages"] == {"development": [1], "staging": [], "production": None, "archived": []}
    versions = json.loads(cli("list", "a", "-R", reg_path, "--json").stdout)
    assert set(versions) == {"versions"}
    for number, v in enumerate(versions["versions"], start=1):
        assert_version_object(v, "a", number)
    # Filters.
    only_prod = json.loads(cli("list", "--stage", "production", "-R", reg_path, "--json").stdout)
    assert [m["name"] for m in only_prod["models"]] == ["a"]
    dev = json.loads(cli("list", "a", "--stage", "development", "-R", reg_path, "--json").stdout)
    assert [v["version"] for v in dev["versions"]] == [1]
    Registry.open(reg_path).annotate("a@1", set_tags={"team": "growth"})
    tagged = json.loads(cli("list", "a", "--tag", "team=growth", "-R", reg_path, "--json").stdout)
    assert [v["version"] for v in tagged["versions"]] == [1]
    Registry.open(reg_path).annotate("b", set_tags={"team": "risk"})
    tagged = json.loads(cli("list", "--tag", "team=risk", "-R", reg_path, "--json").stdout)
    assert [m["name"] for m in tagged["models"]] == ["b"]


def test_custom_stages_appear_in_list(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    ctx = Ctx(reg_path, tmp_path)

    def custom(d: dict[str, Any]) -> None:
        d["stages"] = {
            "names": ["dev", "qa", "live", "retired"],
            "default": "dev",
            "exclusive": ["live"],
            "archive": "retired",
            "require_reason": [],
        }

    ctx.edit_config(custom)
    lib_register(reg_path, "m", {"w": b"1"}, tmp_path)
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages == {"dev": [1], "qa": [], "live": None, "retired": []}
    lib_register(reg_path, "m", {"w": b"2"}, tmp_path)
    assert cli("promote", "m@1", "live", "-R", reg_path).exit_code == 0
    assert cli("promote", "m@2", "live", "-R", reg_path).exit_code == 0
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages == {"dev": [], "qa": [], "live": 2, "retired": [1]}
    out = cli("promote", "m@1", "production", "-R", reg_path)
    assert out.exit_code == 2 and all(s in out.stderr for s in ("dev", "qa", "live", "retired"))


def test_version_object_fields(cli: Any, reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    src = make_file(tmp_path / "model.onnx", 1234)
    before = datetime.now(UTC)
    out = cli(
        "register",
        "m",
        src,
        "-m",
        "auc=0.91",
        "-m",
        "epochs=12",
        "-p",
        "lr=0.01",
        "-t",
        "team=ml",
        "--description",
        "first cut",
        "--dataset",
        "s3://data/train.csv",
        "-R",
        reg_path,
        "--json",
    )
    assert out.exit_code == 0, out.stderr
    v = json.loads(out.stdout)
    assert_version_object(v, "m", 1)
    created = datetime.fromisoformat(v["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)
    assert v["metrics"] == {"auc": 0.91, "epochs": 12}
    assert type(v["metrics"]["epochs"]) is int
    assert v["params"] == {"lr": "0.01"} and v["tags"] == {"team": "ml"}
    assert v["description"] == "first cut"
    assert v["lineage"]["datasets"] == ["s3://data/train.csv"]
    assert "git" not in v["lineage"] or v["lineage"]["git"] is None, "not inside a git repository"
    assert "ci" not in v["lineage"] or v["lineage"]["ci"] is None, "no CI environment"
    assert [(f["path"], f["size"], f["digest"]) for f in v["files"]] == [("model.onnx", 1234, sha(src.read_bytes()))]
    shown = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)
    assert {k: shown[k] for k in VERSION_KEYS} == {k: v[k] for k in VERSION_KEYS}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_lineage_records_git_state(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    _git(repo, "init", "-q")
    _git(repo, "checkout", "-q", "-b", "feature/x")
    write_file(repo / "train.py", "print('train')\n")
    write_file(repo / "model.bin", b"weights")
    _git(repo, "add", "train.py")
    _git(repo, "commit", "-q", "-m", "initial")
    head = _git(repo, "rev-parse", "HEAD")

    with contextlib.chdir(repo):
        out = cli("register", "m", "model.bin", "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["lineage"]["git"] == {"commit": head, "branch": "feature/x", "dirty": False}

    write_file(repo / "train.py", "print('changed')\n")  # a tracked file with uncommitted changes
    proc = run("register", "m", "model.bin", "-R", reg_path, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["lineage"]["git"] == {"commit": head, "branch": "feature/x", "dirty": True}


def test_lineage_records_ci_run(cli: Any, reg_path: Path, make_file: Any) -> None:
    src = make_file("m.bin", b"x")
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_REPOSITORY": "acme/models",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    out = cli("register", "m", src, "-R", reg_path, "--json", env=github)
    assert out.exit_code == 0, out.stderr
    ci = json.loads(out.stdout)["lineage"]["ci"]
    assert set(ci) >= {"provider", "run_id", "url"}
    assert "github" in ci["provider"].lower()
    assert str(ci["run_id"]) == "4242"
    assert ci["url"] == "https://github.com/acme/models/actions/runs/4242"
    gitlab = {"GITLAB_CI": "true", "CI_PIPELINE_ID": "77", "CI_PIPELINE_URL": "https://gitlab.example/p/-/pipelines/77"}
    out = cli("register", "m", src, "-R", reg_path, "--json", env=gitlab)
    ci = json.loads(out.stdout)["lineage"]["ci"]
    assert "gitlab" in ci["provider"].lower() and str(ci["run_id"]) == "77"
    assert ci["url"] == "https://gitlab.example/p/-/pipelines/77"


# -- register details ---------------------------------------------------------------------------------


def test_register_directories_keep_relative_paths(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    tree = {"model.bin": b"m", "tokenizer/vocab.txt": b"a\nb\n", "tokenizer/merges/rules.txt": b"r"}
    for rel, data in tree.items():
        write_file(tmp_path / "export" / rel, data)
    extra = write_file(tmp_path / "README.md", b"# card")
    out = cli("register", "m", tmp_path / "export", extra, "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    files = {f["path"]: (f["size"], f["digest"]) for f in json.loads(out.stdout)["files"]}
    expected = {**tree, "README.md": b"# card"}
    assert files == {rel: (len(d), sha(d)) for rel, d in expected.items()}
    Registry.open(reg_path).promote("m@1", "production")
    assert cli("get-production", "m", "-o", tmp_path / "got", "-R", reg_path).exit_code == 0
    assert read_tree(tmp_path / "got") == expected


def test_register_symlinks(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    data = os.urandom(4096)
    target = write_file(tmp_path / "real" / "weights-v7.bin", data)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "model.bin").symlink_to(target)
    (tmp_path / "single.bin").symlink_to(target)
    out = cli("register", "m", tmp_path / "single.bin", bundle, "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    files = {f["path"]: (f["size"], f["digest"]) for f in json.loads(out.stdout)["files"]}
    assert files == {"single.bin": (4096, sha(data)), "model.bin": (4096, sha(data))}
    stored = blob_of(reg_path, sha(data))
    assert not stored.is_symlink() and stored.read_bytes() == data
    target.write_bytes(b"changed later")  # the registry kept the bytes, not the link
    Registry.open(reg_path).promote("m@1", "production")
    dest = tmp_path / "got"
    assert cli("get-production", "m", "-o", dest, "-R", reg_path).exit_code == 0
    assert not (dest / "model.bin").is_symlink()
    assert read_tree(dest) == {"single.bin": data, "model.bin": data}


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_register_metrics_file(cli: Any, reg_path: Path, make_file: Any, fmt: str) -> None:
    text = '{"accuracy": 0.93, "f1": 0.9, "n": 10}' if fmt == "json" else "accuracy: 0.93\nf1: 0.9\nn: 10\n"
    mfile = make_file(f"metrics.{fmt}", text)
    out = cli(
        "register", "m", make_file("m.bin", b"x"), "--metrics-file", mfile, "-m", "loss=0.1", "-R", reg_path, "--json"
    )
    assert out.exit_code == 0, out.stderr
    assert json.loads(out.stdout)["metrics"] == {"accuracy": 0.93, "f1": 0.9, "n": 10, "loss": 0.1}
    bad = make_file(f"bad.{fmt}", '{"accuracy": "high"}' if fmt == "json" else "accuracy: high\n")
    out = cli("register", "m", make_file("m.bin", b"x"), "--metrics-file", bad, "-R", reg_path)
    assert out.exit_code == 2 and "accuracy" in out.stderr


def test_register_repeatable_options_and_stage(cli: Any, reg_path: Path, make_file: Any) -> None:
    out = cli(
        "register",
        "m",
        make_file("m.bin", b"x"),
        "--param",
        "lr=0.1",
        "--param",
        "depth=6",
        "--tag",
        "team=ml",
        "--tag",
        "task=churn",
        "--dataset",
        "train.csv",
        "--dataset",
        "s3://b/val.csv",
        "--stage",
        "staging",
        "-R",
        reg_path,
        "--json",
    )
    assert out.exit_code == 0, out.stderr
    v = json.loads(out.stdout)
    assert v["params"] == {"lr": "0.1", "depth": "6"}
    assert v["tags"] == {"team": "ml", "task": "churn"}
    assert v["lineage"]["datasets"] == ["train.csv", "s3://b/val.csv"]
    assert v["stage"] == "staging"
    stages = json.loads(cli("list", "-R", reg_path, "--json").stdout)["models"][0]["stages"]
    assert stages["staging"] == [1] and stages["development"] == []
    assert json.loads(cli("show", "m@staging", "-R", reg_path, "--json").stdout)["version"] == 1


def test_register_into_exclusive_stage_archives_holder(cli: Any, reg_path: Path, make_file: Any) -> None:
    for content in (b"1", b"2"):
        out = cli("register", "m", make_file("m.bin", content), "--stage", "production", "-R", reg_path)
        assert out.exit_code == 0, out.stderr
    versions = json.loads(cli("list", "m", "-R", reg_path, "--json").stdout)["versions"]
    assert [(v["version"], v["stage"]) for v in versions] == [(1, "archived"), (2, "production")]


def test_annotate_tags_and_untag(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed()
    out = cli("annotate", "m@1", "-t", "a=1", "-t", "b=2", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["tags"] == {"a": "1", "b": "2"}
    out = cli("annotate", "m@1", "--untag", "a", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["tags"] == {"b": "2"}
    v = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)
    assert v["tags"] == {"b": "2"}
    assert [e["action"] for e in v["history"]].count("annotate") == 2
    before = snapshot(reg_path, ignore=CACHES)
    out = cli("annotate", "m@1", "-t", "b=2", "-R", reg_path, "--json")
    assert json.loads(out.stdout)["changed"] is False
    assert snapshot(reg_path, ignore=CACHES) == before


# -- human output -----------------------------------------------------------------------------------


HUMAN_COMMANDS: list[tuple[list[str], tuple[str, ...]]] = [
    # (arguments, data the human output must show)
    (["list"], ("m", "production")),
    (["list", "m"], ("production", "acc", "0.9")),
    (["show", "m"], ("m", "production", "acc")),
    (["show", "m@1"], ("m@1", "model.bin", "production")),
    (["get-production", "m"], ("m@1", "model.bin")),
    (["promote", "m@1", "production"], ("m@1", "production")),
    (["annotate", "m", "-d", "hello"], ("m",)),
]


def _seed_for_human(reg: Path, tmp: Path) -> None:
    lib_register(reg, "m", {"model.bin": b"weights"}, tmp, metrics={"acc": 0.9})
    Registry.open(reg).promote("m@1", "production")


def test_human_output_is_plain_when_piped(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    for args, shown in HUMAN_COMMANDS:
        r = cli(*args, "-R", reg_path)
        assert r.exit_code == 0, (args, r.stderr)
        assert not ANSI.search(r.output), args
        assert all(text in r.stdout for text in shown), (args, r.stdout)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cli("list", "-R", reg_path).stdout)  # human text, not JSON, without --json
    for env in ({}, {"NO_COLOR": "1"}):
        proc = run("show", "m@1", "-R", reg_path, env={**env, "TERM": "xterm-256color"})
        assert proc.returncode == 0 and "m@1" in proc.stdout
        assert not ANSI.search(proc.stdout + proc.stderr)


def _run_on_tty(args: list[Any], env: dict[str, str]) -> tuple[int, str]:
    """Run modelreg with stdout on a pseudo-terminal; return (exit status, what the terminal got)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", *map(str, args)],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=full_env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_gets_rich_output_unless_no_color(reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    code, rich_text = _run_on_tty(["list", "-R", reg_path], {})
    assert code == 0 and "m" in rich_text
    assert ANSI.search(rich_text), "a terminal gets rich output"
    code, plain = _run_on_tty(["list", "-R", reg_path], {"NO_COLOR": "1"})
    assert code == 0 and "m" in plain
    assert not ANSI.search(plain), "NO_COLOR means no escape codes"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_output_treats_user_text_literally(reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    Registry.open(reg_path).annotate("m", description="[/x] uses [bold]brackets[/bold]")
    code, text = _run_on_tty(["show", "m", "-R", reg_path], {})
    assert code == 0, text
    assert "[/x]" in text and "[bold]" in text
