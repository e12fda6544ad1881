"""docs/reference/commands.md and exit-codes.md are generated from the code and must not go stale;
what they say matches what the commands do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main

from modelreg import errors
from modelreg.cli import COMMANDS, app
from modelreg.cli.reference import PAGES, commands_markdown, exit_codes_markdown

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference"


def _stale(page: str) -> str:
    target = f"docs/reference/{PAGES[page]}"
    return f"{target} is stale: run `python -m modelreg.cli.reference {page} > {target}`"


def test_the_command_reference_is_current() -> None:
    assert commands_markdown() == (REFERENCE / "commands.md").read_text(), _stale("commands")


def test_the_exit_code_reference_is_current() -> None:
    assert exit_codes_markdown() == (REFERENCE / "exit-codes.md").read_text(), _stale("exit-codes")


@pytest.mark.parametrize("page", sorted(PAGES))
def test_the_generator_runs_as_a_module_and_prints_the_committed_page(page: str, tmp_path: Path) -> None:
    # From another directory: the page depends on the code only, never on where it is run.
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg.cli.reference", page], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (REFERENCE / PAGES[page]).read_text()


def test_the_generator_refuses_an_unknown_page(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg.cli.reference", "manual"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert "commands|exit-codes" in proc.stderr


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^### (\S+)\n", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_and_every_option_is_in_the_reference() -> None:
    sections = _sections(commands_markdown())
    assert list(sections) == list(COMMANDS)
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        for param in cmd.params:
            if param.name == "help":
                continue
            if getattr(param, "param_type_name", "") == "argument":
                assert f"`{param.name.upper()}" in sections[name], (name, param.name)
            else:
                for opt in param.opts:
                    assert f"`{opt}`" in sections[name], (name, opt)


def test_a_default_in_the_reference_is_the_default_the_command_uses(cli: Any, tmp_path: Path) -> None:
    # The reference says where report writes by default; running it writes exactly there.
    section = _sections(commands_markdown())["report"]
    default = re.search(r"`--output`, `-o` PATH: .* Default: `([^`]+)`\.", section)
    assert default is not None, section
    assert ok(cli("init", tmp_path / "reg", "--json"))["created"]
    result = cli("report", "-R", tmp_path / "reg", "--json")
    assert result.exit_code == 0, result.stderr
    assert Path(json.loads(result.stdout)["path"]).name == default.group(1)


def ok(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _error_codes_table() -> dict[str, int]:
    page = (REFERENCE / "exit-codes.md").read_text()
    section = page.split("## Error codes", 1)[1]
    return {code: int(exit_code) for code, exit_code in re.findall(r"^\| `([a-z_]+)` \| (\d+) \|", section, re.M)}


def test_every_error_type_is_listed_with_its_exit_code() -> None:
    page = exit_codes_markdown()
    kinds = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.ModelregError)]
    assert len(kinds) >= 10
    for kind in kinds:
        assert f"| `{kind.__name__}` | {kind.exit_code} | `{kind.code}` |" in page, kind.__name__


@pytest.mark.parametrize(
    "args",
    [
        ["get-production", "nosuch"],  # a model that does not exist
        ["show", "m@@@"],  # a malformed reference
        ["promote", "m@1", "nosuchstage"],  # a stage the registry lacks
        ["get", "m@7"],  # a version that does not exist
        ["register", "BAD NAME", "f.bin"],  # a name modelreg refuses
    ],
)
def test_the_error_code_a_command_reports_is_documented_with_its_exit_code(
    args: list[str], reg_path: Path, run: Any, tmp_path: Path
) -> None:
    (tmp_path / "f.bin").write_bytes(b"model")
    assert run("register", "m", tmp_path / "f.bin", "-R", reg_path).returncode == 0
    proc = run(*args, "-R", reg_path, "--json", cwd=tmp_path)
    error = json.loads(proc.stderr.strip().splitlines()[-1])["error"]
    assert _error_codes_table()[error["code"]] == proc.returncode, (error, proc.returncode)
