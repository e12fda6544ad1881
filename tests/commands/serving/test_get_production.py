"""get-production: the served copy is git-ignored and repaired, verified, and --output refuses a file."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from conftest import write_file

from modelreg import Registry


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


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


def read_tree(directory: Path) -> dict[str, bytes]:
    """``{relpath: bytes}`` of the regular files under ``directory``."""
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


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


def test_integrity_failure_on_path_too(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    v = Ctx(reg_path, tmp_path).seed(production=True)
    flip_byte(blob_of(reg_path, v.files[0].digest), offset=0)
    out = cli("get-production", "m", "--path", "-R", reg_path)
    assert_error(Outcome(out.exit_code, out.stdout, out.stderr), 5, json_mode=False)


def test_output_onto_a_file_is_usage_error(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed(production=True)
    target = write_file(tmp_path / "not-a-dir", b"keep me")
    r = cli("get-production", "m", "--output", target, "-R", reg_path)
    assert target.read_bytes() == b"keep me"
    assert_error(Outcome(r.exit_code, r.stdout, r.stderr), 2, json_mode=False, needles=("not-a-dir",))
