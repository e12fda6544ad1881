"""One numbering under kill -9: writers in several clones register the same model in loops and
are killed at random moments, each kill as soon as a new claim appears on the engine (an event,
never a time window); restarted writers carry on. No number is ever held by two versions, every
version's number is the one its writer claimed, and every clone verifies."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

from support.procs import run_modelreg, script_cmd, start
from support.teams import init_claims_registry

CLONES = 3
KILLS = 8


def wait_for_line(proc: subprocess.Popen[str], text: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert text in line, line + (proc.stderr.read() if proc.stderr else "")


def claimed_numbers(shared: Path) -> list[int]:
    """The claims on the engine (a killed writer may leave a hidden temporary file beside them)."""
    folder = shared / "claims" / "churn"
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return sorted(int(n) for n in names if n.isdigit())


def claims_on(shared: Path) -> int:
    return len(claimed_numbers(shared))


def test_kill_9_at_random_points_of_claims_never_gives_a_number_twice(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    roots = [init_claims_registry(tmp_path / f"clone{i}", str(shared)) for i in range(CLONES)]
    rng = random.Random()
    procs: dict[int, subprocess.Popen[str]] = {}

    def launch(i: int) -> None:
        procs[i] = start(script_cmd("register-loop", roots[i], "churn", tmp_path))
        wait_for_line(procs[i], "ready")

    for i in range(CLONES):
        launch(i)
    try:
        for _ in range(KILLS):
            seen = claims_on(shared)
            deadline = time.monotonic() + 120
            # The event: a claim newer than the last kill (some writer is inside a register).
            while claims_on(shared) <= seen:
                assert time.monotonic() < deadline, "no writer made a claim"
                time.sleep(0.001)
            victim = rng.randrange(CLONES)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(timeout=60)
            launch(victim)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
    holders: dict[int, str] = {}
    for root in roots:
        done = run_modelreg("-R", root, "verify", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        assert all(f["severity"] == "warning" for f in json.loads(done.stdout)["findings"])
        for manifest in (root / "models" / "churn" / "versions").glob("*.yaml"):
            number = int(manifest.stem)
            assert number not in holders, f"churn@{number} is held in {holders[number]} and in {root}"
            holders[number] = str(root)
    claimed = claimed_numbers(shared)
    assert claimed == list(range(1, len(claimed) + 1))  # dense, claimed once
    assert set(holders) <= set(claimed)
