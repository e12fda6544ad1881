"""Issue 12: the Python API takes str and any os.PathLike wherever it takes a path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelreg import Registry
from modelreg.registry import find_root


class Where(os.PathLike[str]):
    """A path object that is not a pathlib.Path (as other libraries have)."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)

    def __fspath__(self) -> str:
        return self.path


@pytest.mark.parametrize("kind", [str, Where, Path])
def test_paths_as_str_or_pathlike(kind: type, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    reg, created = Registry.init(kind(root))
    assert created and isinstance(reg.root, Path) and reg.root == root
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    folder = tmp_path / "extra"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    opened = Registry.open(kind(root))
    v1, _ = opened.register("m", [kind(model), kind(folder)], cwd=kind(tmp_path))
    assert [f.path for f in v1.files] == ["config.json", "model.bin"]
    v2, _ = opened.register("m", kind(model))  # a single path, not split into characters
    assert [f.path for f in v2.files] == ["model.bin"]
    written = opened.export(v1, kind(tmp_path / "out"))
    assert sorted(p.name for p in written) == ["config.json", "model.bin"]
    assert (tmp_path / "out" / "model.bin").read_bytes() == b"weights"
    assert Registry(kind(root)).resolve("m@2").version == 2
    assert Registry.open(start=kind(root / "models")).root == root
    assert find_root(kind(root)) == root
    assert find_root(start=kind(root)) == root
