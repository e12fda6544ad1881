"""Running modelreg on a real pseudo-terminal of a given width (issue 12 tests).

``on_terminal(args, columns=80, stdout_tty=True, stderr_tty=True)`` starts ``python -m modelreg``
with the chosen streams on a pty whose window size is set (and ``COLUMNS`` too, as a shell
exports it), and returns what each stream received.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


@dataclass
class Screen:
    code: int
    terminal: str  # raw bytes the pty received (escape codes kept), newlines normalised
    stdout: str  # when stdout was a pipe
    stderr: str  # when stderr was a pipe

    @property
    def text(self) -> str:
        return plain(self.terminal)

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()


def plain(text: str) -> str:
    return ANSI.sub("", text).replace("\r", "")


def on_terminal(
    args: list[Any],
    *,
    columns: int = 80,
    stdout_tty: bool = True,
    stderr_tty: bool = True,
    env: dict[str, str | None] | None = None,
    cwd: Path | None = None,
    probe: str | None = None,
) -> Screen:
    """Run modelreg with the chosen streams on a pseudo-terminal ``columns`` wide.

    ``probe``: a file to receive the names of every module the process imported.
    """
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    command = [sys.executable, "-m", "modelreg", *map(str, args)]
    if probe is not None:
        code = (
            "import atexit, sys, runpy\n"
            f"atexit.register(lambda: open({probe!r}, 'w').write('\\n'.join(sorted(sys.modules))))\n"
            f"sys.argv = ['modelreg', *{[str(a) for a in args]!r}]\n"
            "runpy.run_module('modelreg', run_name='__main__', alter_sys=True)\n"
        )
        command = [sys.executable, "-c", code]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
        env=full_env,
        cwd=cwd,
    )
    os.close(slave)
    piped: dict[str, bytes] = {}

    def drain(name: str, stream: Any) -> None:
        piped[name] = stream.read()

    threads = [
        threading.Thread(target=drain, args=(name, stream))
        for name, stream in (("stdout", proc.stdout), ("stderr", proc.stderr))
        if stream is not None
    ]
    for t in threads:
        t.start()
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    for t in threads:
        t.join(timeout=60)
    code_ = proc.wait(timeout=120)
    return Screen(
        code_,
        b"".join(chunks).decode(errors="replace").replace("\r\n", "\n"),
        piped.get("stdout", b"").decode(errors="replace"),
        piped.get("stderr", b"").decode(errors="replace"),
    )
