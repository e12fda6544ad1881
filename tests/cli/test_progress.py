"""Issue 12: a progress bar on stderr, on a terminal only, for everything that moves bytes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.terminal import on_terminal, plain

from modelreg import Registry

BIG = 9 << 20  # above the size where a bar starts to be worth showing


@pytest.fixture
def big(tmp_path: Path, make_file: Any) -> tuple[Path, Path]:
    root = tmp_path / "reg"
    Registry.init(root)
    return root, make_file(tmp_path / "model.bin", BIG)


def _served(root: Path, model: Path) -> None:
    reg = Registry(root)
    reg.register("m", [model])
    reg.promote("m@1", "production")


def test_register_shows_a_bar_on_a_terminal(big: tuple[Path, Path]) -> None:
    root, model = big
    screen = on_terminal(["register", "m", model, "-R", root], stdout_tty=False)
    assert screen.code == 0, screen.terminal
    assert "register m" in screen.terminal and "MB" in screen.terminal, screen.terminal
    assert "9.4 MB" in plain(screen.terminal)  # human sizes, not byte counts
    assert screen.stdout.startswith("Registered m@1 ")  # the result stays on stdout, untouched


@pytest.mark.parametrize(
    "args",
    [
        ["export", "m@1", "{tmp}/out"],
        ["get-production", "m", "--output", "{tmp}/deploy"],
        ["get-production", "m", "--path"],
    ],
)
def test_commands_that_write_files_show_a_bar(args: list[str], big: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = big
    _served(root, model)
    line = [a.replace("{tmp}", str(tmp_path)) for a in args]
    screen = on_terminal([*line, "-R", root], stdout_tty=False)
    assert screen.code == 0, screen.terminal
    assert "MB" in screen.terminal and "m@1" in screen.terminal, screen.terminal
    if "--path" in args:
        assert Path(screen.stdout.strip(), "model.bin").stat().st_size == BIG


@pytest.mark.parametrize("quiet", [["--json"], ["-q"], ["--quiet", "--json"]])
def test_no_bar_under_json_or_quiet(quiet: list[str], big: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = big
    screen = on_terminal([*quiet, "register", "m", model, "-R", root], stdout_tty=False)
    assert screen.code == 0
    assert screen.terminal == "", screen.terminal
    _served(root, model)
    screen = on_terminal(["export", "m@1", tmp_path / "out", "-R", root, *quiet], stdout_tty=False)
    assert screen.code == 0 and screen.terminal == ""


def test_no_bar_when_stderr_is_not_a_terminal(big: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = big
    probe = tmp_path / "modules.txt"
    screen = on_terminal(["register", "m", model, "-R", root], stderr_tty=False, probe=str(probe))
    assert screen.code == 0
    assert screen.stderr == ""
    assert "Registered m@1" in screen.text  # stdout is the terminal here: the result, no bar
    assert "rich" not in probe.read_text().split(), "rich is imported only to show a bar"


def test_rich_is_not_imported_when_nothing_moves(big: tuple[Path, Path], tmp_path: Path) -> None:
    root, model = big
    _served(root, model)
    first = on_terminal(["get-production", "m", "--path", "-R", root], stdout_tty=False)
    assert first.code == 0 and "MB" in first.terminal  # built: a bar
    probe = tmp_path / "modules.txt"
    again = on_terminal(["get-production", "m", "--path", "-R", root], stdout_tty=False, probe=str(probe))
    assert again.code == 0 and again.stdout == first.stdout
    assert again.terminal == ""  # the copy was there: nothing moved, nothing shown
    assert "rich" not in probe.read_text().split()


def test_small_transfers_show_no_bar(tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "reg"
    Registry.init(root)
    screen = on_terminal(["register", "m", make_file(tmp_path / "w.bin", 1000), "-R", root], stdout_tty=False)
    assert screen.code == 0 and screen.terminal == ""


def test_counts_and_sizes_read_as_english(cli: Any, tmp_path: Path, make_file: Any) -> None:
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    reg.register("m", [make_file(tmp_path / "w.bin", 1500)])
    out = cli("export", "m@1", tmp_path / "out", "-R", root)
    assert out.exit_code == 0 and "1 file (1.5 kB)" in out.stdout and "1 files" not in out.stdout
    remote = tmp_path / "remote"
    remote.mkdir()
    out = cli("push", "-R", root, env={"MODELREG_REMOTE": str(remote)})
    assert out.exit_code == 0, out.stderr
    assert "Pushed 1 blob (1.5 kB)" in out.stdout, out.stdout
    out = cli("verify", "-R", root)
    assert "1 model, 1 version, 1 blob, 2 audit entries" in out.stdout, out.stdout
    out = cli("gc", "--dry-run", "-R", root)
    assert "0 blobs (0 bytes), 0 leftovers, 0 cached copies" in out.stdout, out.stdout
    assert json.loads(cli("gc", "--dry-run", "-R", root, "--json").stdout)["bytes_freed"] == 0
