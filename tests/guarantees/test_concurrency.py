"""Many modelreg processes at once on one registry (issue 4): distinct versions, one holder of an
exclusive stage, no lost update, no lost audit entry; a held lock ends in exit 4.

Every command runs as a real ``python -m modelreg`` process. With ``barrier`` the processes are
started first, import the CLI, and all enter the command at the same instant (``procs.py
barrier``); with ``back-to-back`` they are plain ``python -m modelreg`` processes started one
right after the other.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from support.procs import Cli, check_consistent, script_cmd, sha256_of, start

from modelreg import Registry

N_REGISTER = 8
N_PROMOTE = 6


def launch_together(cli: Cli, mode: str, commands: list[list[Any]], tmp: Path) -> list[subprocess.Popen[str]]:
    """Start one process per ``[command, *args]`` so that they run at once."""
    if mode == "back-to-back":
        return [cli.start(*c) for c in commands]
    barrier = tmp / "go"
    procs = [start(script_cmd("barrier", barrier, c[0], "-R", cli.root, *c[1:])) for c in commands]
    deadline = time.monotonic() + 60
    while len(list(tmp.glob("go.*.ready"))) < len(procs):
        assert time.monotonic() < deadline, "the processes never reached the barrier"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.01)
    barrier.touch()
    return procs


def finish(procs: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """Wait for all; each must exit 0 and print one JSON document."""
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, f"exit {p.returncode}: {err}"
        results.append(json.loads(out))
    return results


@pytest.mark.parametrize("mode", ["barrier", "back-to-back"])
def test_parallel_registers_get_versions_1_to_8(reg_path: Path, tmp_path: Path, mode: str) -> None:
    cli = Cli(reg_path)
    files = []
    for i in range(N_REGISTER):
        f = tmp_path / "inputs" / f"p{i}" / "model.bin"
        f.parent.mkdir(parents=True)
        f.write_bytes(f"weights of process {i}\n".encode() * 100)
        files.append(f)
    procs = launch_together(cli, mode, [["register", "m", f, "--json"] for f in files], tmp_path)
    results = finish(procs)

    assert sorted(r["version"] for r in results) == list(range(1, N_REGISTER + 1))
    # Each process's version holds that process's file.
    by_version = {r["version"]: r for r in results}
    listed = cli.versions("m")
    assert [v["version"] for v in listed] == list(range(1, N_REGISTER + 1))
    for v in listed:
        assert v["digest"] == by_version[v["version"]]["digest"]
        assert v["files"] == by_version[v["version"]]["files"]
    assert len({v["digest"] for v in listed}) == N_REGISTER

    entries = cli.log("m")
    registers = [e for e in entries if e["action"] == "register"]
    assert sorted(e["version"] for e in registers) == list(range(1, N_REGISTER + 1))
    assert {e["version"]: e["digest"] for e in registers} == {v["version"]: v["digest"] for v in listed}
    assert cli.model("m")["latest_version"] == N_REGISTER
    report = cli.verify()
    assert report["findings"] == []
    assert report["versions"] == N_REGISTER


@pytest.mark.parametrize("mode", ["barrier", "back-to-back"])
def test_parallel_promotions_leave_one_production_version(reg_path: Path, tmp_path: Path, mode: str) -> None:
    reg = Registry(reg_path)
    for i in range(1, N_PROMOTE + 2):
        f = tmp_path / f"v{i}.bin"
        f.write_bytes(b"v%d" % i)
        reg.register("m", [f])
    reg.promote("m@1", "production")
    cli = Cli(reg_path)
    contenders = list(range(2, N_PROMOTE + 2))
    procs = launch_together(
        cli, mode, [["promote", f"m@{v}", "production", "--reason", f"r{v}", "--json"] for v in contenders], tmp_path
    )
    results = finish(procs)

    assert all(r["changed"] and r["stage"] == "production" for r in results)
    versions = check_consistent(cli, "m")
    stages = {v["version"]: v["stage"] for v in versions}
    winner = cli.model("m")["stages"]["production"]
    assert winner in contenders
    assert [n for n, s in stages.items() if s == "production"] == [winner]
    # Every other version that held production (1 and the five losers) was archived, each once.
    displaced = [n for n in range(1, N_PROMOTE + 2) if n != winner]
    assert sorted(n for n, s in stages.items() if s == "archived") == displaced
    assert sorted(n for r in results for n in r["archived"]) == displaced

    entries = cli.log("m")
    promotes = Counter((e["version"], e["reason"]) for e in entries if e["action"] == "promote" and e["version"] > 1)
    assert promotes == Counter((v, f"r{v}") for v in contenders)
    archives = Counter(e["version"] for e in entries if e["action"] == "archive")
    assert archives == Counter(displaced)
    report = cli.verify()
    assert report["findings"] == []


def test_parallel_changes_to_two_models_keep_one_audit_chain(reg_path: Path, tmp_path: Path) -> None:
    """Registers, promotions and annotations of two models at once: nothing lost, the log stays
    one hash chain (each entry follows exactly the one before it)."""
    reg = Registry(reg_path)
    seed = tmp_path / "seed.bin"
    for name in ("a", "b"):
        for i in (1, 2):
            seed.write_bytes(f"{name}{i}".encode())
            reg.register(name, [seed])
    cli = Cli(reg_path)
    commands: list[list[Any]] = []
    for name in ("a", "b"):
        for i in range(3):
            f = tmp_path / f"{name}-new{i}" / "w.bin"
            f.parent.mkdir()
            f.write_bytes(f"{name} new {i}".encode())
            commands.append(["register", name, f, "--json"])
        commands.append(["promote", f"{name}@1", "production", "--json"])
        commands.append(["annotate", f"{name}@2", "--tag", "k=v", "--json"])
    finish(launch_together(cli, "barrier", commands, tmp_path))

    for name in ("a", "b"):
        versions = check_consistent(cli, name)
        assert [v["version"] for v in versions] == [1, 2, 3, 4, 5]
        assert cli.model(name)["stages"]["production"] == 1
        assert versions[1]["tags"] == {"k": "v"}
        actions = Counter(e["action"] for e in cli.log(name))
        assert actions == Counter({"register": 5, "promote": 1, "annotate": 1})
    raw = cli.raw_audit()
    assert len(raw) == 1 + 2 * 7  # init, then 7 changes per model
    for before, entry in itertools.pairwise(raw):
        assert entry["prev"] == [before["id"]]
    assert cli.verify()["findings"] == []


# -- locks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["register", "m", "{new}"],
        ["promote", "m@1", "production"],
        ["annotate", "m@1", "--description", "changed"],
    ],
    ids=["register", "promote", "annotate"],
)
def test_lock_timeout_exits_4_and_changes_nothing(
    reg_path: Path, tmp_path: Path, tree_snapshot: Any, command: list[str]
) -> None:
    seed = tmp_path / "seed.bin"
    seed.write_bytes(b"first")
    Registry(reg_path).register("m", [seed])
    new = tmp_path / "new.bin"
    new.write_bytes(b"second")
    args = [a.replace("{new}", str(new)) for a in command]
    cli = Cli(reg_path)
    before = tree_snapshot(reg_path, ignore=[".modelreg"])
    lock = FileLock(str(Registry(reg_path).model_lock_path("m")))
    with lock.acquire(timeout=5):
        t0 = time.monotonic()
        proc = cli.run(*args, env={"MODELREG_LOCK_TIMEOUT": "0.5"}, timeout=30)
        waited = time.monotonic() - t0
    assert proc.returncode == 4, proc.stderr
    assert 0.5 <= waited < 15
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "locked by another modelreg process" in lines[0]
    assert "MODELREG_LOCK_TIMEOUT" in lines[0]
    assert proc.stdout == ""
    after = tree_snapshot(reg_path, ignore=[".modelreg"])
    if args[0] == "register":
        # The blob is copied before the lock is taken: an unreferenced blob may be left, which
        # gc removes after its grace period. Nothing else may change.
        new_paths = set(after) - set(before)
        assert all(p.startswith("blobs/") for p in new_paths), new_paths
        after = {p: v for p, v in after.items() if p not in new_paths}
    assert after == before
    assert [v["version"] for v in cli.versions("m")] == [1]
    # With the lock free again the same command works.
    done = cli.run(*args, env={"MODELREG_LOCK_TIMEOUT": "0.5"})
    assert done.returncode == 0, done.stderr
    check_consistent(cli, "m")
    cli.verify()


def test_model_named_audit_can_be_changed(reg_path: Path, tmp_path: Path) -> None:
    """Its lock must not be the audit log's lock (it once was: exit 4 after the lock timeout)."""
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    cli = Cli(reg_path)
    env = {"MODELREG_LOCK_TIMEOUT": "1"}
    proc = cli.run("register", "audit", f, "--json", env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == 1
    assert cli.run("promote", "audit@1", "production", env=env, timeout=60).returncode == 0
    assert cli.run("annotate", "audit", "-d", "named like the log", env=env, timeout=60).returncode == 0
    check_consistent(cli, "audit")
    cli.verify()


# -- readers during writers -----------------------------------------------------------------------


@pytest.mark.slow
def test_verify_while_registering_reports_no_false_failure(reg_path: Path, tmp_path: Path) -> None:
    # Model "a" holds a 64 MB blob, so verify spends a while hashing it after reading the log
    # and before it reads model "b", which another process registers new versions of meanwhile.
    # (It once reported those versions as having no register entry, exit 5.)
    big = tmp_path / "a.bin"
    with open(big, "wb") as fh:
        for _ in range(8):
            fh.write(b"\x5a" * (8 << 20))
    reg = Registry(reg_path)
    version_a, _ = reg.register("a", [big], link=True)
    work = tmp_path / "loop"
    work.mkdir()
    loop = start(script_cmd("register-loop", reg_path, "b", work))
    cli = Cli(reg_path)
    failures = []
    try:
        assert loop.stdout is not None
        assert loop.stdout.readline() == "ready\n"
        for _ in range(4):
            proc = cli.run("verify", "--json")
            if proc.returncode != 0:
                failures.append(f"exit {proc.returncode}: {proc.stdout}")
    finally:
        loop.kill()
        loop.communicate()
        big.unlink()
        reg.blobs.path(version_a.files[0].digest).unlink(missing_ok=True)  # format 1: a hard-linked blob
    assert failures == []


def _open_files(pid: int) -> set[str]:
    found = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                found.add(os.readlink(fd))
    except OSError:
        pass
    return found


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"process ended while waiting until {what}: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="watches the verify process through /proc")
def test_verify_while_a_register_waits_for_the_audit_log(reg_path: Path, tmp_path: Path) -> None:
    """A register of b stands between writing its files and appending its entry (another writer
    holds the audit log) while verify, busy hashing model a, comes to read b."""
    toml = reg_path / "modelreg.toml"  # format 1: a's 400 MB are one blob file that verify holds open
    toml.write_text(toml.read_text().replace("format_version = 2", "format_version = 1"))
    reg = Registry(reg_path)
    big = tmp_path / "a.bin"  # 400 MB, hard-linked into the store: verify spends a while hashing it
    with open(big, "wb") as fh:
        zeros = bytes(8 << 20)
        for _ in range(50):
            fh.write(zeros)
    version_a, _ = reg.register("a", [big], link=True)
    a_blob = str(reg.blobs.path(version_a.files[0].digest))
    seed = tmp_path / "b1.bin"
    seed.write_bytes(b"b one")
    reg.register("b", [seed])
    new = tmp_path / "b2.bin"
    new.write_bytes(b"b two")
    new_blob = reg.blobs.path(sha256_of(new))
    cli = Cli(reg_path)
    env = {"MODELREG_LOCK_TIMEOUT": "60"}
    model_lock = FileLock(str(reg.model_lock_path("b")))
    audit_lock = FileLock(str(reg_path / ".modelreg" / "locks" / "audit.lock"))
    assert Path(audit_lock.lock_file).is_file()
    procs = []
    try:
        with audit_lock.acquire(timeout=5):
            model_lock.acquire(timeout=5)
            register = cli.start("register", "b", new, "--json", env=env)
            procs.append(register)
            wait_until(new_blob.exists, register, "the register has stored its blob and waits for the model lock")
            verify = cli.start("verify", "--json", env=env)
            procs.append(verify)
            wait_until(lambda: a_blob in _open_files(verify.pid), verify, "verify is hashing model a")
            model_lock.release()
            wait_until(lambda: reg.state("b").latest == 2, register, "the register has written b@2")
            # Verify finishes meanwhile (or waits for the change, and gets it once the log is free).
            deadline = time.monotonic() + 5
            while verify.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        out, err = verify.communicate(timeout=90)
        reg_out, reg_err = register.communicate(timeout=90)
    finally:
        model_lock.release(force=True)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
        big.unlink(missing_ok=True)
        Path(a_blob).unlink(missing_ok=True)  # the same 400 MB, hard-linked: keep the disk free
    assert register.returncode == 0, reg_err
    assert json.loads(reg_out)["version"] == 2
    assert verify.returncode == 0, out + err
