"""One numbering under kill -9, on every engine (a directory store, the git remote, a real S3
server): writers in several clones of one registry loop on ``register`` (claims) or ``promote``
(pointer swaps) and are killed at random points. Each kill waits for an event — a new claim or a
new pointers object on the engine, so a writer is known to be inside a change — then lands after
a random delay drawn by the test, anywhere in that change or the next one; killed writers are
restarted. Afterwards every clone recovers, publishes through the ordinary ``git pull --rebase &&
git push`` loop without a conflict, and verifies: no number is held by two versions, every
claimed number without a version is reported as abandoned (``verify``, ``show``) and never
handed out again, and no pointer change that a writer reported done is lost."""

from __future__ import annotations

import json
import random
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.procs import run_modelreg, script_cmd, start
from support.s3server import SeaweedS3
from support.teams import clone_of, git, publish, team_origin

from modelreg import Registry
from modelreg.ops.teams.engine import Engine, open_engine

CLONES = 3
KILLS = 6
BUCKET = "modelreg-kills"
WAIT = 180  # seconds: a bound on a hang, never a window an assertion depends on

pytestmark = pytest.mark.slow  # a minute or two each on a loaded machine


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture(params=["directory", "git", "seaweedfs"])
def origin(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    if request.param == "seaweedfs":
        server: SeaweedS3 = request.getfixturevalue("aws_env")
        return team_origin(tmp_path, "s3", f"s3://{BUCKET}/kill-{secrets.token_hex(6)}", server.endpoint_url)
    shared = tmp_path / "shared"
    shared.mkdir()
    return team_origin(tmp_path, "git" if request.param == "git" else "s3", str(shared))


def engine_seen_from(root: Path) -> Engine:
    """The engine as a clone that never writes sees it (the git engine fetches into that clone)."""
    engine = open_engine(Registry.open(root))
    assert engine is not None
    return engine


def wait_until(changed: Callable[[], bool], what: str, procs: list[subprocess.Popen[str]]) -> None:
    deadline = time.monotonic() + WAIT
    while not changed():
        assert time.monotonic() < deadline, f"no writer made {what}"
        for proc in procs:
            assert proc.poll() is None, proc.communicate()
        time.sleep(0.002)


class Writers:
    """One looping writer per clone (``procs.py`` modes), restarted after each kill; counts the
    changes each reported durable (``done N``) before it died."""

    def __init__(self, mode: str, args: Callable[[Path], list[object]], roots: list[Path]) -> None:
        self.mode, self.args, self.roots = mode, args, roots
        self.procs: dict[int, subprocess.Popen[str]] = {}
        self.reported = 0

    def launch(self, i: int) -> None:
        proc = start(script_cmd(self.mode, *self.args(self.roots[i])))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "ready\n", line + (proc.stderr.read() if proc.stderr else "")
        self.procs[i] = proc

    def kill(self, i: int) -> int:
        """Kill writer ``i``; the changes it reported done."""
        proc = self.procs.pop(i)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
        # Read on through the same buffered reader that read "ready": lines it read ahead are
        # there, where communicate() would read the pipe underneath and miss them.
        assert proc.stdout is not None and proc.stderr is not None
        out = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
        done = max([int(line.split()[1]) for line in out.splitlines() if line.startswith("done ")] or [0])
        self.reported += done
        return done

    def live(self) -> list[subprocess.Popen[str]]:
        return list(self.procs.values())

    def kill_all(self) -> None:
        for i in list(self.procs):
            self.kill(i)


def recover_and_publish(roots: list[Path]) -> None:
    """Each clone finishes or undoes its interrupted change (verify recovers first), pushes the
    files of its versions, then commits and runs the publish loop: never a conflict."""
    for root in roots:
        done = run_modelreg("-R", root, "verify", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        pushed = run_modelreg("-R", root, "push")
        assert pushed.returncode == 0, pushed.stderr
        if git("status", "--porcelain", cwd=root):
            published = publish(root)
            assert published.returncode == 0, published.stdout + published.stderr


def test_kill_9_at_random_points_of_claims_never_gives_a_number_twice(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    roots = [clone_of(origin, tmp_path / f"clone{i}") for i in range(CLONES)]
    watch = clone_of(origin, tmp_path / "watch")
    engine = engine_seen_from(watch)
    rng = random.Random()
    writers = Writers("register-loop", lambda root: [root, "churn", tmp_path], roots)
    for i in range(CLONES):
        writers.launch(i)
    try:
        for _ in range(KILLS):
            seen = len(engine.claimed("churn"))
            # The event: a claim newer than the last kill (some writer is inside a register).
            wait_until(lambda seen=seen: len(engine.claimed("churn")) > seen, "a claim", writers.live())
            victim = rng.randrange(CLONES)
            time.sleep(rng.uniform(0, 0.05))  # where in the change (or the next) the kill lands
            writers.kill(victim)
            writers.launch(victim)
    finally:
        writers.kill_all()
    recover_and_publish(roots)
    # One more register after the kills: a number no writer ever claimed.
    claimed = engine.claimed("churn")
    assert claimed == list(range(1, len(claimed) + 1))  # dense, each number claimed once
    last = run_modelreg("-R", roots[0], "register", "churn", make_file(tmp_path / "last.bin", b"last"), "--json")
    assert last.returncode == 0, last.stderr
    assert json.loads(last.stdout)["version"] == claimed[-1] + 1
    assert publish(roots[0]).returncode == 0
    held: set[int] = set()
    for root in [*roots, watch]:
        git("pull", "-q", "--rebase", "origin", "main", cwd=root)
        assert run_modelreg("-R", root, "pull").returncode == 0
        done = run_modelreg("-R", root, "verify", "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        findings = json.loads(done.stdout)["findings"]
        # A kill inside a write may leave its temporary file (a harmless warning); nothing else.
        claims = [f for f in findings if f["kind"] != "leftover"]
        assert all(f["severity"] == "warning" for f in findings) and all(f["kind"] == "claims" for f in claims), (
            findings
        )
        shown = json.loads(run_modelreg("-R", root, "show", "churn", "--json").stdout)
        held = {v["version"] for v in shown["versions"]}
        abandoned = set(claimed) - held
        # Every number claimed and unused is reported, in verify and in show, with its writer.
        assert {u["version"] for u in shown.get("unused_claims", [])} == abandoned
        assert all(u["claimed_by"] and u["claimed_at"] for u in shown.get("unused_claims", []))
        reported = {
            n for n in abandoned for f in claims if f"churn@{n} " in f["message"] and "abandoned" in f["message"]
        }
        assert reported == abandoned and len(claims) == len(abandoned), claims
    # One manifest per number (a second version under a number would have stopped a pull on a
    # conflict), and no version outside the numbers claimed.
    assert held | (set(claimed) - held) == set(range(1, claimed[-1] + 2))
    assert writers.reported <= len(held)


def test_kill_9_at_random_points_of_pointer_swaps_loses_no_pointer_change(
    tmp_path: Path, origin: Path, make_file: Callable[..., Path]
) -> None:
    first = clone_of(origin, tmp_path / "first")
    for i in (1, 2, 3):
        done = run_modelreg("-R", first, "register", "churn", make_file(tmp_path / f"v{i}.bin", f"v{i}".encode()))
        assert done.returncode == 0, done.stderr
    assert publish(first).returncode == 0
    a, other, watch = (clone_of(origin, tmp_path / n) for n in ("a", "other", "watch"))
    engine = engine_seen_from(watch)
    rng = random.Random()
    writers = Writers("promote-loop", lambda root: [root, "churn", 1, 2, 3], [a])
    writers.launch(0)

    def pointers_tag() -> str | None:
        tagged = engine.read_pointers("churn")
        return None if tagged is None else tagged.tag

    def holder(root: Path) -> int | None:
        done = run_modelreg("-R", root, "verify", "--json")  # recovers an interrupted change first
        assert done.returncode == 0, done.stdout + done.stderr
        held: int | None = json.loads(run_modelreg("-R", root, "show", "churn", "--json").stdout)["stages"][
            "production"
        ]
        return held

    cycle = [1, 2, 3]  # what the loop promotes, in turn, from its start
    before = None
    try:
        for _ in range(KILLS):
            seen = pointers_tag()
            # The event: the pointers object moved (the writer is between a swap and its record).
            wait_until(lambda seen=seen: pointers_tag() != seen, "a pointer swap", writers.live())
            time.sleep(rng.uniform(0, 0.05))  # where in the change (or the next) the kill lands
            done = writers.kill(0)
            # No change reported done is lost: production holds the last one the writer reported,
            # or the one it was making when killed (recorded, then killed before it said so).
            last = cycle[(done - 1) % 3] if done else before
            assert holder(a) in (last, cycle[done % 3])
            before = holder(a)
            writers.launch(0)
    finally:
        writers.kill_all()
    # The clone moves on from where it is: a swap whose change was never recorded here is undone
    # on the engine, never left to block the model.
    now = holder(a)
    target = 3 if now != 3 else 2
    again = run_modelreg("-R", a, "promote", f"churn@{target}", "production", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["archived"] == ([now] if now else [])
    synced = json.loads(run_modelreg("-R", a, "sync", "--json").stdout)
    assert synced["models"][0]["pointers"] == "in step"
    recover_and_publish([a])
    git("pull", "-q", "--rebase", "origin", "main", cwd=other)
    done = run_modelreg("-R", other, "verify", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(run_modelreg("-R", other, "sync", "--json").stdout)["models"][0]["pointers"] == "in step"
    assert holder(other) == target
    # The other clone, now in step, changes the pointers in turn: nothing was left half-swapped.
    moved = run_modelreg("-R", other, "promote", "churn@1", "production", "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["archived"] == [target]
