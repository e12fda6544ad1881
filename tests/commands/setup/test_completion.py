"""Issue 12: completion answers what a person expects at each position, without starting the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
import typer

from modelreg import Registry
from modelreg.cli.options import complete_model

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent


@pytest.fixture
def reg(tmp_path: Path, make_file: Any) -> Path:
    root = tmp_path / "reg"
    registry, _ = Registry.init(root)
    for n in range(1, 4):
        registry.register("churn", [make_file(tmp_path / "m.bin", f"w{n}")])
    registry.register("credit-risk", [make_file(tmp_path / "m.bin", "c")])
    registry.promote("churn@2", "production")
    return root


def complete(
    line: str, cwd: Path, shell: str = "bash", extra: dict[str, str] | None = None, probe: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """What the scripts in completions/ do at a TAB after ``line``, through the console script."""
    env = {k: v for k, v in os.environ.items() if k != "MODELREG_REGISTRY"}
    env["_MODELREG_COMPLETE"] = f"complete_{shell}"
    if shell == "bash":
        words = line.split()
        if line.endswith(" "):
            words.append("")
        env["COMP_WORDS"], env["COMP_CWORD"] = " ".join(words), str(len(words) - 1)
    else:
        env["_TYPER_COMPLETE_ARGS"] = line
    env.update(extra or {})
    command = [str(BIN / "modelreg")]
    if probe is not None:
        code = (
            "import atexit, sys\n"
            f"atexit.register(lambda: open({str(probe)!r}, 'w').write('\\n'.join(sorted(sys.modules))))\n"
            "from modelreg.__main__ import main\nmain()\n"
        )
        command = [sys.executable, "-c", code]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=60)


def words(line: str, cwd: Path) -> list[str]:
    proc = complete(line, cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


def test_each_position(reg: Path) -> None:
    assert words("modelreg comp", reg) == ["completion"]
    assert words("modelreg completion ", reg) == ["bash", "zsh", "fish"]
    assert words("modelreg show churn@", reg) == [
        "churn@3", "churn@2", "churn@1", "churn@latest",
        "churn@development", "churn@staging", "churn@production", "churn@archived",
    ]  # fmt: skip
    assert words("modelreg show churn@p", reg) == ["churn@production"]
    assert words("modelreg promote churn@1 ", reg) == ["development", "staging", "production", "archived"]
    assert words("modelreg promote churn@1 pr", reg) == ["production"]
    # diff: the second reference is a bare reference of A's model, or another NAME@REF.
    assert words("modelreg diff churn@3 ", reg) == [
        "2", "1", "latest", "development", "staging", "production", "archived", "churn", "credit-risk"
    ]  # fmt: skip
    assert words("modelreg diff churn@3 cr", reg) == ["credit-risk"]
    assert words("modelreg diff churn@3 credit-risk@", reg)[0] == "credit-risk@1"
    assert words("modelreg register churn --stage st", reg) == ["staging"]
    assert words("modelreg get-production c", reg) == ["churn", "credit-risk"]


def test_global_options_and_registry_anywhere(reg: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert words("modelreg show ch", elsewhere) == []  # no registry found from here
    assert words(f"modelreg -R {reg} show ch", elsewhere) == ["churn"]
    assert words(f"modelreg show -R {reg} ch", elsewhere) == ["churn"]
    assert words(f"modelreg show --registry {reg} churn@l", elsewhere) == ["churn@latest"]
    options = words("modelreg list --", reg)
    assert {"--json", "--registry", "--quiet", "--stage", "--tag", "--help"} <= set(options)
    assert "--version" not in options  # a root option only
    assert {"--version", "--json", "--registry"} <= set(words("modelreg --", reg))
    # After an option that takes a path, the shell completes file names (nothing from us).
    assert words("modelreg -R ", reg) == []
    assert words("modelreg register churn ", reg) == []


def test_zsh_and_fish_formats(reg: Path) -> None:
    proc = complete("modelreg promote churn@1 pro", reg, shell="zsh")
    assert proc.stdout == "_arguments '*: :((\"production\"))'"
    proc = complete("modelreg li", reg, shell="zsh")
    assert proc.stdout.startswith('_arguments \'*: :(("list":"') and "Every model" in proc.stdout
    assert complete("modelreg register churn ", reg, shell="zsh").stdout == "_files"
    proc = complete("modelreg completion ", reg, shell="fish", extra={"_TYPER_COMPLETE_FISH_ACTION": "get-args"})
    assert proc.stdout.split("\n") == ["bash", "zsh", "fish"]
    ask = {"_TYPER_COMPLETE_FISH_ACTION": "is-args"}
    assert complete("modelreg completion ", reg, shell="fish", extra=ask).returncode == 0
    assert complete("modelreg register churn ", reg, shell="fish", extra=ask).returncode == 1  # files, then


def test_a_real_bash_runs_the_committed_script(reg: Path) -> None:
    script = f"""
