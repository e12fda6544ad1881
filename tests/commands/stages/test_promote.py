"""promote: a move to the stage a version holds, reasons, custom stages naming their production stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import snapshot
from support.core import CACHES, Ctx

from modelreg import Registry

CUSTOM_TOML = """format_version = 1

[stages]
names = ["dev", "prod", "retired"]
default = "dev"
exclusive = ["prod"]
archive = "retired"
"""


def code(result: Any) -> int:
    return result.exit_code


def test_policy_satisfied_with_reason(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    ctx = Ctx(reg_path, tmp_path)
    ctx.seed()
    ctx.edit_config(lambda d: d["stages"].__setitem__("require_reason", ["production"]))
    out = cli("promote", "m@1", "production", "--reason", "A/B test won", "-R", reg_path, "--json")
    assert out.exit_code == 0, out.stderr
    history = json.loads(cli("show", "m@1", "-R", reg_path, "--json").stdout)["history"]
    promote = [e for e in history if e["action"] == "promote"]
    assert [(e["to_stage"], e["reason"]) for e in promote] == [("production", "A/B test won")]


def test_promote_to_current_stage_changes_nothing(cli: Any, reg_path: Path, tmp_path: Path) -> None:
    Ctx(reg_path, tmp_path).seed(production=True)
    before = snapshot(reg_path, ignore=CACHES)
    out = cli("promote", "m@1", "production", "-R", reg_path)
    assert out.exit_code == 0 and "nothing changed" in out.stdout
    assert snapshot(reg_path, ignore=CACHES) == before


def test_custom_stages_name_their_production_stage(cli: Any, tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "custom"
    Registry.init(root)
    (root / "modelreg.toml").write_text(CUSTOM_TOML)  # no `production` key: the one exclusive stage
    reg = Registry(root)
    assert reg.config.production == "prod"
    for n in (1, 2):
        reg.register("m", [make_file(tmp_path / f"w{n}.bin", f"w{n}")])
    reg.promote("m@1", "prod")
    reg.promote("m@2", "prod")
    got = json.loads(cli("get-production", "m", "--json", "-R", root).stdout)
    assert (got["version"], got["stage"]) == (2, "prod")
    assert reg.resolve("m@1").stage == "retired"
    assert json.loads(cli("rollback", "m", "--json", "-R", root).stdout)["version"] == 1
    # Two exclusive stages and no `production` key: get-production cannot guess.
    (root / "modelreg.toml").write_text(CUSTOM_TOML.replace('exclusive = ["prod"]', 'exclusive = ["prod", "dev"]'))
    result = cli("get-production", "m", "-R", root)
    assert code(result) == 2 and "[stages] production" in result.stderr


def test_latest_cannot_be_a_stage(cli: Any, tmp_path: Path) -> None:
    root = tmp_path / "r"
    Registry.init(root)
    (root / "modelreg.toml").write_text(CUSTOM_TOML.replace('"retired"]', '"retired", "latest"]'))
    result = cli("list", "-R", root)
    assert code(result) == 2 and "latest" in result.stderr
