"""stats: logical against stored bytes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.results import ok_doc as ok


def test_stats_leaves_removed_versions_out(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    ok(cli("register", "m", make_file(tmp_path / "a.bin", 3000), "-R", reg_path))
    ok(cli("register", "m", make_file(tmp_path / "b.bin", 5000), "-R", reg_path))
    ok(cli("remove", "m@1", "--reason", "recall", "-R", reg_path))
    ok(cli("gc", "--grace", "0", "-R", reg_path))
    stats = ok(cli("stats", "--json", "-R", reg_path))
    model = stats["models"][0]
    assert (model["versions"], model["logical_bytes"], model["missing_bytes"]) == (1, 5000, 0), model
