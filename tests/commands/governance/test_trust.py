"""Issue 13: a registry's commands run only once this machine trusts them. The trust record lives
in the user's config directory (HOME or XDG_CONFIG_HOME pointed at a temporary directory here)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.governance import add_policy, register
from support.results import ok_doc as ok

from modelreg import Registry


def modelreg(home: Path, *args: Any, extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A real modelreg process whose home is ``home`` (no XDG_CONFIG_HOME: ~/.config is used)."""
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_CONFIG_HOME", "MODELREG_TRUST")}
    env.update(HOME=str(home), **(extra or {}))
    return subprocess.run(
        [sys.executable, "-m", "modelreg", *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def hooked(reg_path: Path, tmp_path: Path) -> tuple[Registry, Path]:
    """A registry whose promote hook appends to a file; returns it and that file."""
    ran = tmp_path / "ran.txt"
    add_policy(reg_path, f'[hooks]\npromote = ["echo $MODELREG_VERSION >> {ran}"]')
    reg = Registry(reg_path)
    for _ in range(4):
        register(reg, tmp_path)
    return reg, ran


def test_nothing_runs_until_trusted_and_a_changed_command_is_untrusted_again(
    hooked: tuple[Registry, Path], tmp_path: Path
) -> None:
    reg, ran = hooked
    home = tmp_path / "home"
    home.mkdir()
    proc = modelreg(home, "promote", "churn@1", "production", "-R", reg.root)
    assert proc.returncode == 0 and not ran.exists()
    assert "1 hook(s) for promote not run" in proc.stderr and "modelreg trust" in proc.stderr
    shown = json.loads(modelreg(home, "trust", "--show", "--json", "-R", reg.root).stdout)
    assert shown["trusted"] is False and shown["commands"]["hooks"]["promote"] == [f"echo $MODELREG_VERSION >> {ran}"]
    trusted = modelreg(home, "trust", "--json", "-R", reg.root)
    assert trusted.returncode == 0, trusted.stderr
    record = home / ".config" / "modelreg" / "trust.json"
    data = json.loads(record.read_text())
    assert data["registries"][str(reg.root.resolve())]["digest"] == json.loads(trusted.stdout)["digest"]
    assert not any(p.name == "trust.json" for p in reg.root.rglob("*"))  # nothing inside the registry
    assert modelreg(home, "promote", "churn@2", "production", "-R", reg.root).returncode == 0
    assert ran.read_text() == "2\n"
    # Someone changes the command (a git pull): it stops running until trusted again.
    text = (reg.root / "modelreg.toml").read_text().replace(">> ", ">> /dev/null; echo changed >> ")
    (reg.root / "modelreg.toml").write_text(text)
    proc = modelreg(home, "promote", "churn@3", "production", "-R", reg.root)
    assert proc.returncode == 0 and "not run" in proc.stderr and ran.read_text() == "2\n"
    again = json.loads(modelreg(home, "trust", "--json", "-R", reg.root).stdout)
    assert again["changed"] is True and again["trusted_digest"] != again["digest"]
    assert modelreg(home, "promote", "churn@4", "production", "-R", reg.root).returncode == 0
    assert ran.read_text() == "2\nchanged\n"


def test_the_trust_record_follows_xdg_config_home(hooked: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, ran = hooked
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    assert modelreg(home, "trust", "-R", reg.root, extra={"XDG_CONFIG_HOME": str(xdg)}).returncode == 0
    assert (xdg / "modelreg" / "trust.json").is_file() and not (home / ".config").exists()
    # The same machine with another config directory has not trusted anything.
    proc = modelreg(home, "promote", "churn@1", "production", "-R", reg.root)
    assert "not run" in proc.stderr and not ran.exists()
    modelreg(home, "promote", "churn@2", "production", "-R", reg.root, extra={"XDG_CONFIG_HOME": str(xdg)})
    assert ran.read_text() == "2\n"


def test_modelreg_trust_1_trusts_for_one_run(hooked: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, ran = hooked
    home = tmp_path / "home"
    home.mkdir()
    assert (
        modelreg(home, "promote", "churn@1", "production", "-R", reg.root, extra={"MODELREG_TRUST": "1"}).returncode
        == 0
    )
    assert ran.read_text() == "1\n"
    assert not (home / ".config" / "modelreg" / "trust.json").exists()
    modelreg(home, "promote", "churn@2", "production", "-R", reg.root)
    assert ran.read_text() == "1\n"


def test_trust_is_keyed_by_the_registry_path(hooked: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, ran = hooked
    home = tmp_path / "home"
    home.mkdir()
    modelreg(home, "trust", "-R", reg.root)
    copy = tmp_path / "copy"
    shutil.copytree(reg.root, copy)  # another clone: the same commands, not yet reviewed here
    assert "not run" in modelreg(home, "promote", "churn@1", "production", "-R", copy).stderr
    assert not ran.exists()
    # A symlink to the trusted registry is the same registry.
    link = tmp_path / "link"
    link.symlink_to(reg.root)
    modelreg(home, "promote", "churn@1", "production", "-R", link)
    assert ran.read_text() == "1\n"


def test_revoke_forgets_the_registry(hooked: tuple[Registry, Path], tmp_path: Path) -> None:
    reg, ran = hooked
    home = tmp_path / "home"
    home.mkdir()
    modelreg(home, "trust", "-R", reg.root)
    revoked = json.loads(modelreg(home, "trust", "--revoke", "--json", "-R", reg.root).stdout)
    assert revoked["changed"] is True and revoked["trusted"] is False
    modelreg(home, "promote", "churn@1", "production", "-R", reg.root)
    assert not ran.exists()


def test_a_registry_without_commands_needs_no_trust(cli: Any, reg_path: Path) -> None:
    data = ok(cli("trust", "--show", "--json", "-R", reg_path))
    assert data["trusted"] is True and data["commands"] == {"hooks": {}, "checks": {}}
    assert "names no commands" in ok(cli("trust", "-R", reg_path))


def test_a_trust_record_planted_in_the_registry_counts_for_nothing(
    hooked: tuple[Registry, Path], tmp_path: Path
) -> None:
    reg, ran = hooked
    home = tmp_path / "home"
    home.mkdir()
    digest = reg.config.policy.commands_digest()
    planted = {"format_version": 1, "registries": {str(reg.root.resolve()): {"digest": digest}}}
    for where in (reg.root / ".modelreg" / "trust.json", reg.root / "trust.json"):
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(json.dumps(planted))
    proc = modelreg(home, "promote", "churn@1", "production", "-R", reg.root)
    assert proc.returncode == 0 and "not run" in proc.stderr and not ran.exists()
