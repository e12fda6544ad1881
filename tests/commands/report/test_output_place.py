"""report --output: never through a link, never among the registry's records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from support.governance import refused


@pytest.mark.parametrize("target", ["dangling", "to-empty"])
def test_report_never_writes_through_a_link_named_as_its_output(
    cli: Any, reg_path: Path, tmp_path: Path, target: str
) -> None:
    (tmp_path / "empty").mkdir()
    link = tmp_path / "site"
    link.symlink_to(tmp_path / "nowhere" / "x" if target == "dangling" else tmp_path / "empty")
    before = snapshot(tmp_path, ignore=("reg/.modelreg",))
    line = refused(cli("report", "--output", link, "-R", reg_path), 2)
    assert "symbolic link" in line
    assert snapshot(tmp_path, ignore=("reg/.modelreg",)) == before
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("inside", ["models/site", "blobs/site", ".modelreg/site", "models/m/versions/x"])
def test_report_refuses_a_place_among_the_registrys_records(cli: Any, reg_path: Path, inside: str) -> None:
    line = refused(cli("report", "--output", reg_path / inside, "-R", reg_path), 2)
    assert "inside the registry" in line
    assert not (reg_path / inside).exists()
