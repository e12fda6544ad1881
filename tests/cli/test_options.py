"""Issue 12: --version, and -q, --json and -R wherever habit puts them, for every command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer.main

from modelreg import Registry, __version__
from modelreg.cli import COMMANDS, app

# For each command: arguments that make it succeed on the seeded registry (see `seeded`), run
# twice on it (the global options before the command, then after): "{place}" is "before" or
# "after", "{request}" an open request and "{free}" a version nobody asked to move, one per place.
SUCCEEDS: dict[str, list[str]] = {
    "init": [],
    "register": ["m", "{tmp}/w2.bin", "--metric", "acc=0.95"],
    "promote": ["m@1", "staging"],
    "list": [],
    "show": ["m@1"],
    "get": ["m@1"],
    "get-production": ["m"],
    "annotate": ["m", "-d", "described"],
    "log": ["m"],
    "verify": [],
    "export": ["m@1", "{tmp}/out-{place}"],
    "diff": ["m@1", "1"],
    "rollback": ["m", "--to", "1"],
    "alias": ["m@1", "champion"],
    "gc": ["--dry-run"],
    "push": [],
    "pull": [],
    "import": ["mlflow", "--tracking-uri", "{tmp}/mlruns"],  # an MLflow file store without models
    "completion": ["bash"],
    "check": ["m@1", "staging"],
    "request": ["m@{free}", "production", "--reason", "better"],
    "requests": [],
    "approve": ["{request}", "--reason", "read it"],
    "reject": ["{request}", "--reason", "not yet"],
    "remove": ["m@{free}", "--reason", "recall"],
    "sign": ["m@1", "--key", "{tmp}/signing.pem"],
    "trust": [],
    "stats": [],
    "upgrade": [],
    "report": ["--output", "{tmp}/site"],
    "deploy": ["m@1", "--env", "env-{place}"],
    "undeploy": ["m", "--env", "leaving-{place}"],
    "deployed": [],
    "which": ["{pid}"],
    "deploy-check": ["m", "--env", "prod", "--path", "{served}"],
    "observe": ["m@1", "--metric", "acc=0.8"],
    "sync": [],
    "remote": ["check"],
}
NEEDS_REMOTE = {"push", "pull"}


@pytest.fixture
def seeded(tmp_path: Path, make_file: Any) -> Path:
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    (root / "modelreg.toml").write_text(
        (root / "modelreg.toml").read_text().replace("[remote]", f'[remote]\nurl = "{tmp_path / "remote"}"')
    )
    (tmp_path / "remote").mkdir()
    (tmp_path / "mlruns" / ".trash").mkdir(parents=True)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "signing.pem").write_bytes(pem)
    reg = Registry(root)
    reg.register("m", [make_file(tmp_path / "w1.bin", "weights one")], metrics={"acc": 0.9})
    reg.promote("m@1", "production")
    # Production needs one approval from now on; versions 2 and 3 have a request open for it.
    with (root / "modelreg.toml").open("a") as toml:
        toml.write("\n[gates.production]\napprovals = 1\n")
    reg = Registry(root)
    for n in range(2, 6):
        reg.register("m", [make_file(tmp_path / f"v{n}.bin", f"weights {n}")])
    ids = [reg.request(f"m@{n}", "production", reason="better", actor="requester").id for n in (2, 3)]
    (tmp_path / "requests.json").write_text(json.dumps({"before": ids[0], "after": ids[1]}))
    make_file(tmp_path / "w2.bin", "weights two")
    for env in ("prod", "leaving-before", "leaving-after"):
        reg.deploy("m@1", env)
    served = reg.materialize(reg.resolve("m@1"))
    from modelreg.serving import identity, prediction_id

    serving = {"{served}": str(served), "{pid}": prediction_id(identity(served))}
    (tmp_path / "serving.json").write_text(json.dumps(serving))
    return root


def test_every_command_is_covered() -> None:
    assert set(SUCCEEDS) == set(COMMANDS), "a new command needs its line in SUCCEEDS"


def _args(command: str, tmp: Path, place: str = "before") -> list[str]:
    fill = {"{tmp}": str(tmp), "{place}": place, "{free}": "4" if place == "before" else "5"}
    if any("{request}" in a for a in SUCCEEDS[command]):
        fill["{request}"] = json.loads((tmp / "requests.json").read_text())[place]
    if (tmp / "serving.json").exists():
        fill.update(json.loads((tmp / "serving.json").read_text()))
    out = []
    for arg in SUCCEEDS[command]:
        for key, value in fill.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


@pytest.mark.parametrize("command", list(COMMANDS))
def test_global_options_before_and_after_the_command(command: str, cli: Any, seeded: Path, tmp_path: Path) -> None:
    outputs = []
    for place in ("before", "after"):
        args = _args(command, tmp_path, place)
        opts = ["--json", "-q", "-R", str(seeded)]
        line = [*opts, command, *args] if place == "before" else [command, *args, *opts]
        result = cli(*line)
        assert result.exit_code == 0, (line, result.stdout, result.stderr)
        assert result.stderr == "", (line, result.stderr)  # -q: no messages at all
        outputs.append(json.loads(result.stdout))  # --json: exactly one document
    assert outputs[0].keys() == outputs[1].keys()


@pytest.mark.parametrize("command", list(COMMANDS))
def test_registry_before_the_command_is_the_one_used(command: str, cli: Any, seeded: Path, tmp_path: Path) -> None:
    if command in ("init", "completion"):
        pytest.skip("creates or needs no registry")
    # The working directory holds no registry, so only -R can find one: a wrong -R fails with 3.
    result = cli("-R", str(tmp_path / "nowhere"), command, *_args(command, tmp_path), "--json")
    assert result.exit_code == 3, (command, result.stdout, result.stderr)
    assert json.loads(result.stderr.splitlines()[-1])["error"]["code"] == "no_registry"
    # The later -R wins: after the command it overrides one given before.
    result = cli("-R", str(tmp_path / "nowhere"), command, *_args(command, tmp_path), "-R", str(seeded), "--json")
    assert result.exit_code == 0, (command, result.stderr)


def test_every_command_declares_the_global_options_in_its_help() -> None:
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        names = {opt for p in cmd.params for opt in getattr(p, "opts", [])}
        assert {"--json", "-R", "--registry", "-q", "--quiet"} <= names, name
    root = {opt for p in group.params for opt in getattr(p, "opts", [])}
    assert {"--json", "-R", "-q", "--version", "-V"} <= root


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, cli: Any, run: Any) -> None:
    result = cli(flag)
    assert result.exit_code == 0 and result.stdout == f"modelreg {__version__}\n"
    proc = run(flag, script=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"modelreg {__version__}" and proc.stderr == ""


def test_quiet_and_json_before_the_command_in_a_real_process(run: Any, seeded: Path) -> None:
    proc = run("-q", "--json", "-R", seeded, "promote", "m@1", "staging")
    assert proc.returncode == 0 and proc.stderr == ""
    assert json.loads(proc.stdout)["stage"] == "staging"
    # A usage error under a --json given before the command is JSON on stderr too.
    proc = run("--json", "-R", seeded, "promote", "m@1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "usage"


def test_help_lists_the_global_options_once(cli: Any) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for text in ("--json", "--registry", "--quiet", "--version"):
        assert result.stdout.count(text) == 1, text
    result = cli("list", "--help")
    for text in ("--json", "--registry", "--quiet"):
        assert result.stdout.count(text) == 1, text
    assert "--version" not in result.stdout


def test_init_takes_r_as_its_path(cli: Any, tmp_path: Path) -> None:
    result = cli("-R", tmp_path / "made-by-r", "init", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["path"] == str((tmp_path / "made-by-r").resolve())
    result = cli("init", tmp_path / "a", "-R", tmp_path / "b")
    assert result.exit_code == 2 and "give one" in result.stderr
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
