"""Running the registry's commands: hooks after a change, and the ``check`` commands of a gate.

Both are shell commands from ``modelreg.toml``, so neither runs unless this machine trusts them
(``ops/trust.py``). Neither ever runs under a model lock: a hook runs once the change is durable
and its lock released, a check before the change is made (``ops/promote.py`` re-checks under the
lock that nothing the check saw has moved). So a slow command blocks no other writer, and a
command that calls modelreg on the same model cannot deadlock.

Hooks run at most once: a change whose process dies before its hooks ran keeps no record of
them (the audit log is the reliable record of what happened; a consumer can catch up from
``modelreg log``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from typing import IO, Any

from modelreg.repo import Repo

TRUST_ENV = "MODELREG_TRUST"  # ops/trust.py reads it; never passed on to a command
DEPTH_ENV = "MODELREG_HOOK_DEPTH"
MAX_DEPTH = 3  # a hook whose modelreg call runs hooks whose modelreg call runs hooks: stop there
_TAIL_BYTES = 4096


@dataclass(frozen=True)
class Outcome:
    command: str
    exit_code: int | None  # None: killed at the timeout
    last_line: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _last_line(fh: IO[bytes]) -> str:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - _TAIL_BYTES))
    lines = [line.strip() for line in fh.read().decode("utf-8", "replace").splitlines()]
    return next((line for line in reversed(lines) if line), "")[:500]


def run_command(repo: Repo, command: str, document: dict[str, Any], env: dict[str, str], timeout: float) -> Outcome:
    """Run ``command`` in the registry directory with ``document`` as JSON on stdin; keep only the
    last line of its stderr. Killed (with everything it started) after ``timeout`` seconds."""
    depth = _depth()
    full_env = {**os.environ, **env, "MODELREG_REGISTRY": str(repo.root), DEPTH_ENV: str(depth + 1)}
    # Trusting this registry's commands for one run trusts nothing they run in turn: a hook that
    # calls modelreg on another registry finds that one's commands untrusted, as they are.
    full_env.pop(TRUST_ENV, None)
    import tempfile  # only where a hook runs

    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as stderr:
        stdin.write(json.dumps(document, ensure_ascii=False).encode() + b"\n")
        stdin.seek(0)
        try:
            proc = subprocess.Popen(
                command,
                shell=True,
                cwd=repo.root,
                env=full_env,
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,  # its own process group: a timeout kills all of it
            )
        except OSError as exc:
            return Outcome(command, 127, f"cannot start: {exc.strerror or exc}")
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            return Outcome(command, None, f"timed out after {timeout:g}s")
        except BaseException:
            _kill(proc)  # Ctrl-C: the command does not outlive modelreg
            raise
        return Outcome(command, code, _last_line(stderr))


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _depth() -> int:
    try:
        return int(os.environ.get(DEPTH_ENV, "0"))
    except ValueError:
        return MAX_DEPTH


def event_env(entry: dict[str, Any]) -> dict[str, str]:
    def text(key: str) -> str:
        value = entry.get(key)
        return "" if value is None else str(value)

    return {
        "MODELREG_EVENT": text("action"),
        "MODELREG_MODEL": text("model"),
        "MODELREG_VERSION": text("version"),
        "MODELREG_FROM_STAGE": text("from_stage"),
        "MODELREG_TO_STAGE": text("to_stage"),
        "MODELREG_ACTOR": text("actor"),
        "MODELREG_ENV": text("env"),  # deploy and undeploy: the environment
    }


def _version_json(repo: Repo, entry: dict[str, Any], cache: dict[tuple[str, int], Any]) -> Any:
    from modelreg.errors import ModelregError

    name, number = entry.get("model"), entry.get("version")
    if not isinstance(name, str) or not isinstance(number, int):
        return None
    key = (name, number)
    if key not in cache:
        try:
            cache[key] = repo.load_version(repo.state(name), number).to_json()
        except ModelregError:
            cache[key] = None
    return cache[key]


def after(repo: Repo, entries: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    """Run the hooks of each entry's event, in order, once the change is durable and no lock is
    held. A failing hook undoes nothing: it becomes a warning and a line of ``repo.hook_runs``."""
    from modelreg.ops.events.trust import is_trusted

    hooks = repo.config.policy.hooks
    wanted = [(e, hooks.get(str(e.get("action")), ())) for e in entries]
    wanted = [(e, cmds) for e, cmds in wanted if cmds]
    if not wanted:
        return
    count = sum(len(cmds) for _, cmds in wanted)
    events = ", ".join(sorted({str(e.get("action")) for e, _ in wanted}))
    if not is_trusted(repo):
        repo.warnings.append(
            f"{count} hook(s) for {events} not run: this machine does not trust the commands in "
            f"{repo.root / 'modelreg.toml'} (review them, then run: modelreg trust)"
        )
        return
    if _depth() >= MAX_DEPTH:
        repo.warnings.append(f"{count} hook(s) for {events} not run: hooks nested {MAX_DEPTH} deep (a hook loop?)")
        return
    versions: dict[tuple[str, int], Any] = {}
    for entry, commands in wanted:
        document = {"event": entry.get("action"), "entry": entry, "version": _version_json(repo, entry, versions)}
        document.update(extra or {})
        for command in commands:
            outcome = run_command(repo, command, document, event_env(entry), repo.config.policy.hook_timeout)
            repo.hook_runs.append({"event": entry.get("action"), "command": command, "exit_code": outcome.exit_code})
            if not outcome.ok:
                how = "timed out" if outcome.exit_code is None else f"exited {outcome.exit_code}"
                detail = f": {outcome.last_line}" if outcome.last_line and outcome.exit_code is not None else ""
                repo.warnings.append(
                    f"hook {command!r} for {entry.get('action')} {how}{detail} (the change itself is done)"
                )
