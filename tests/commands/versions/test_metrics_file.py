"""``register --metrics-file`` reads a regular file of at most 1 MiB and refuses anything else."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import snapshot
from support.capped import run_capped


def _register(reg: Path, tmp_path: Path, metrics: Path | str) -> tuple[int, str]:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    (model / "w.bin").write_bytes(b"weights")
    # 200 MiB of address space: enough for a register, far too little to swallow /dev/zero.
    proc = run_capped("register", "m", model, "-R", reg, "--metrics-file", metrics, cap_mib=200, timeout=60)
    return proc.returncode, proc.stderr


def test_dev_zero_is_refused_without_reading_it(reg_path: Path, tmp_path: Path) -> None:
    before = snapshot(reg_path)
    code, err = _register(reg_path, tmp_path, "/dev/zero")
    assert code == 2, err
    assert err.strip().splitlines() == ["error: metrics file /dev/zero is not a regular file"]
    assert snapshot(reg_path) == before


def test_a_fifo_is_refused_without_waiting_for_a_writer(reg_path: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "metrics.fifo"
    os.mkfifo(fifo)
    code, err = _register(reg_path, tmp_path, fifo)
    assert code == 2, err
    assert "is not a regular file" in err and "Traceback" not in err


def test_a_file_over_the_cap_is_refused(reg_path: Path, tmp_path: Path) -> None:
    big = tmp_path / "metrics.json"
    with open(big, "wb") as fh:
        fh.truncate((1 << 20) + 1)  # sparse: the size alone refuses it
    before = snapshot(reg_path)
    code, err = _register(reg_path, tmp_path, big)
    assert code == 2, err
    assert err.strip().splitlines() == [f"error: metrics file {big} is larger than 1048576 bytes"]
    assert snapshot(reg_path) == before


def test_a_symlink_to_a_small_regular_file_is_read(reg_path: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text('{"auc": 0.91}')
    link = tmp_path / "metrics.json"
    link.symlink_to(real)
    code, err = _register(reg_path, tmp_path, link)
    assert code == 0, err
    manifest = (reg_path / "models" / "m" / "versions" / "1.yaml").read_text()
    assert "auc: 0.91" in manifest