source {ROOT / "completions" / "modelreg.bash"}
COMP_LINE='modelreg show churn@p'; COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=(modelreg show churn @p); COMP_CWORD=3  # as bash cuts them at COMP_WORDBREAKS
_modelreg_completion modelreg
printf '%s\\n' "${{COMPREPLY[@]}}"
complete -p modelreg
"""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(
        ["bash", "--norc", "-c", script], cwd=reg, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "@production"  # readline replaces "@p" (its word from the last break)
    assert "-F _modelreg_completion modelreg" in lines[-1]


def test_a_tab_never_loads_typer_rich_or_yaml(reg: Path, tmp_path: Path) -> None:
    assert words("modelreg show churn@", reg)  # the first TAB after an install builds the spec
    complete("modelreg show churn@", reg)  # and one more fills the parse cache if it was cold
    probe = tmp_path / "modules.txt"
    proc = complete("modelreg show churn@", reg, probe=probe)
    assert proc.stdout.split()[0] == "churn@3"
    loaded = {m.split(".")[0] for m in probe.read_text().split()}
    assert loaded.isdisjoint({"typer", "rich", "yaml", "click", "tomllib", "filelock"}), sorted(loaded)
    assert "modelreg.registry" not in probe.read_text().split()


def test_the_spec_follows_the_app(tmp_path: Path) -> None:
    """A new command gets the global options and completion without anyone regenerating a file."""
    from modelreg.cli.complete import complete_words
    from modelreg.cli.completion_spec import build_spec
    from modelreg.cli.group import _with_globals, build_app

    def approve(name: Annotated[str, typer.Argument(help="Model.", autocompletion=complete_model)]) -> None:
        """Approve something."""

    app = build_app()
    app.command("approve")(_with_globals(approve))
    spec = build_spec(app)
    assert {"--json", "-R", "--registry", "-q", "--quiet"} <= set(spec["commands"]["approve"]["options"])
    assert spec["commands"]["approve"]["args"] == [{"name": "name", "complete": "model", "variadic": False}]
    assert ("approve", "Approve something.") in complete_words(spec, [], "appr", {})


def test_a_stale_spec_is_rebuilt(reg: Path, tmp_path: Path) -> None:
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "modelreg" / "completion-spec.json"
    assert words("modelreg comp", reg) == ["completion"]
    saved = json.loads(cache.read_text())
    saved["spec"]["commands"] = {"bogus": {"help": "", "options": {}, "args": []}}
    cache.write_text(json.dumps(saved))
    assert words("modelreg bog", reg) == ["bogus"]  # the cache answers while it matches the CLI
    saved["key"] = "another modelreg"
    cache.write_text(json.dumps(saved))
    assert words("modelreg bog", reg) == [] and words("modelreg comp", reg) == ["completion"]


def test_completion_command_warms_the_cache(cli: Any) -> None:
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "modelreg" / "completion-spec.json"
    assert not cache.exists()
    assert cli("completion", "zsh").exit_code == 0
    assert "get-production" in json.loads(cache.read_text())["spec"]["commands"]


def test_aliases_after_the_name(reg: Path) -> None:
    registry = Registry(reg)
    registry.alias("churn@3", "champion")
    registry.alias("churn@1", "eu-canary")
    assert words("modelreg show churn@", reg)[-2:] == ["churn@champion", "churn@eu-canary"]
    assert words("modelreg get churn@ch", reg) == ["churn@champion"]
    assert words("modelreg alias churn eu", reg) == ["eu-canary"]  # the alias to move or delete
    assert words("modelreg alias credit-risk ", reg) == []
