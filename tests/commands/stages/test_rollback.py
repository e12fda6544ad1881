"""rollback: the previous production version comes back; without one, nothing to roll back to."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.results import ok_doc as ok

from modelreg import Registry


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
