"""Format 1 stays readable; ``upgrade`` converts it in place, and a killed upgrade finishes when run again."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support.chunks import MiB, recipes, set_format, store_bytes, whole_blobs


def _format1_registry(run, reg_path: Path, tmp_path: Path, make_file, count: int = 3) -> list[Path]:
    set_format(reg_path, 1)
    files = []
    first = make_file(tmp_path / "v0" / "model.bin", 24 * MiB).read_bytes()
    for i in range(count):
        data = bytearray(first)  # each version shares most bytes with the first
        data[i * MiB : i * MiB + 100_000] = bytes(100_000)
        base = tmp_path / f"v{i}" / "model.bin"
        base.parent.mkdir(exist_ok=True)
        base.write_bytes(bytes(data))
        small = make_file(tmp_path / f"v{i}" / "config.json", f'{{"v": {i}}}')
        registered = run("register", "m", base, small, "-R", reg_path)
        assert registered.returncode == 0, registered.stderr
        assert "modelreg upgrade" in registered.stderr  # a write to a format-1 registry says so
        files.append(base)
    return files


def test_a_format_1_registry_is_read_as_it_is_and_upgraded_in_place(run, reg_path, tmp_path, make_file):
    files = _format1_registry(run, reg_path, tmp_path, make_file)
    assert len(whole_blobs(reg_path)) == 6 and not recipes(reg_path)  # written as format 1
    got = run("get", "m@2", "--path", "-R", reg_path)
    assert got.returncode == 0, got.stderr
    assert (Path(got.stdout.strip()) / "model.bin").read_bytes() == files[1].read_bytes()
    assert run("verify", "-R", reg_path).returncode == 0
    before = store_bytes(reg_path)

    upgraded = run("upgrade", "-R", reg_path, "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    report = json.loads(upgraded.stdout)
    assert (report["from_format"], report["to_format"], len(report["converted"])) == (1, 2, 3)
    assert "format_version = 2" in (reg_path / "modelreg.toml").read_text()
    assert len(whole_blobs(reg_path)) == 3 and len(recipes(reg_path)) == 3  # the small files stay blobs
    assert store_bytes(reg_path) < before / 2
    for i, f in enumerate(files):
        out = tmp_path / f"out{i}"
        assert run("export", f"m@{i + 1}", out, "-R", reg_path).returncode == 0
        assert (out / "model.bin").read_bytes() == f.read_bytes()
    assert run("verify", "-R", reg_path).returncode == 0
    stats = json.loads(run("stats", "-R", reg_path, "--json").stdout)
    assert stats["format_version"] == 2 and stats["total"]["saving"] > 0.5

    again = json.loads(run("upgrade", "-R", reg_path, "--json").stdout)
    assert (again["from_format"], again["converted"]) == (2, [])
    registered = run("register", "m", files[0], "-R", reg_path)
    assert registered.returncode == 0 and "upgrade" not in registered.stderr


def test_an_upgrade_killed_at_any_point_finishes_when_run_again(run, reg_path, tmp_path, make_file):
    files = _format1_registry(run, reg_path, tmp_path, make_file, count=4)
    digests = {p.name for p in whole_blobs(reg_path)}
    halfway = 0  # kills that left some large files converted and some not

    def upgrade() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "modelreg", "upgrade", "-R", str(reg_path)]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def killed(proc: subprocess.Popen[bytes]) -> None:
        nonlocal halfway
        proc.kill()
        proc.wait()
        # Whatever the instant, every version can still be served and verify finds nothing wrong.
        assert run("verify", "-R", reg_path).returncode == 0
        present = {p.name for p in whole_blobs(reg_path)} | {p.name for p in recipes(reg_path)}
        assert digests <= present
        if recipes(reg_path) and any(p.stat().st_size > MiB for p in whole_blobs(reg_path)):
            halfway += 1

    # Killed the moment its first large file is converted (a file takes tens of milliseconds,
    # too short a window for blind instants to be sure of), then at instants spread further on.
    proc = upgrade()
    while proc.poll() is None and not recipes(reg_path):
        time.sleep(0.001)
    killed(proc)
    delay = 0.05
    while delay < 10 and any(p.stat().st_size > MiB for p in whole_blobs(reg_path)):
        proc = upgrade()
        time.sleep(delay)
        killed(proc)
        delay += 0.02
    assert halfway, "no kill landed in the middle of the conversion"
    finished = run("upgrade", "-R", reg_path, "--json")
    assert finished.returncode == 0, finished.stderr
    assert "format_version = 2" in (reg_path / "modelreg.toml").read_text()
    assert all(p.stat().st_size < MiB for p in whole_blobs(reg_path))
    for i, f in enumerate(files):
        got = run("get", f"m@{i + 1}", "--path", "-R", reg_path)
        assert (Path(got.stdout.strip()) / "model.bin").read_bytes() == f.read_bytes()
    swept = json.loads(run("gc", "--grace", "0", "-R", reg_path, "--json").stdout)
    assert swept["recipes_removed"] == []
    assert run("verify", "-R", reg_path).returncode == 0


def test_a_format_1_remote_blob_is_pulled_into_a_format_2_registry_as_chunks(run, reg_path, tmp_path, make_file):
    from support.remotes import configure_remote

    (tmp_path / "shared").mkdir()
    configure_remote(reg_path, "../shared")
    files = _format1_registry(run, reg_path, tmp_path, make_file, count=1)
    assert run("push", "-R", reg_path).returncode == 0  # whole blobs, as format 1 keeps them
    assert not (tmp_path / "shared" / "packs").exists()
    teammate = tmp_path / "teammate"
    teammate.mkdir()
    for name in ("modelreg.toml", "audit.jsonl"):
        (teammate / name).write_bytes((reg_path / name).read_bytes())
    import shutil

    shutil.copytree(reg_path / "models", teammate / "models")
    set_format(teammate, 2)
    pulled = run("pull", "-R", teammate, "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert len(recipes(teammate)) == 1
    got = run("get", "m", "--path", "-R", teammate)
    assert (Path(got.stdout.strip()) / "model.bin").read_bytes() == files[0].read_bytes()
