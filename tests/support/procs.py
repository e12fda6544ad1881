"""Real modelreg processes for the crash-safety and concurrency tests (issue 4).

Imported by the tests: ``Cli`` runs ``python -m modelreg`` against one registry, and a few
checks read what the command line shows (``list``, ``log``, ``verify``) and the raw audit log.

Run as a script by the tests, for what must happen inside a process of its own
(``python tests/procs.py MODE ARGS...``):

``barrier FILE ARGS...``        import the CLI, say ready, wait until FILE exists, then run
                                ``modelreg ARGS`` exactly as ``python -m modelreg`` does: processes
                                started this way enter the command at the same instant.
``promote-loop REG NAME V...``  promote versions V... of NAME to production round-robin, forever.
``annotate-loop REG NAME V``    annotate NAME@V (tag ``n``) and NAME (description ``d<k>``), each a
                                counter that goes up by one per change, forever.
``register-loop REG NAME DIR``  register small distinct files as new versions of NAME, forever.

The loops use the library in-process, so that a SIGKILL lands inside a change far more often
than between two process start-ups. Each prints ``ready`` once it is about to start changing,
then ``done N`` after its N-th change is durable, so a test can kill it once it got that far.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

AUTHOR = "crash-tester"
HERE = Path(__file__).resolve()
TMP_SUFFIX = ".mrtmp"
# Variables that would change what a child does; the tests set what they need explicitly.
SCRUB = ("MODELREG_TEST_CRASH_AT", "MODELREG_LOCK_TIMEOUT", "MODELREG_REGISTRY", "MODELREG_REMOTE", "MODELREG_DEBUG")


def child_env(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUB}
    env["MODELREG_AUTHOR"] = AUTHOR
    env["NO_COLOR"] = "1"
    for key, value in (extra or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def modelreg_cmd(*args: Any) -> list[str]:
    return [sys.executable, "-m", "modelreg", *map(str, args)]


def run_modelreg(*args: Any, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """A real modelreg process that must end within ``timeout`` seconds (a hang fails the test)."""
    return subprocess.run(modelreg_cmd(*args), capture_output=True, text=True, timeout=timeout, check=False)


def script_cmd(mode: str, *args: Any) -> list[str]:
    """A command line that runs this file in ``mode``."""
    return [sys.executable, str(HERE), mode, *map(str, args)]


def _default_sigint() -> None:
    # A test run started in the background inherits an ignored SIGINT, and so would every
    # child; Python then never installs its Ctrl-C handler. The tests send SIGINT on purpose.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cmd: list[str], env: dict[str, str | None] | None = None, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(env),
        preexec_fn=_default_sigint,
        **kwargs,
    )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    buf = bytearray(8 << 20)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            h.update(view[:n])
    return "sha256:" + h.hexdigest()


def leftovers(root: Path) -> list[Path]:
    """Temporary files of interrupted writes anywhere in the registry."""
    return sorted(p for p in root.rglob(f"*{TMP_SUFFIX}"))


class Cli:
    """``python -m modelreg CMD -R ROOT ARGS...`` as real processes."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def cmd(self, command: str, *args: Any) -> list[str]:
        return modelreg_cmd(command, "-R", self.root, *args)

    def start(self, command: str, *args: Any, env: dict[str, str | None] | None = None) -> subprocess.Popen[str]:
        return start(self.cmd(command, *args), env=env)

    def run(
        self, command: str, *args: Any, env: dict[str, str | None] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.cmd(command, *args),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            env=child_env(env),
            timeout=timeout,
            check=False,
        )

    def json(self, command: str, *args: Any, env: dict[str, str | None] | None = None) -> Any:
        """Run with --json; the command must succeed and print one JSON document."""
        proc = self.run(command, *args, "--json", env=env)
        assert proc.returncode == 0, f"modelreg {command} {args} exited {proc.returncode}: {proc.stderr}"
        return json.loads(proc.stdout)

    def verify(self) -> dict[str, Any]:
        """``verify --json`` must exit 0 and say ok; returns the report."""
        proc = self.run("verify", "--json")
        assert proc.returncode == 0, f"verify exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        report = json.loads(proc.stdout)
        assert report["ok"] is True, report
        errors = [f for f in report["findings"] if f["severity"] != "warning"]
        assert errors == [], report
        return report

    def versions(self, name: str) -> list[dict[str, Any]]:
        return self.json("list", name)["versions"]

    def model(self, name: str) -> dict[str, Any]:
        models = [m for m in self.json("list")["models"] if m["name"] == name]
        assert len(models) == 1, models
        return models[0]

    def log(self, name: str) -> list[dict[str, Any]]:
        return self.json("log", name)["entries"]

    def raw_audit(self) -> list[dict[str, Any]]:
        lines = (self.root / "audit.jsonl").read_bytes().splitlines()
        return [json.loads(line) for line in lines]


