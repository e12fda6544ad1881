"""Issue 10, recovery of an interrupted change never overwrites what a ``git pull`` brought since.

Two real git clones of one registry repository (Alice's and Bob's, through a bare origin).
Alice's change of model ``m`` dies after its journal is written (``MODELREG_TEST_CRASH_AT``, as a
kill -9 would); meanwhile Bob registers ``m@2`` and puts it in production and pushes; Alice runs
``git pull``. The next command on Alice's side that finishes interrupted changes must see that
the tracked files moved on since the journal was written: it leaves the pulled files as they
are, says so clearly, and Bob's ``m@2`` stays in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.guarantees import audit_entries, doc, git, mr, no_bug
from support.results import ok

CRASH_EXIT = 137


def _tracked(repo: Path) -> dict[str, bytes]:
    return {rel: (repo / rel).read_bytes() for rel in git("ls-files", cwd=repo).split()}


def _team(tmp_path: Path, make_file: Any) -> tuple[Path, Path]:
    """A registry repository with m@1, pushed to a bare origin and cloned by Alice and Bob."""
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", origin, cwd=tmp_path)
    seed = tmp_path / "seed"
    ok(mr("init", seed))
    ok(mr("register", "-R", seed, "m", make_file(tmp_path / "train" / "v1.bin", "version one\n")))
    git("init", "-q", "-b", "main", cwd=seed)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "m@1", cwd=seed)
    git("remote", "add", "origin", origin, cwd=seed)
    git("push", "-q", "origin", "main", cwd=seed)
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    git("clone", "-q", origin, alice, cwd=tmp_path)
    git("clone", "-q", origin, bob, cwd=tmp_path)
    return alice, bob


def _bob_ships_version_two(bob: Path, make_file: Any, tmp_path: Path) -> str:
    v2 = doc(mr("register", "-R", bob, "m", make_file(tmp_path / "bob-train" / "v2.bin", "bob's v2\n"), "--json"))
    ok(mr("promote", "-R", bob, "m@2", "production", "--reason", "bob's model"))
    git("add", "-A", cwd=bob)
    git("commit", "-q", "-m", "m@2 in production", cwd=bob)
    git("push", "-q", "origin", "main", cwd=bob)
    return str(v2["digest"])


def _alice_is_interrupted(change: str, alice: Path, make_file: Any, tmp_path: Path) -> None:
    crash = {"MODELREG_TEST_CRASH_AT": "after-journal"}
    if change == "promote":
        proc = mr("promote", "-R", alice, "m@1", "production", "--reason", "alice's pick", env=crash)
    else:
        proc = mr(
            "register", "-R", alice, "m", make_file(tmp_path / "alice-train" / "v2.bin", "alice's v2\n"), env=crash
        )
    assert proc.returncode == CRASH_EXIT, proc.stderr
    assert list((alice / ".modelreg" / "journal").glob("*.json")), "no journal left by the interrupted change"
    assert git("status", "--porcelain", cwd=alice) == "", "the interrupted change touched tracked files"


COMMANDS = {
    "verify": ("verify",),
    "annotate": ("annotate", "m", "--description", "alice was here"),
    "gc": ("gc",),
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("change", ["promote", "register"])
def test_a_stale_journal_is_not_replayed_over_a_git_pull(
    change: str, command: str, tmp_path: Path, make_file: Any
) -> None:
    alice, bob = _team(tmp_path, make_file)
    bob_digest = _bob_ships_version_two(bob, make_file, tmp_path)
    _alice_is_interrupted(change, alice, make_file, tmp_path)
    git("pull", "-q", "--ff-only", "origin", "main", cwd=alice)
    pulled = _tracked(alice)
    pulled_entries = len(audit_entries(alice))

    proc = mr(*COMMANDS[command], "-R", alice)
    no_bug(proc)

    # The pulled files are as Bob wrote them (annotate rewrites only model.yaml's description).
    now = _tracked(alice)
    changed = sorted(rel for rel in pulled if now.get(rel) != pulled[rel])
    allowed = {"audit.jsonl", "models/m/model.yaml"} if command == "annotate" else set()
    assert set(changed) <= allowed, f"{command} overwrote pulled files with a stale journal: {changed}"
    assert now["models/m/stages.yaml"] == pulled["models/m/stages.yaml"]
    assert now["models/m/versions/2.yaml"] == pulled["models/m/versions/2.yaml"]
    # Bob's version is the one in production, and the log holds none of Alice's stale entries.
    production = doc(mr("get-production", "m", "-R", alice, "--json"))
    assert (production["version"], production["digest"]) == (2, bob_digest)
    new_entries = audit_entries(alice)[pulled_entries:]
    stale = [e for e in new_entries if e["action"] in ("register", "promote", "archive")]
    assert stale == [], f"entries of the stale change were appended: {stale}"
    # And the user is told why the interrupted change was not finished.
    said = (proc.stdout + proc.stderr).lower()
    assert "journal" in said or "interrupted" in said, f"no word about the stale change: {proc.stdout}{proc.stderr}"
