"""pull and get from a directory remote cost what they move: only the indexes of the packs that
hold the wanted chunks are read (a file's locator names them), and a pull holds a buffer per
``--jobs``, not the model. Real processes, the memory ones under an address-space cap."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support.capped import run_capped
from support.procs import child_env, modelreg_cmd
from support.remote_bulk import add_other_packs

TRACKED = ("modelreg.toml", "audit.jsonl", "models")
CAP_MIB = 160  # a pull of a 96 MiB model needs about 60 MiB resident here


def _mr(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        modelreg_cmd(*args), capture_output=True, text=True, env=child_env(), timeout=300, check=False
    )


def _ok(*args: object) -> str:
    proc = _mr(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _origin(tmp_path: Path, mib: int) -> tuple[Path, Path, str]:
    """A format-2 registry with one model of ``mib`` MiB pushed to a directory remote."""
    remote = tmp_path / "remote"
    remote.mkdir()
    origin = tmp_path / "origin"
    _ok("init", origin)
    toml = origin / "modelreg.toml"
    head, _, _ = toml.read_text().partition("[remote]")
    toml.write_text(head + f'[remote]\nurl = "{remote}"\npush_on_register = false\n')
    src = tmp_path / "src" / "model.bin"
    src.parent.mkdir()
    sha = hashlib.sha256()
    with open(src, "wb") as fh:
        for i in range(mib):
            block = hashlib.sha256(f"{i}".encode()).digest() * (1 << 15)
            sha.update(block)
            fh.write(block)
    _ok("register", "m", src, "-R", origin)
    _ok("push", "-R", origin)
    src.unlink()
    return origin, remote, "sha256:" + sha.hexdigest()


def _clone(origin: Path, dest: Path) -> Path:
    dest.mkdir()
    for name in TRACKED:
        if (origin / name).is_dir():
            shutil.copytree(origin / name, dest / name)
        else:
            shutil.copy2(origin / name, dest / name)
    return dest


def _digest_of(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            sha.update(block)
    return "sha256:" + sha.hexdigest()


def _corrupt_indexes(remote: Path, count: int) -> list[Path]:
    """Index objects of packs nobody needs whose bytes do not hash to their names: reading one
    is seen (it is quarantined, with a warning)."""
    made = []
    for _ in range(count):
        name = os.urandom(32).hex()
        (remote / "packs" / f"{name}.pack").write_bytes(b"\0" * 100)
        idx = remote / "packs" / f"{name}.idx"
        idx.write_bytes(os.urandom(200))
        made.append(idx)
    return made


def test_pull_reads_only_the_indexes_of_the_packs_it_needs(tmp_path: Path) -> None:
    origin, remote, digest = _origin(tmp_path, 12)
    assert list((remote / "locators").iterdir())  # push wrote the file's locator
    unrelated = _corrupt_indexes(remote, 20)
    teammate = _clone(origin, tmp_path / "teammate")
    proc = _mr("pull", "-R", teammate)
    assert proc.returncode == 0, proc.stderr
    assert "quarantined" not in proc.stderr
    assert all(idx.exists() for idx in unrelated) and not (remote / "quarantine").exists()
    out = tmp_path / "out"
    _ok("get", "m@1", "--output", out, "-R", _clone(origin, tmp_path / "getter"))
    assert _digest_of(out / "model.bin") == digest
    assert all(idx.exists() for idx in unrelated)


def test_a_remote_without_locators_is_read_and_push_adds_them(tmp_path: Path) -> None:
    """An older modelreg's remote: pull looks through every index (and so meets the corrupt
    ones), and the next push of a file already there writes its locator."""
    origin, remote, _ = _origin(tmp_path, 12)
    shutil.rmtree(remote / "locators")
    unrelated = _corrupt_indexes(remote, 3)
    teammate = _clone(origin, tmp_path / "teammate")
    proc = _mr("pull", "-R", teammate)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("quarantined") == 3 and not any(idx.exists() for idx in unrelated)
    _ok("verify", "-R", teammate)
    _ok("push", "-R", origin)
    assert len(list((remote / "locators").iterdir())) == 1
    again = _clone(origin, tmp_path / "again")
    _corrupt_indexes(remote, 3)
    proc = _mr("pull", "-R", again)
    assert proc.returncode == 0 and "quarantined" not in proc.stderr, proc.stderr


def test_a_stale_locator_falls_back_to_the_indexes(tmp_path: Path) -> None:
    """A locator naming packs that do not hold the chunks (or do not exist) is only a hint."""
    origin, remote, digest = _origin(tmp_path, 12)
    (locator,) = (remote / "locators").iterdir()
    data = locator.read_bytes()
    locator.write_bytes(data[:44] + (1).to_bytes(4, "little") + os.urandom(32))
    teammate = _clone(origin, tmp_path / "teammate")
    _ok("pull", "-R", teammate)
    out = tmp_path / "out"
    _ok("get", "m@1", "--output", out, "-R", teammate)
    assert _digest_of(out / "model.bin") == digest


def test_pulling_from_a_crowded_remote_does_not_load_its_chunk_map(tmp_path: Path) -> None:
    origin, remote, _ = _origin(tmp_path, 12)
    add_other_packs(remote, 400)  # 400,000 chunks of other files
    env = {"MALLOC_ARENA_MAX": "2"}  # address space, not memory, is capped: no per-thread arenas
    proc = run_capped("pull", "-R", _clone(origin, tmp_path / "teammate"), "--jobs", 2, cap_mib=CAP_MIB, env=env)
    assert proc.returncode == 0, proc.stderr[-800:]


@pytest.mark.parametrize("jobs", [1, 2])
def test_pull_memory_follows_jobs_not_the_model(tmp_path: Path, jobs: int) -> None:
    origin, _, digest = _origin(tmp_path, 96)
    teammate = _clone(origin, tmp_path / "teammate")
    env = {"MALLOC_ARENA_MAX": "2"}
    proc = run_capped("pull", "-R", teammate, "--jobs", jobs, cap_mib=CAP_MIB, env=env)
    assert proc.returncode == 0, proc.stderr[-800:]
    out = tmp_path / "out"
    _ok("get", "m@1", "--output", out, "-R", teammate)
    assert _digest_of(out / "model.bin") == digest
