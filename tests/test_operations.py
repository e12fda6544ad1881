"""diff, rollback, gc and export: the everyday operations beyond register and promote."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip().startswith("{") else result.stdout


@pytest.fixture
def two_versions(reg_path: Path, tmp_path: Path, make_file: Any) -> Registry:
    reg = Registry(reg_path)
    d1, d2 = tmp_path / "v1", tmp_path / "v2"
    make_file(d1 / "model.bin", b"weights one")
    make_file(d1 / "vocab.txt", b"a b c")
    make_file(d1 / "old.cfg", b"x=1")
    make_file(d2 / "model.bin", b"weights two!")
    make_file(d2 / "vocab.txt", b"a b c")
    make_file(d2 / "new.cfg", b"y=2")
    reg.register("m", [d1], metrics={"acc": 0.8, "loss": 0.3}, params={"lr": "0.1"}, tags={"team": "a"})
    reg.register("m", [d2], metrics={"acc": 0.85, "f1": 0.7}, params={"lr": "0.05"}, tags={"team": "a"})
    return reg


def test_diff_reports_files_metrics_and_params(cli: Any, two_versions: Registry) -> None:
    data = ok(cli("diff", "m@1", "m@2", "--json", "-R", two_versions.root))
    files = data["files"]
    assert [f["path"] for f in files["added"]] == ["new.cfg"]
    assert [f["path"] for f in files["removed"]] == ["old.cfg"]
    assert [f["path"] for f in files["changed"]] == ["model.bin"]
    assert files["changed"][0]["a"]["size"] == 11 and files["changed"][0]["b"]["size"] == 12
    assert files["unchanged"] == 1
    assert data["metrics"]["acc"]["delta"] == pytest.approx(0.05)
    assert data["metrics"]["loss"] == {"a": 0.3, "b": None, "delta": None}
    assert data["metrics"]["f1"] == {"a": None, "b": 0.7, "delta": None}
    assert data["params"] == {"lr": {"a": "0.1", "b": "0.05"}}
    assert data["tags"] == {}
    assert data["same_content"] is False
    # The short form names a version of the first model; plain text is readable when piped.
    assert ok(cli("diff", "m@1", "2", "--json", "-R", two_versions.root)) == data
    text = ok(cli("diff", "m@1", "2", "-R", two_versions.root))
    assert "+  new.cfg" in text and "-  old.cfg" in text and "~  model.bin" in text


def test_diff_of_identical_content(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    f = make_file(tmp_path / "w.bin", b"same")
    reg = Registry(reg_path)
    reg.register("m", [f])
    reg.register("m", [f])
    data = ok(cli("diff", "m@1", "m@2", "--json", "-R", reg_path))
    assert data["same_content"] is True
    assert data["files"] == {"added": [], "removed": [], "changed": [], "unchanged": 1}


def test_rollback_restores_the_previous_production_version(
    cli: Any, two_versions: Registry, tmp_path: Path, make_file: Any
) -> None:
    reg = two_versions
    reg.register("m", [make_file(tmp_path / "v3.bin", b"three")])
    reg.promote("m@1", "production")
    reg.promote("m@2", "production")
    reg.promote("m@3", "production")
    data = ok(cli("rollback", "m", "--json", "-R", reg.root))
    assert (data["version"], data["stage"], data["changed"], data["archived"]) == (2, "production", True, [3])
    assert reg.get_production("m").version == 2
    # Like `cd -`: the version that held production just before the current one, so a second
    # rollback undoes the first; --to picks any other.
    assert ok(cli("rollback", "m", "--json", "-R", reg.root))["version"] == 3
    assert ok(cli("rollback", "m", "--to", "1", "--reason", "hotfix", "--json", "-R", reg.root))["version"] == 1
    last = reg.history("m", 1)[-1]
    assert (last["action"], last["to_stage"], last["reason"]) == ("promote", "production", "hotfix")


def test_rollback_without_history_is_not_found(cli: Any, two_versions: Registry) -> None:
    result = cli("rollback", "m", "-R", two_versions.root)
    assert result.exit_code == 3
    assert "no earlier production version" in result.stderr
    two_versions.promote("m@1", "production")
    assert cli("rollback", "m", "-R", two_versions.root).exit_code == 3


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_removes_only_what_nothing_references(cli: Any, two_versions: Registry, tmp_path: Path) -> None:
    reg = two_versions
    orphan_digest, _ = reg.blobs.put_file(Path(tmp_path / "v1" / "model.bin").with_name("vocab.txt"))
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"never registered")
    digest, _ = reg.blobs.put_file(stray)
    assert digest != orphan_digest
    referenced = {f.digest for v in reg.versions("m") for f in v.files}
    before = {d for d, _ in reg.blobs.iter_digests()}
    assert digest in before and digest not in referenced

    # Young unreferenced blobs survive the grace period (a register may be about to use them).
    assert ok(cli("gc", "--json", "-R", reg.root))["blobs_removed"] == []
    leftover = reg.blobs.root / ".incoming.999999.deadbeef.mrtmp"  # a dead writer's temp file
    leftover.write_bytes(b"partial")
    _age(reg.blobs.path(digest), 7200)
    dry = ok(cli("gc", "--dry-run", "--json", "-R", reg.root))
    assert dry["blobs_removed"] == [digest] and reg.blobs.exists(digest) and leftover.exists()
    done = ok(cli("gc", "--json", "-R", reg.root))
    assert done["blobs_removed"] == [digest]
    assert done["bytes_freed"] == len(b"never registered")
    assert not reg.blobs.exists(digest) and not leftover.exists()
    assert {d for d, _ in reg.blobs.iter_digests()} == referenced
    assert ok(cli("verify", "--json", "-R", reg.root))["ok"] is True


def test_gc_keeps_blobs_a_register_reuses(two_versions: Registry, tmp_path: Path) -> None:
    # Re-registering bytes whose blob is old refreshes it, so gc's grace period protects it.
    reg = two_versions
    path = tmp_path / "v1" / "model.bin"
    digest = next(f.digest for f in reg.versions("m")[0].files if f.path == "model.bin")
    _age(reg.blobs.path(digest), 7200)
    assert reg.blobs.put_file(path)[0] == digest
    assert time.time() - reg.blobs.path(digest).stat().st_mtime < 60


def test_export_writes_verified_files(cli: Any, two_versions: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    data = ok(cli("export", "m@1", str(dest), "--json", "-R", two_versions.root))
    assert data["version"] == 1 and Path(data["output"]) == dest.resolve()
    assert sorted(p.name for p in dest.iterdir()) == ["model.bin", "old.cfg", "vocab.txt"]
    assert (dest / "model.bin").read_bytes() == b"weights one"
    # Exporting again over the same files is fine; `NAME` alone means latest.
    ok(cli("export", "m", str(dest), "-R", two_versions.root))
    assert (dest / "model.bin").read_bytes() == b"weights two!"
