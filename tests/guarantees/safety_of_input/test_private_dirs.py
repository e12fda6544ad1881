"""This user's key and trust record are never read from, nor written into, the registry being
operated on: a checkout that commits ``.config/modelreg/trust.json`` and ``machine.key`` and is
then used as HOME (or XDG_CONFIG_HOME) trusts nothing and keys nothing."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from support.governance import add_policy

PY = sys.executable


@pytest.fixture
def planted(run: Any, reg_path: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A registry with a check command and a committed .config/modelreg holding a trust record
    for it and a machine key; returns (registry, marker the check would write)."""
    marker = tmp_path / "check-ran"
    add_policy(reg_path, f'[gates.staging]\ncheck = ["touch {marker}"]')
    (tmp_path / "m.bin").write_text("w")
    assert run("register", "churn", tmp_path / "m.bin", "-R", reg_path).returncode == 0
    # Trust it in a throw-away config dir, then plant that record (and a key) in the registry.
    scratch = tmp_path / "scratch"
    assert run("trust", "-R", reg_path, env={"XDG_CONFIG_HOME": str(scratch)}).returncode == 0
    inside = reg_path / ".config" / "modelreg"
    inside.mkdir(parents=True)
    (inside / "trust.json").write_bytes((scratch / "modelreg" / "trust.json").read_bytes())
    (inside / "machine.key").write_bytes(b"k" * 32)
    return reg_path, marker


@pytest.mark.parametrize("how", ["HOME", "XDG_CONFIG_HOME"])
def test_a_committed_config_dir_is_never_used(run: Any, planted: tuple[Path, Path], how: str) -> None:
    reg, marker = planted
    env: dict[str, str | None] = {"XDG_CONFIG_HOME": None, "HOME": str(reg)}
    if how == "XDG_CONFIG_HOME":
        env = {"XDG_CONFIG_HOME": str(reg / ".config")}
    before = sorted(p.name for p in (reg / ".config" / "modelreg").iterdir())
    for args in (["promote", "churn@1", "staging"], ["check", "churn@1", "staging"], ["list"]):
        done = run(*args, "-R", reg, env=env)
        assert done.returncode == 4, (args, done.stdout, done.stderr)
        assert str(reg / ".config" / "modelreg") in done.stderr and "inside the registry" in done.stderr
    done = run("trust", "-R", reg, env=env)
    assert done.returncode == 4
    assert not marker.exists()
    assert sorted(p.name for p in (reg / ".config" / "modelreg").iterdir()) == before


def test_a_config_dir_outside_the_registry_still_works(run: Any, planted: tuple[Path, Path], tmp_path: Path) -> None:
    reg, marker = planted
    home = tmp_path / "home"
    done = run("promote", "churn@1", "staging", "-R", reg, env={"XDG_CONFIG_HOME": None, "HOME": str(home)})
    assert done.returncode == 4 and "modelreg trust" in done.stderr  # untrusted here: never trusted
    assert not marker.exists()
    env = {"XDG_CONFIG_HOME": None, "HOME": str(home)}
    assert run("trust", "-R", reg, env=env).returncode == 0
    assert run("promote", "churn@1", "staging", "-R", reg, env=env).returncode == 0
    assert marker.exists()
    assert (home / ".config" / "modelreg" / "trust.json").is_file()
    assert json.loads(run("trust", "--show", "--json", "-R", reg, env=env).stdout)["trusted"] is True


def test_a_link_into_the_registry_counts_as_inside(run: Any, planted: tuple[Path, Path], tmp_path: Path) -> None:
    reg, marker = planted
    link = tmp_path / "config-link"
    os.symlink(reg / ".config", link)
    done = run("promote", "churn@1", "staging", "-R", reg, env={"XDG_CONFIG_HOME": str(link)})
    assert done.returncode == 4 and "inside the registry" in done.stderr
    assert not marker.exists()