def replay_stages(entries: list[dict[str, Any]]) -> dict[int, str]:
    """The stage of every version as the audit log tells it, checking each move starts where the
    previous one left the version (a duplicated or lost entry breaks that)."""
    stages: dict[int, str] = {}
    for e in entries:
        v = e["version"]
        if e["action"] == "register":
            assert v not in stages, f"two register entries for version {v}: {e}"
            stages[v] = e["to_stage"]
        elif e["action"] in ("promote", "archive"):
            assert stages.get(v) == e["from_stage"], (
                f"entry moves version {v} from {e['from_stage']!r} but the log left it in {stages.get(v)!r}: {e}"
            )
            stages[v] = e["to_stage"]
    return stages


def check_consistent(cli: Cli, name: str) -> list[dict[str, Any]]:
    """The audit log and the registry's state agree; every change's entries appear once."""
    versions = cli.versions(name)
    numbers = [v["version"] for v in versions]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    entries = cli.log(name)
    assert replay_stages(entries) == {v["version"]: v["stage"] for v in versions}
    production = [v["version"] for v in versions if v["stage"] == "production"]
    assert len(production) <= 1, f"production held by {production}"
    stages = cli.model(name)["stages"]
    assert stages["production"] == (production[0] if production else None), stages
    # Entries of one change share a txn: none of them may be in the log twice.
    seen = Counter(
        (e.get("txn"), e["action"], e["version"], e.get("to_stage")) for e in cli.raw_audit() if e["model"] == name
    )
    assert [k for k, n in seen.items() if n > 1] == []
    return versions


# -- modes run as a script --------------------------------------------------------------------


def _ready() -> None:
    sys.stdout.write("ready\n")
    sys.stdout.flush()


def _done(count: int) -> None:
    sys.stdout.write(f"done {count}\n")
    sys.stdout.flush()


def _barrier(barrier: str, args: list[str]) -> None:
    import runpy

    import modelreg.base.locks
    import modelreg.cli

    # Everything a command imports, before the barrier, so that all processes start it together.
    import modelreg.records.audit
    import modelreg.records.journal
    import modelreg.registry  # noqa: F401

    Path(f"{barrier}.{os.getpid()}.ready").touch()
    while not os.path.exists(barrier):
        time.sleep(0.001)
    sys.argv = ["modelreg", *args]
    runpy.run_module("modelreg", run_name="__main__", alter_sys=True)


def _promote_loop(root: str, name: str, versions: list[str]) -> None:
    from modelreg import Registry

    reg = Registry.open(Path(root))
    _ready()
    i = 0
    while True:
        reg.promote(f"{name}@{versions[i % len(versions)]}", "production", reason=f"loop {i}")
        i += 1
        _done(i)


def _annotate_loop(root: str, name: str, version: str) -> None:
    from modelreg import Registry

    reg = Registry.open(Path(root))
    n = int(reg.resolve(f"{name}@{version}").tags.get("n", "0"))
    d = int(reg.state(name).index.description.removeprefix("d") or "0")
    _ready()
    done = 0
    while True:
        n += 1
        reg.annotate(f"{name}@{version}", set_tags={"n": str(n)})
        d += 1
        reg.annotate(name, description=f"d{d}")
        done += 1
        _done(done)


def _register_loop(root: str, name: str, workdir: str) -> None:
    from modelreg import Registry

    reg = Registry.open(Path(root))
    src = Path(workdir) / f"weights-{os.getpid()}.bin"
    _ready()
    i = 0
    while True:
        src.write_bytes(f"{os.getpid()} {i} {time.time_ns()}\n".encode() * 64)
        reg.register(name, [src])
        i += 1
        _done(i)


def main(argv: list[str]) -> None:
    mode, *args = argv
    if mode == "barrier":
        _barrier(args[0], args[1:])
    elif mode == "promote-loop":
        _promote_loop(args[0], args[1], args[2:])
    elif mode == "annotate-loop":
        _annotate_loop(*args)
    elif mode == "register-loop":
        _register_loop(*args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
