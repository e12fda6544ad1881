"""A chunked push or pull counts towards the bytes that really move (the chunks the other side
lacks), not the size of the files, and its bar is there from the start, planning."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from support.remotes import TRACKED, configure_remote
from support.terminal import on_terminal

from modelreg import Registry
from tests.conftest import pseudo_random_bytes

MiB = 1 << 20
SIZE = 48 * MiB


def _totals(terminal: str) -> list[float]:
    """The totals the bar showed, in MB (rich's DownloadColumn: "done/total MB")."""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", terminal)
    return [float(m.group(1)) for m in re.finditer(r"[0-9.]+/([0-9.]+) MB", plain)]


def _model(path: Path, changed_at: int | None) -> Path:
    data = bytearray(pseudo_random_bytes(SIZE, "transfer-progress"))
    if changed_at is not None:  # one MiB rewritten: a few chunks differ, the rest dedup
        data[changed_at : changed_at + MiB] = pseudo_random_bytes(MiB, "changed")
    path.write_bytes(bytes(data))
    return path


def test_push_and_pull_totals_are_the_bytes_that_move(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    (tmp_path / "shared").mkdir()
    configure_remote(root, "../shared")
    reg.register("m", [_model(tmp_path / "model.bin", None)])
    first = on_terminal(["push", "-R", root], stdout_tty=False)
    assert first.code == 0, first.terminal
    assert "push: planning" in first.terminal  # shown before the remote was read
    assert _totals(first.terminal)[-1] >= SIZE / 1e6 * 0.95  # everything is new to the remote

    Registry(root).register("m", [_model(tmp_path / "model.bin", 20 * MiB)])
    second = on_terminal(["push", "-R", root, "--json"], stdout_tty=False)
    assert 0 < json.loads(second.stdout)["bytes"] < SIZE / 2

    # A teammate's clone that has version 1's chunks pulls version 2: its total is what moves.
    teammate = tmp_path / "teammate"
    teammate.mkdir()
    for name in TRACKED:
        if (root / name).is_dir():
            shutil.copytree(root / name, teammate / name)
        elif (root / name).exists():
            shutil.copy2(root / name, teammate / name)
    assert on_terminal(["pull", "m@1", "-R", teammate], stdout_tty=False).code == 0
    pulled = on_terminal(["pull", "m@2", "-R", teammate], stdout_tty=False)
    assert pulled.code == 0, pulled.terminal
    assert "pull: planning" in pulled.terminal
    totals = _totals(pulled.terminal)
    assert totals, pulled.terminal
    assert totals[-1] < SIZE / 1e6 / 2, totals  # not the 48 MB the file weighs


def test_the_total_a_push_announces_is_what_it_moves(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    Registry.init(root)
    (tmp_path / "shared").mkdir()
    configure_remote(root, "../shared")
    reg = Registry(root)
    reg.register("m", [_model(tmp_path / "model.bin", None)])
    assert on_terminal(["push", "-R", root], stdout_tty=False).code == 0
    reg.register("m", [_model(tmp_path / "model.bin", 30 * MiB)])
    moved: list[int] = []
    planned: list[int] = []
    from modelreg.ops.storage.transfer import plan_transfer, select_versions, transfer

    versions = select_versions(reg, "m@2")
    plan = plan_transfer(reg, "push", versions)
    report = transfer(reg, "push", versions, moved.append, plan, replan=planned.append)
    assert len(planned) == 1
    assert plan.total + planned[0] == sum(moved) == report.bytes
