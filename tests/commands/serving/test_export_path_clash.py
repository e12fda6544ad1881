"""A manifest listing a file ``a`` and a file ``a/b`` is refused before anything is written, and
``register`` never makes one."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot

from modelreg.records.manifest import FileEntry, file_set_digest


def _clashing_version(run: Callable[..., Any], reg: Path, tmp_path: Path) -> None:
    """m@1 registered with files ``a`` and ``c/b``, then its manifest edited to list ``a/b``
    (the version digest recomputed, as a careful editor would)."""
    src = tmp_path / "src"
    (src / "c").mkdir(parents=True)
    (src / "a").write_bytes(b"file a\n")
    (src / "c" / "b").write_bytes(b"file b\n")
    assert run("register", "m", src, "-R", reg).returncode == 0
    manifest = reg / "models" / "m" / "versions" / "1.yaml"
    text = manifest.read_text().replace("path: c/b", "path: a/b")
    files = [FileEntry(p, int(n), d) for p, n, d in re.findall(r"path: (\S+)\n  size: (\d+)\n  digest: (\S+)", text)]
    text = re.sub(r"^digest: \S+", f"digest: {file_set_digest(files)}", text, flags=re.M)
    manifest.write_text(text)


@pytest.mark.parametrize("how", ["export", "get"])
def test_a_new_destination_is_never_created(how: str, run: Callable[..., Any], reg_path: Path, tmp_path: Path) -> None:
    _clashing_version(run, reg_path, tmp_path)
    dest = tmp_path / "out"
    args = ("export", "m@1", dest) if how == "export" else ("get", "m@1", "--output", dest)
    proc = run(*args, "-R", reg_path)
    assert proc.returncode == 5, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: manifest lists 'a' as a file and 'a/b' inside it: no directory can hold both (the manifest was edited)"
    ]
    assert not dest.exists()


def test_an_existing_destination_is_left_untouched(run: Callable[..., Any], reg_path: Path, tmp_path: Path) -> None:
    _clashing_version(run, reg_path, tmp_path)
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    before = snapshot(dest)
    proc = run("export", "m@1", dest, "-R", reg_path)
    assert proc.returncode == 5, proc.stderr
    assert "mrtmp" not in proc.stderr and "'a/b'" in proc.stderr
    assert snapshot(dest) == before
    assert sorted(p.name for p in dest.iterdir()) == ["notes.txt"]


def test_verify_names_the_manifest(
    cli: Callable[..., Any], run: Callable[..., Any], reg_path: Path, tmp_path: Path
) -> None:
    _clashing_version(run, reg_path, tmp_path)
    result = cli("verify", "-R", reg_path)
    assert result.exit_code == 5
    assert "manifest lists 'a' as a file and 'a/b' inside it" in result.stdout


def test_register_refuses_inputs_that_clash(run: Callable[..., Any], reg_path: Path, tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a").write_bytes(b"a file")
    (tmp_path / "two" / "a").mkdir(parents=True)
    (tmp_path / "two" / "a" / "b").write_bytes(b"a file in a folder a")
    before = snapshot(reg_path)
    proc = run("register", "m", tmp_path / "one" / "a", tmp_path / "two", "-R", reg_path)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "'a' as a file and 'a/b' inside a folder of that name" in proc.stderr
    assert snapshot(reg_path) == before


def test_register_refuses_an_env_file_under_a_file_named_environment(
    run: Callable[..., Any], reg_path: Path, tmp_path: Path
) -> None:
    (tmp_path / "environment").write_bytes(b"a file named environment")
    req = tmp_path / "requirements.txt"
    req.write_text("numpy\n")
    proc = run("register", "m", tmp_path / "environment", "--env-file", req, "-R", reg_path)
    assert proc.returncode == 2, proc.stderr
    assert "'environment' as a file and 'environment/requirements.txt'" in proc.stderr
