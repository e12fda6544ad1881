"""TAB in a real interactive bash, zsh and fish (under tmux), typed as a person types, with the
committed scripts in completions/ and each shell's defaults (bash's COMP_WORDBREAKS has ``@``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from modelreg import Registry

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
WAIT = 90.0  # an upper bound for a shell to react, never a measure: each wait ends at its event

SETUP = {
    "bash": ["bash", "--norc", "--noprofile"],
    "zsh": ["zsh", "-f"],
    "fish": ["fish", "--no-config"],
}
SOURCE = {
    # show-all-if-ambiguous: one TAB lists the choices as in zsh and fish (a person presses TAB
    # again only once the first one answered, which a test cannot see happen in plain bash).
    "bash": f"PS1='$ '; bind 'set show-all-if-ambiguous on'; source {ROOT / 'completions' / 'modelreg.bash'}; "
    "echo READY",
    "zsh": f"PS1='$ '; autoload -U compinit && compinit -u; source {ROOT / 'completions' / '_modelreg'}; echo READY",
    "fish": f"function fish_prompt; echo -n '$ '; end; source {ROOT / 'completions' / 'modelreg.fish'}; echo READY",
}


class Terminal:
    """One shell in its own tmux server; keys in, screen out."""

    def __init__(self, shell: str, cwd: Path, home: Path) -> None:
        self.socket = f"modelreg-test-{uuid.uuid4().hex[:12]}"
        env = {
            "HOME": str(home),
            "TERM": "xterm",
            "LANG": "C.UTF-8",
            "PATH": f"{BIN}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", str(home / ".cache")),
            "XDG_CONFIG_HOME": str(home / ".config"),
        }
        command = ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *SETUP[shell]]
        self._tmux("new-session", "-d", "-x", "160", "-y", "40", "-c", str(cwd), *command)
        self.type(SOURCE[shell], "Enter")
        self.wait_for(lambda screen: any(line.strip() == "READY" for line in screen.splitlines()))

    def _tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def type(self, *keys: str) -> None:
        for key in keys:
            if key in ("Tab", "Enter", "C-u", "C-c"):
                self._tmux("send-keys", "-t", "0", key)
            else:
                self._tmux("send-keys", "-t", "0", "-l", key)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-t", "0")

    def line(self) -> str:
        """The command line being edited: the last prompt line on the screen."""
        prompts = [line for line in self.screen().splitlines() if line.startswith("$ ")]
        return prompts[-1][2:] if prompts else ""

    def wait_for(self, seen: Callable[[str], bool]) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.screen()
            if seen(screen):
                return screen
            assert time.monotonic() < deadline, f"the shell never showed what was expected:\n{screen}"
            time.sleep(0.05)

    def wait_line(self, expected: str) -> None:
        self.wait_for(lambda _: self.line().rstrip() == expected.rstrip())

    def clear(self) -> None:
        self.type("C-c")
        self.wait_line("")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def registry(tmp_path: Path, make_file: Any) -> Path:
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    for n in range(1, 4):
        reg.register("churn", [make_file(tmp_path / "m.bin", f"w{n}")])
    reg.promote("churn@2", "production")
    reg.alias("churn@3", "champion")
    (root / "staging-notes.txt").write_text("a file the shell could offer instead\n")
    return root


@pytest.fixture(params=sorted(SETUP))
def terminal(request: Any, registry: Path, tmp_path: Path) -> Iterator[Terminal]:
    shell = request.param
    if shutil.which("tmux") is None or shutil.which(shell) is None:
        pytest.skip(f"needs tmux and {shell} (apt-get install --no-install-recommends tmux zsh fish)")
    home = tmp_path / "home"
    home.mkdir()
    term = Terminal(shell, registry, home)
    try:
        yield term
    finally:
        term.close()


def test_a_tab_completes_the_ref_after_the_at_sign(terminal: Terminal) -> None:
    terminal.type("modelreg promote churn@pr", "Tab")
    terminal.wait_line("modelreg promote churn@production ")
    terminal.clear()
    terminal.type("modelreg show churn@cha", "Tab")
    terminal.wait_line("modelreg show churn@champion ")


def test_after_a_full_ref_the_next_argument_is_a_stage_not_a_file(terminal: Terminal) -> None:
    # The directory holds staging-notes.txt: a shell falling back to files would offer it.
    terminal.type("modelreg promote churn@2 sta", "Tab")
    terminal.wait_line("modelreg promote churn@2 staging ")


def test_the_choices_are_listed(terminal: Terminal) -> None:
    terminal.type("modelreg promote churn@2 ", "Tab")
    screen = terminal.wait_for(lambda s: "development" in s and "production" in s)
    assert "modelreg.toml" not in screen and "staging-notes" not in screen  # not the directory's files
    terminal.clear()
    terminal.type("modelreg show churn@", "Tab")
    screen = terminal.wait_for(lambda s: "latest" in s and "champion" in s)
    assert "modelreg.toml" not in screen
