"""The command line driven two ways (in process and as a real process) and what a version object
must hold: helpers shared by the command tests."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from conftest import AUTHOR, write_file

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
