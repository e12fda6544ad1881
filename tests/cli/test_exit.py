"""How a modelreg process ends: without tearing the interpreter down, yet with everything a
normal exit does that anyone can see (exit handlers, flushed output, threads waited for, a
profiler's report, the exit code). Real processes, as a shell runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = """
import atexit, sys, threading, time
from pathlib import Path
from modelreg.__main__ import main

mode, out = sys.argv[1], Path(sys.argv[2])
if mode == "atexit":
    atexit.register(lambda: out.write_text("exit handler ran"))
elif mode == "thread":
    def late():
        time.sleep(0.3)
        out.write_text("thread finished")
    threading.Thread(target=late).start()
sys.argv = ["modelreg", *sys.argv[3:]]
main()
"""


def drive(tmp_path: Path, mode: str, *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path / "out.txt"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, mode, str(out), *args], capture_output=True, text=True, check=False
    )
    return proc, out


def test_exit_handlers_run_and_the_output_is_complete(tmp_path: Path) -> None:
    proc, out = drive(tmp_path, "atexit", "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("modelreg ") and proc.stderr == ""
    assert out.read_text() == "exit handler ran"


def test_a_thread_still_running_is_waited_for(tmp_path: Path) -> None:
    proc, out = drive(tmp_path, "thread", "--version")
    assert proc.returncode == 0 and proc.stdout.startswith("modelreg ")
    assert out.read_text() == "thread finished"


@pytest.mark.parametrize("args", [["--version"], ["list", "-R", "nowhere"], ["show", "m@1", "--json", "-R", "nowhere"]])
def test_the_exit_code_and_the_streams_are_those_of_the_command(tmp_path: Path, args: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "modelreg", *args], capture_output=True, text=True, cwd=tmp_path)
    quick, _ = drive(tmp_path, "plain", *args)
    assert (quick.returncode, quick.stdout, quick.stderr) == (proc.returncode, proc.stdout, proc.stderr)
    assert (proc.returncode == 0) == (args == ["--version"]) and (proc.stdout or proc.stderr)


def test_a_stream_closed_from_the_start_changes_nothing(tmp_path: Path) -> None:
    # ``2>&-``: Python has no sys.stderr at all; the answer and the code are the command's.
    reg = tmp_path / "reg"
    closed = subprocess.run(
        ["sh", "-c", 'exec "$0" -m modelreg init "$1" 2>&-', sys.executable, str(reg)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert closed.returncode == 0 and "Created registry" in closed.stdout and (reg / "modelreg.toml").is_file()
    version = subprocess.run(
        ["sh", "-c", 'exec "$0" -m modelreg --version 2>&-', sys.executable], capture_output=True, text=True
    )
    assert (version.returncode, version.stdout.split()[0]) == (0, "modelreg")


@pytest.mark.parametrize("closed", ["1>&-", "1>&- 2>&-", "0<&-"])
def test_a_command_with_a_standard_stream_closed_keeps_its_exit_code(tmp_path: Path, closed: str) -> None:
    """``1>&-``: what would go to stdout is dropped, the command still does its work and exits
    with its own code, and an error still reaches stderr as one line, never a traceback."""
    from modelreg import Registry

    reg = tmp_path / "reg"
    Registry.init(reg)
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        line = 'exec "$0" -m modelreg "$@" ' + closed
        return subprocess.run(["sh", "-c", line, sys.executable, *args], capture_output=True, text=True, check=False)

    registered = run("register", "m", str(model), "-R", str(reg))
    assert (registered.returncode, registered.stderr) == (0, "")
    assert Registry.open(reg).resolve("m@1").version == 1
    assert run("list", "--json", "-R", str(reg)).returncode == 0
    missing = run("get-production", "m", "--json", "-R", str(reg))
    assert missing.returncode == 3 and "Traceback" not in missing.stderr
    if "2>&-" not in closed:
        assert missing.stderr.splitlines()[0] == "error: no version of 'm' is in production"
    shown = run("show", "m@1", "-R", str(reg))  # a human panel, through Typer
    assert shown.returncode == 0 and "Traceback" not in shown.stderr


def test_a_profiler_still_writes_its_report(tmp_path: Path) -> None:
    report = tmp_path / "modelreg.prof"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(report), "-m", "modelreg", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("modelreg ")
    assert report.stat().st_size > 0


def test_a_reader_gone_away_is_not_an_error() -> None:
    # Output still in the buffer when the process ends meets the closed pipe at the last flush
    # (a command's own writes meet it inside the command, which says nothing either).
    read, write = os.pipe()
    os.close(read)
    ending = "import sys; from modelreg.__main__ import leave; sys.stdout.write('x' * 100); leave(0)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the output stays buffered
    try:
        proc = subprocess.run(
            [sys.executable, "-c", ending], stdout=write, stderr=subprocess.PIPE, text=True, env=env, check=False
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (0, "")
