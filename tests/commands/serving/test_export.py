"""export: verified files, and nothing created when the blobs are missing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.results import ok_doc as ok

from modelreg import Registry


def code(result: Any) -> int:
    return result.exit_code


def test_export_writes_verified_files(cli: Any, two_versions: Registry, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    data = ok(cli("export", "m@1", str(dest), "--json", "-R", two_versions.root))
    assert data["version"] == 1 and Path(data["output"]) == dest.resolve()
    assert sorted(p.name for p in dest.iterdir()) == ["model.bin", "old.cfg", "vocab.txt"]
    assert (dest / "model.bin").read_bytes() == b"weights one"
    # Exporting again over the same files is fine; `NAME` alone means latest.
    ok(cli("export", "m", str(dest), "-R", two_versions.root))
    assert (dest / "model.bin").read_bytes() == b"weights two!"


def test_export_of_a_version_without_its_blobs_creates_nothing(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path
) -> None:
    reg = Registry(reg_path)
    version, _ = reg.register("m", [make_file(tmp_path / "w.bin", "w")])
    reg.blobs.path(version.files[0].digest).unlink()
    dest = tmp_path / "out" / "nested"
    result = cli("export", "m@1", str(dest), "-R", reg_path)
    assert code(result) == 3 and "pull" in result.stderr
    assert not (tmp_path / "out").exists()
