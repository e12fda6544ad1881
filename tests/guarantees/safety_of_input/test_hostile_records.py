"""Issue 3: hostile registry files are refused, never executed, never a hang or a traceback."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot, write_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.results import ok

from modelreg import Registry
from modelreg.errors import ModelregError

ORIGINAL = b"the registered bytes\n"


def code_of(result: Any) -> int:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code


@pytest.fixture
def reg(cli: Any, tmp_path: Path) -> Path:
    """m@1 (a.bin) in production."""
    path = tmp_path / "reg"
    ok(cli("init", path))
    write_file(tmp_path / "in" / "a.bin", ORIGINAL)
    ok(cli("register", "m", tmp_path / "in" / "a.bin", "-R", path))
    ok(cli("promote", "m@1", "production", "-R", path))  # writes the stage file too
    return path


def manifest(reg: Path) -> Path:
    return reg / "models" / "m" / "versions" / "1.yaml"


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghij"
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def assert_refused(code: int, stdout: str, stderr: str, needle: str) -> None:
    assert code in (2, 5), (code, stdout, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert needle in stdout + stderr, (stdout, stderr)


# -- code execution ----------------------------------------------------------------------------

PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch PWNED"]\n',
    "!!python/object/new:os.system [touch PWNED]\n",
    "format_version: 1\nname: m\ndescription: !!python/object/apply:subprocess.check_output [[touch, PWNED]]\n",
    "format_version: 1\nname: !!python/name:os.system\n",
]


@pytest.mark.parametrize(("doc", "via"), [(PYTHON_TAGS[0], "subprocess"), *((doc, "clirunner") for doc in PYTHON_TAGS)])
def test_python_tags_are_refused_and_never_run(
    cli: Any, run: Any, reg: Path, tmp_path: Path, doc: str, via: str
) -> None:
    manifest(reg).write_text(doc)
    before = snapshot(reg, ignore=[".modelreg"])
    for args in (
        ["show", "m@1"],
        ["get-production", "m"],
        ["get-production", "m", "--path"],
        ["get-production", "m", "--output", tmp_path / "out"],
        ["export", "m@1", tmp_path / "out"],
        ["verify"],
    ):
        if via == "subprocess":
            proc = run(*args, "-R", reg, cwd=tmp_path)
            code, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
        else:
            result = cli(*args, "-R", reg)
            code, stdout, stderr = code_of(result), result.stdout, result.stderr
        assert_refused(code, stdout, stderr, "versions/1.yaml")
        if args[0] != "verify":
            assert code == 5 and stdout == ""
    result = cli("show", "m@1", "-R", reg, "--json")
    assert code_of(result) == 5 and "versions/1.yaml" in result.stderr
    assert json.loads(result.stderr.splitlines()[-1])["error"]["code"] == "corrupt_manifest"
    assert not list(tmp_path.rglob("PWNED"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert snapshot(reg, ignore=[".modelreg"]) == before  # the registry is left untouched


def test_python_tags_in_model_and_stage_files(cli: Any, reg: Path, tmp_path: Path) -> None:
    for name in ("model.yaml", "stages.yaml"):
        path = reg / "models" / "m" / name
        saved = path.read_bytes()
        path.write_text('!!python/object/apply:os.system ["touch PWNED"]\n')
        for args in (["list"], ["show", "m"], ["get-production", "m"], ["verify"]):
            result = cli(*args, "-R", reg)
            assert_refused(code_of(result), result.stdout, result.stderr, name)
        path.write_bytes(saved)
    assert not list(tmp_path.rglob("PWNED"))
    assert code_of(cli("verify", "-R", reg)) == 0


# -- resource exhaustion -----------------------------------------------------------------------


def test_billion_laughs_is_refused_quickly(cli: Any, run: Any, reg: Path) -> None:
    manifest(reg).write_text(billion_laughs())

    started = time.monotonic()
    with pytest.raises(ModelregError) as caught:
        Registry.open(reg).resolve("m@1")
    assert time.monotonic() - started < 1.0
    assert caught.value.exit_code in (2, 5) and "versions/1.yaml" in caught.value.message

    for args in (["show", "m@1"], ["get-production", "m"], ["verify"]):
        started = time.monotonic()
        proc = run(*args, "-R", reg)
        elapsed = time.monotonic() - started
        assert_refused(proc.returncode, proc.stdout, proc.stderr, "versions/1.yaml")
        assert elapsed < 5.0, f"{args} took {elapsed:.1f}s"  # generous: includes interpreter start-up
    result = cli("show", "m@1", "-R", reg)
    assert_refused(code_of(result), result.stdout, result.stderr, "versions/1.yaml")
    assert "alias" in result.stderr


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param("[" * 100_000, id="deep-flow"),
        pytest.param("[" * 999 + "]" * 999, id="deep-flow-999"),
        pytest.param("- " * 30_000 + "x", id="deep-block"),
        pytest.param("a: &x 1\nb: *x\n", id="single-alias"),
        pytest.param("&x [*x]\n", id="self-alias"),
    ],
)
def test_deep_or_aliased_documents_are_refused(cli: Any, reg: Path, doc: str) -> None:
    manifest(reg).write_text(doc)
    started = time.monotonic()
    result = cli("show", "m@1", "-R", reg)
    assert_refused(code_of(result), result.stdout, result.stderr, "versions/1.yaml")
    assert time.monotonic() - started < 1.0


def test_oversized_manifest_is_refused_naming_the_file(cli: Any, run: Any, reg: Path) -> None:
    path = manifest(reg)
    path.write_bytes(path.read_bytes() + b"# " + b"x" * (2 << 20) + b"\n")
    for args in (["show", "m@1"], ["get-production", "m"], ["verify"]):
        proc = run(*args, "-R", reg)
        assert_refused(proc.returncode, proc.stdout, proc.stderr, "versions/1.yaml")
    result = cli("show", "m@1", "-R", reg)
    assert code_of(result) == 5 and "larger than" in result.stderr


def test_oversized_model_file_is_refused(cli: Any, reg: Path) -> None:
    path = reg / "models" / "m" / "model.yaml"
    path.write_bytes(path.read_bytes() + b"# " + b"x" * (2 << 20) + b"\n")
    result = cli("list", "-R", reg)
    assert_refused(code_of(result), result.stdout, result.stderr, "model.yaml")


# -- modelreg.toml -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b"this is = = not toml [\n", id="syntax"),
        pytest.param(b"\xff\xfe not utf-8", id="encoding"),
        pytest.param(b"[stages]\nnames = ['development']\n", id="no-format-version"),
        pytest.param(b"format_version = 1\nstages = 3\n", id="wrong-type"),
        pytest.param(b"format_version = 1\n# " + b"x" * (2 << 20) + b"\n", id="oversized"),
    ],
)
def test_malformed_config_exits_2(cli: Any, run: Any, reg: Path, text: bytes) -> None:
    (reg / "modelreg.toml").write_bytes(text)
    before = snapshot(reg, ignore=[".modelreg"])
    proc = run("list", "-R", reg)
    assert proc.returncode == 2, proc.stderr
    assert "modelreg.toml" in proc.stderr and "Traceback" not in proc.stderr and proc.stdout == ""
    for args in (["get-production", "m"], ["verify"], ["promote", "m@1", "staging"]):
        result = cli(*args, "-R", reg, "--json")
        assert code_of(result) == 2 and "modelreg.toml" in result.stderr
    assert snapshot(reg, ignore=[".modelreg"]) == before


# -- manifests holding values JSON cannot carry ------------------------------------------------


@pytest.mark.parametrize("value", ["2020-01-01", "!!binary aGVsbG8=", "!!set {a: null}"])
def test_non_json_values_in_a_manifest_are_not_an_internal_error(cli: Any, reg: Path, value: str) -> None:
    path = manifest(reg)
    text = path.read_text()
    assert "\nlineage:\n" in text
    path.write_text(text.replace("\nlineage:\n", f"\nlineage:\n  injected: {value}\n"))
    result = cli("show", "m@1", "-R", reg, "--json")
    code = code_of(result)
    assert code in (0, 5), result.stderr
    if code == 0:
        json.loads(result.stdout)
    else:
        assert "versions/1.yaml" in result.stderr
        assert code_of(cli("verify", "-R", reg)) == 5  # what show refuses, verify must report


def test_standard_tags_are_harmless_and_non_plain_values_refused(cli: Any, reg: Path) -> None:
    # A standard tag that yields a plain value is just that value; one that yields anything a
    # JSON document cannot hold (bytes, sets, dates) makes the manifest invalid.
    path = manifest(reg)
    original = path.read_text()
    path.write_text(original.replace("description: ''", "description: !!str tagged"))
    shown = cli("show", "m@1", "--json", "-R", reg)
    assert code_of(shown) == 0
    assert json.loads(shown.stdout)["description"] == "tagged"
    path.write_text(original.replace("description: ''", "description: !!binary aGVsbG8="))
    assert code_of(cli("show", "m@1", "-R", reg)) == 5


# -- arbitrary bytes ---------------------------------------------------------------------------


YAMLISH = st.lists(
    st.sampled_from(
        [
            "a",
            ":",
            " ",
            "\n",
            "-",
            "[",
            "]",
            "{",
            "}",
            "&x",
            "*x",
            "!!",
            "!",
            "'",
            '"',
            "#",
            "?",
            "|",
            ">",
            "files",
            "name: m",
            "version: 1",
            "format_version: 1",
            "\t",
            "\x00",
            "\ufeff",
            "%YAML 1.1",
            "---",
        ]
    ),
    max_size=40,
).map(lambda parts: "".join(parts).encode())


def test_arbitrary_manifest_bytes_only_raise_typed_errors(reg: Path) -> None:
    registry = Registry.open(reg)
    path = manifest(reg)

    @settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(data=st.one_of(st.binary(max_size=2048), YAMLISH, st.text(max_size=512).map(str.encode)))
    def check(data: bytes) -> None:
        path.write_bytes(data)
        try:
            version = registry.resolve("m@1")
        except ModelregError as exc:
            assert type(exc) is not ModelregError, exc.message  # the untyped base is exit 1
            assert exc.exit_code in (2, 3, 5), (type(exc), exc.message)
            assert "1.yaml" in exc.message, exc.message
        else:  # practically unreachable: a valid manifest of m@1 must at least serialise
            json.dumps(version.to_json())

    check()
