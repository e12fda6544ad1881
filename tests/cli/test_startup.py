"""Start-up cost is a feature: guard which modules the hot commands import (not a timed test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Modules a `get-production --json` must not pay for: rendering, writers, parsers served from the
# parse cache, locks (reads take none), remotes, and anything pydantic-based.
FORBIDDEN_ON_READ = ("rich", "yaml", "tomllib", "tomli_w", "filelock", "boto3", "botocore", "pydantic", "mlflow")

PROBE = """
import json, sys
sys.argv = ["modelreg", *json.loads(sys.argv[1])]
from modelreg.cli import main
try:
    main()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + " EXIT " + str(code) + "\\n")
"""


def imported_modules(args: list[str], cwd: Path) -> tuple[set[str], str, int]:
    env = {**os.environ, "MODELREG_AUTHOR": "tester"}
    env.pop("MODELREG_REGISTRY", None)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    marker = proc.stderr.rindex("MODULES ")
    payload, _, code = proc.stderr[marker + len("MODULES ") :].strip().rpartition(" EXIT ")
    return {m.split(".")[0] for m in json.loads(payload)}, proc.stdout, int(code)


@pytest.fixture
def prod_registry(tmp_path: Path) -> Path:
    from modelreg import Registry

    reg, _ = Registry.init(tmp_path / "reg")
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")
    reg.register("churn", [model])
    reg.promote("churn@1", "production")
    return tmp_path / "reg"


def test_get_production_json_imports_nothing_heavy(prod_registry: Path) -> None:
    args = ["get-production", "churn", "--json", "-R", str(prod_registry)]
    imported_modules(args, prod_registry)  # the first read fills the parse cache
    modules, stdout, code = imported_modules(args, prod_registry)
    assert code == 0
    assert json.loads(stdout)["version"] == 1
    assert modules.isdisjoint(FORBIDDEN_ON_READ), sorted(modules & set(FORBIDDEN_ON_READ))


def test_help_imports_no_registry_code(tmp_path: Path) -> None:
    modules, stdout, code = imported_modules(["--help"], tmp_path)
    assert code == 0
    assert "get-production" in stdout
    assert modules.isdisjoint({"yaml", "rich", "filelock", "tomllib", "hashlib"} | {"boto3", "mlflow"})


def test_import_help_does_not_import_mlflow(tmp_path: Path) -> None:
    modules, stdout, code = imported_modules(["import", "--help"], tmp_path)
    assert code == 0
    assert "--tracking-uri" in stdout
    assert "mlflow" not in modules and "sqlalchemy" not in modules


def test_only_the_invoked_command_is_built(prod_registry: Path) -> None:
    import typer.main

    from modelreg.cli import COMMANDS, build_app

    app = build_app("get-production")
    group = typer.main.get_command(app)
    assert list(group.commands) == ["get-production"]  # type: ignore[attr-defined]
    assert len(COMMANDS) > 10
