"""Human output: plain when piped, rich on a terminal unless NO_COLOR, registry text shown literally
and never obeyed by the terminal; -q silences messages."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.core import lib_register
from support.procs import run_modelreg as _modelreg

from modelreg import Registry

ANSI = re.compile(r"\x1b\[")


HUMAN_COMMANDS: list[tuple[list[str], tuple[str, ...]]] = [
    # (arguments, data the human output must show)
    (["list"], ("m", "production")),
    (["list", "m"], ("production", "acc", "0.9")),
    (["show", "m"], ("m", "production", "acc")),
    (["show", "m@1"], ("m@1", "model.bin", "production")),
    (["get-production", "m"], ("m@1", "model.bin")),
    (["promote", "m@1", "production"], ("m@1", "production")),
    (["annotate", "m", "-d", "hello"], ("m",)),
]


def _seed_for_human(reg: Path, tmp: Path) -> None:
    lib_register(reg, "m", {"model.bin": b"weights"}, tmp, metrics={"acc": 0.9})
    Registry.open(reg).promote("m@1", "production")


def _run_on_tty(args: list[Any], env: dict[str, str]) -> tuple[int, str]:
    """Run modelreg with stdout on a pseudo-terminal; return (exit status, what the terminal got)."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200", **env}
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelreg", *map(str, args)],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        env=full_env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode(errors="replace")


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"


@pytest.fixture
def hostile(reg_path: Path, make_file: Any, tmp_path: Path) -> Path:
    reg = Registry(reg_path)
    reg.register("m", [make_file(tmp_path / "w.bin", "w")], description=f"hi{ESCAPES}", tags={"k": f"a{ESCAPES}"})
    reg.promote("m@1", "staging", reason=f"r{ESCAPES}")
    return reg_path


def code(result: Any) -> int:
    return result.exit_code


def test_human_output_is_plain_when_piped(cli: Any, run: Any, reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    for args, shown in HUMAN_COMMANDS:
        r = cli(*args, "-R", reg_path)
        assert r.exit_code == 0, (args, r.stderr)
        assert not ANSI.search(r.output), args
        assert all(text in r.stdout for text in shown), (args, r.stdout)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cli("list", "-R", reg_path).stdout)  # human text, not JSON, without --json
    for env in ({}, {"NO_COLOR": "1"}):
        proc = run("show", "m@1", "-R", reg_path, env={**env, "TERM": "xterm-256color"})
        assert proc.returncode == 0 and "m@1" in proc.stdout
        assert not ANSI.search(proc.stdout + proc.stderr)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_gets_rich_output_unless_no_color(reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    code, rich_text = _run_on_tty(["list", "-R", reg_path], {})
    assert code == 0 and "m" in rich_text
    assert ANSI.search(rich_text), "a terminal gets rich output"
    code, plain = _run_on_tty(["list", "-R", reg_path], {"NO_COLOR": "1"})
    assert code == 0 and "m" in plain
    assert not ANSI.search(plain), "NO_COLOR means no escape codes"


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_terminal_output_treats_user_text_literally(reg_path: Path, tmp_path: Path) -> None:
    _seed_for_human(reg_path, tmp_path)
    Registry.open(reg_path).annotate("m", description="[/x] uses [bold]brackets[/bold]")
    code, text = _run_on_tty(["show", "m", "-R", reg_path], {})
    assert code == 0, text
    assert "[/x]" in text and "[bold]" in text


@pytest.mark.parametrize("args", [["show", "m"], ["show", "m@1"], ["log", "m"]], ids=" ".join)
def test_control_characters_from_the_registry_never_reach_the_terminal(hostile: Path, args: list[str]) -> None:
    proc = _modelreg(*args, "-R", hostile)
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout + proc.stderr
    for ch in "\x1b\x07\x9b\u202e":
        assert ch not in shown, (args, repr(shown))
    assert "\\x1b" in proc.stdout  # shown as text: a reader sees that something odd is there


def test_control_characters_in_an_error_are_shown_as_text(reg_path: Path) -> None:
    proc = _modelreg("show", f"nosuch{ESCAPES}", "-R", reg_path)
    assert proc.returncode == 2 and "\x1b" not in proc.stderr and "\\x1b" in proc.stderr, repr(proc.stderr)


def test_json_keeps_the_values_exactly(hostile: Path) -> None:
    import json

    proc = _modelreg("show", "m@1", "--json", "-R", hostile)
    assert json.loads(proc.stdout)["description"] == f"hi{ESCAPES}"


def test_global_quiet_silences_messages(run: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    f = make_file(tmp_path / "w.bin", "w")
    for _ in range(2):
        assert run("register", "m", f, "-R", reg_path).returncode == 0
    Registry(reg_path).promote("m@1", "production")
    loud = run("promote", "m@2", "production", "-R", reg_path)
    assert "moved to archived" in loud.stderr
    quiet = run("-q", "promote", "m@1", "production", "-R", reg_path)
    assert quiet.returncode == 0 and quiet.stderr == "" and "Promoted" in quiet.stdout
