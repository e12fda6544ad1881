"""FIFOs, links and /dev/zero where the registry expects a file: ignored, refused or failed fast, never a hang."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from support.governance import refused
from support.procs import run_modelreg as _modelreg
from support.results import ok_run

from modelreg import Registry


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_a_fifo_in_the_parse_cache_is_ignored(served: Path) -> None:
    entries = [p for p in (served / ".modelreg" / "cache" / "parsed").rglob("*") if p.is_file()]
    assert entries
    for entry in entries:
        _replace_with_fifo(entry)
    shown = json.loads(ok_run(_modelreg("show", "m@2", "--json", "-R", served)))
    assert shown["version"] == 2


def test_a_fifo_as_the_served_copy_stamp_is_ignored(served: Path) -> None:
    stamps = list((served / ".modelreg" / "cache" / "versions").glob("*.stamp"))
    assert len(stamps) == 1
    _replace_with_fifo(stamps[0])
    path = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    assert (path / "w2.bin").read_text() == "weights 2"


def test_a_fifo_in_the_history_view_is_ignored(served: Path) -> None:
    views = [p for p in (served / ".modelreg" / "cache" / "history").iterdir() if p.is_file()]
    assert views
    for view in views:
        _replace_with_fifo(view)
    entries = json.loads(ok_run(_modelreg("log", "m", "--json", "-R", served)))["entries"]
    assert [e["action"] for e in entries][:3] == ["register", "promote", "register"]
    assert json.loads(ok_run(_modelreg("show", "m@production~1", "--json", "-R", served)))["version"] == 1


def test_a_fifo_as_an_output_record_is_ignored(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    ok_run(_modelreg("export", "m@2", dest, "-R", served))
    records = list((served / ".modelreg" / "outputs").iterdir())
    assert len(records) == 1
    _replace_with_fifo(records[0])
    # Without a record this machine can trust, the files there are not known to be its own.
    proc = _modelreg("export", "m@1", dest, "-R", served)
    assert proc.returncode == 4 and proc.stderr.count("\n") == 1, proc.stderr
    assert (dest / "w2.bin").read_text() == "weights 2"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_manifest_that_is_a_fifo_or_a_link_to_dev_zero_fails_a_digest_reference_fast(served: Path, kind: str) -> None:
    digest = Registry(served).resolve("m@1").digest.removeprefix("sha256:")
    manifest = served / "models" / "m" / "versions" / "2.yaml"
    manifest.unlink()
    if kind == "fifo":
        os.mkfifo(manifest)
    else:
        manifest.symlink_to("/dev/zero")
    proc = _modelreg("show", f"m@sha256:{digest[:12]}", "--json", "-R", served)
    assert proc.returncode == 5, proc.stderr[-500:]
    assert "Traceback" not in proc.stderr and "2.yaml" in proc.stderr


@pytest.mark.parametrize("name", [".gitattributes", ".gitignore", "models", "audit.jsonl"])
def test_init_refuses_a_link_it_would_write_through(cli: Any, tmp_path: Path, name: str) -> None:
    root, outside = tmp_path / "reg", tmp_path / "outside"
    root.mkdir()
    if name == "models":
        outside.mkdir()
    else:
        outside.write_text("# someone's file\n")
    (root / name).symlink_to(outside)
    before = snapshot(tmp_path)
    line = refused(cli("init", root), 2)
    assert "symbolic link" in line and name in line
    assert snapshot(tmp_path) == before


def test_init_refuses_a_fifo_as_its_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    root.mkdir()
    os.mkfifo(root / ".gitignore")
    proc = _modelreg("init", root)
    assert proc.returncode == 2 and ".gitignore" in proc.stderr, proc.stderr
    assert not (root / "modelreg.toml").exists()
