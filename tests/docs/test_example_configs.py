"""Every example configuration is one a user can copy over what `init` wrote without changing
how the registry stores files: the current format, the default storage settings."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry
from modelreg.records.config import FORMAT_VERSION, default_toml, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").rglob("*.toml"))


def test_there_are_examples_to_check() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_example_config_is_current(path: Path, tmp_path: Path, make_file: Any) -> None:
    config = load_config(path)
    assert config.format_version == FORMAT_VERSION
    assert config.storage.chunk_min_size == default_toml()["storage"]["chunk_min_size"]
    # Copied over a fresh registry's file, as the example's comment says: large files still chunk.
    reg, _ = Registry.init(tmp_path / "reg")
    shutil.copy(path, tmp_path / "reg" / "modelreg.toml")
    reg = Registry(tmp_path / "reg")
    assert reg.config.chunk_min_size() == default_toml()["storage"]["chunk_min_size"]
