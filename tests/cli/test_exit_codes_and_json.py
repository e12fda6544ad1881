"""Exit codes, exactly one JSON document, one-line errors without a traceback."""

from __future__ import annotations

import contextlib
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from conftest import AUTHOR, snapshot, write_file
from filelock import FileLock

from modelreg import Registry

DEFAULT_STAGES = ["development", "staging", "production", "archived"]


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


def lib_register(reg: Path, name: str, files: dict[str, bytes], tmp: Path, **kwargs: Any) -> Any:
    """Register a version through the library (fast setup for CLI tests)."""
    src = tmp / f"src-{name}-{len(list(tmp.glob('src-*')))}"
    for rel, data in files.items():
        write_file(src / rel, data)
    version, _ = Registry.open(reg).register(name, [src], **kwargs)
    return version


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
