"""A modelreg process killed at any instant leaves the registry as before or with the change
complete (issue 4): real processes, killed with SIGKILL at random instants, or made to die at
the named points of MODELREG_TEST_CRASH_AT, or interrupted with SIGINT.

Random instants come from a seed printed by each test (shown on failure); set
MODELREG_TEST_SEED to replay one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.procs import Cli, check_consistent, leftovers, script_cmd, sha256_of, start

from modelreg import Registry

BIG_SIZE = 400 * 1000 * 1000
KILLS = 6
CRASH_EXIT = 137
JOURNAL_POINTS = ["after-journal", "mid-apply", "after-audit"]
ALL_POINTS = ["after-blobs", *JOURNAL_POINTS]


def seeded(label: str) -> random.Random:
    seed = int(os.environ.get("MODELREG_TEST_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"{label}: MODELREG_TEST_SEED={seed}")
    return random.Random(seed)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One ~400 MB file of random bytes for the module; removed afterwards to keep disk use low."""
    path = tmp_path_factory.mktemp("big") / "model.bin"
    chunk = 8 << 20
    with open(path, "wb") as fh:
        written = 0
        while written < BIG_SIZE:
            n = min(chunk, BIG_SIZE - written)
            fh.write(os.urandom(n))
            written += n
    yield path
    path.unlink(missing_ok=True)


@pytest.fixture
def big_reg(reg_path: Path) -> Iterator[Path]:
    """A registry that will hold big blobs: removed after the test, whatever its outcome."""
    yield reg_path
    shutil.rmtree(reg_path, ignore_errors=True)


def set_head(path: Path, marker: int) -> None:
    """Make the big file's content unique (a new blob) without rewriting it."""
    with open(path, "r+b") as fh:
        fh.write(marker.to_bytes(16, "big"))


def wait_for_incoming(reg: Path, proc: subprocess.Popen[str], timeout: float = 30) -> Path:
    """Wait until the register is copying the file into the blob store; return the temp file."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list((reg / "blobs").rglob("*.mrtmp")) if (reg / "blobs").is_dir() else []
        if found:
            return found[0]
        assert proc.poll() is None, f"register ended before it copied anything: {proc.communicate()}"
        time.sleep(0.002)
    raise AssertionError("register never started copying")


def check_exports(cli: Cli, name: str, expected: dict[int, str], tmp: Path) -> None:
    """Export versions and compare their bytes with what was registered."""
    for number, digest in expected.items():
        out = tmp / f"export-{name}-{number}"
        proc = cli.run("export", f"{name}@{number}", out, "--json")
        assert proc.returncode == 0, proc.stderr
        exported = [p for p in out.rglob("*") if p.is_file()]
        assert len(exported) == 1
        assert exported[0].stat().st_size == BIG_SIZE
        assert sha256_of(exported[0]) == digest, f"{name}@{number} exported different bytes"
        for p in exported:
            p.unlink()


# -- SIGKILL at random instants -------------------------------------------------------------------


@pytest.mark.slow
def test_register_of_big_file_killed_at_random_instants(big_reg: Path, big_file: Path, tmp_path: Path) -> None:
    rng = seeded("register-kill")
    cli = Cli(big_reg)
    set_head(big_file, 0)
    expected = {1: sha256_of(big_file)}
    t0 = time.monotonic()
    first = cli.run("register", "big", big_file, "--json")
    duration = time.monotonic() - t0
    assert first.returncode == 0, first.stderr
    # One instant in each sixth of an uninterrupted register, in random order.
    delays = [duration * (i + rng.random()) / KILLS for i in range(KILLS)]
    rng.shuffle(delays)
    print(f"uninterrupted register: {duration:.2f}s; kill delays: {[round(d, 3) for d in delays]}")
    check_exports(cli, "big", expected, tmp_path)

    outcomes = []
    for attempt, delay in enumerate(delays, start=1):
        latest = len(expected)
        set_head(big_file, attempt)
        digest = sha256_of(big_file)
        proc = cli.start("register", "big", big_file, "--json")
        time.sleep(delay)
        proc.kill()
        _, err = proc.communicate(timeout=60)
        assert proc.returncode in (-signal.SIGKILL, 0), f"register exited {proc.returncode}: {err}"

        report = cli.verify()
        listed = cli.versions("big")
        numbers = [v["version"] for v in listed]
        assert numbers in (list(range(1, latest + 1)), list(range(1, latest + 2))), numbers
        if proc.returncode == 0:
            assert len(numbers) == latest + 1
        new = {n: digest for n in numbers if n > latest}
        for v in listed:
            if v["version"] in new:
                assert v["files"][0]["digest"] == digest
                assert v["files"][0]["size"] == BIG_SIZE
        check_exports(cli, "big", new, tmp_path)
        expected.update(new)
        registers = [e for e in cli.log("big") if e["action"] == "register"]
        assert [e["version"] for e in registers] == numbers
        outcomes.append(
            f"{delay:.2f}s: exit {proc.returncode}, versions {len(numbers)}, "
            f"recovered {report['recovered']}, {len(report['findings'])} warnings"
        )
        # Clean up between runs: temp files and blobs of registers that never happened.
        gc = cli.run("gc", "--grace", "0", "--json")
        assert gc.returncode == 0, gc.stderr
        assert leftovers(big_reg) == []
        # Exactly the registered files are stored: whole blobs, or recipes (format 2) whose packs
        # all have an index.
        store = big_reg / "blobs"
        stored = [p.name for p in (store / "sha256").rglob("*") if p.is_file()]
        stored += [p.name for p in (store / "chunks" / "recipes").glob("*")]
        assert sorted(stored) == sorted({d.removeprefix("sha256:") for d in expected.values()})
        pack_files = sorted(p.name for p in (store / "chunks" / "packs").glob("*"))
        assert [n for n in pack_files if not n.endswith((".pack", ".idx"))] == []
        assert sorted(n[:-5] for n in pack_files if n.endswith(".pack")) == sorted(
            n[:-4] for n in pack_files if n.endswith(".idx")
        )
    print("\n".join(outcomes))

    # Every listed version is complete, and the next register gets the next number.
    check_exports(cli, "big", expected, tmp_path)
    set_head(big_file, KILLS + 1)
    after = cli.json("register", "big", big_file)
    assert after["version"] == len(expected) + 1
    assert cli.verify()["findings"] == []


@pytest.mark.slow
def test_register_loop_killed_at_random_instants(reg_path: Path, tmp_path: Path) -> None:
    """Small registers back to back in one process: a SIGKILL lands inside the change itself."""
    rng = seeded("register-loop")
    cli = Cli(reg_path)
    work = tmp_path / "work"
    work.mkdir()
    count = 0
    for attempt in range(5):
        loop = start(script_cmd("register-loop", reg_path, "m", work))
        done = kill_inside_a_change(loop, rng, at_least=1 if attempt == 0 else 0)
        cli.verify()
        versions = check_consistent(cli, "m")
        # Every register the loop reported is there (check_consistent: the one the kill hit, whole or not at all).
        assert len(versions) >= count + done
        count = len(versions)
    assert count > 0
    f = tmp_path / "final.bin"
    f.write_bytes(b"final")
    assert cli.json("register", "m", f)["version"] == count + 1
    cli.verify()


def kill_inside_a_change(loop: subprocess.Popen[str], rng: random.Random, at_least: int) -> int:
    """SIGKILL a change loop (tests/procs.py) once it reports ``at_least`` or more changes done
    (a random count), at a random instant of the change after that, scaled by how long the
    changes it reported took: where the machine is slow, the instant moves with it. Returns the
    number of changes it reported done, which are durable whatever the kill hit (more may have
    been done by the time of the kill)."""
    assert loop.stdout is not None
    assert loop.stdout.readline() == "ready\n", loop.communicate()
    wanted = rng.randint(at_least, at_least + 2)
    began = time.monotonic()
    for count in range(1, wanted + 1):
        line = loop.stdout.readline()
        assert line == f"done {count}\n", (line, loop.communicate())
    # One change takes about this long here and now (the first one, with no timing yet: a guess
    # that only moves the instant, never what the test asserts).
    each = (time.monotonic() - began) / wanted if wanted else 0.05
    time.sleep(rng.uniform(0, 1.5 * each))
    loop.kill()
    _, err = loop.communicate()
    assert loop.returncode == -signal.SIGKILL, err
    return wanted


def _promote_setup(reg_path: Path, tmp_path: Path, n: int) -> None:
    reg = Registry(reg_path)
    for i in range(1, n + 1):
        f = tmp_path / f"v{i}.bin"
        f.write_bytes(b"version %d" % i)
        reg.register("m", [f])
    reg.promote("m@1", "production")


@pytest.mark.slow
def test_promote_loop_killed_at_random_instants(reg_path: Path, tmp_path: Path) -> None:
    rng = seeded("promote-loop")
    _promote_setup(reg_path, tmp_path, 4)
    cli = Cli(reg_path)
    promotes = [sum(e["action"] == "promote" for e in cli.log("m"))]
    for attempt in range(5):
        loop = start(script_cmd("promote-loop", reg_path, "m", 1, 2, 3, 4))
        done = kill_inside_a_change(loop, rng, at_least=1 if attempt == 0 else 0)
        cli.verify()
        versions = check_consistent(cli, "m")
        assert sum(v["stage"] == "production" for v in versions) == 1
        promotes.append(sum(e["action"] == "promote" for e in cli.log("m")))
        # Every promote the loop reported is logged (its first may be of the holder: no entry).
        assert promotes[-1] >= promotes[-2] + done - 1, (promotes, done)
    print(f"promote entries after each kill: {promotes}")
    assert promotes[-1] > 1
    current = cli.model("m")["stages"]["production"]
    other = 1 if current != 1 else 2
    assert cli.json("promote", f"m@{other}", "production")["archived"] == [current]
    check_consistent(cli, "m")
    cli.verify()


@pytest.mark.slow
def test_annotate_loop_killed_at_random_instants(reg_path: Path, tmp_path: Path) -> None:
    rng = seeded("annotate-loop")
    _promote_setup(reg_path, tmp_path, 1)
    cli = Cli(reg_path)
    for attempt in range(5):
        loop = start(script_cmd("annotate-loop", reg_path, "m", 1))
        kill_inside_a_change(loop, rng, at_least=1 if attempt == 0 else 0)
        cli.verify()
        check_consistent(cli, "m")
        # Each annotation raised a counter by one and left one entry: they must agree.
        entries = [e for e in cli.log("m") if e["action"] == "annotate"]
        n = int(cli.json("show", "m@1")["tags"].get("n", "0"))
        assert sum(e["version"] == 1 for e in entries) == n
        d = cli.model("m")["description"]
        assert sum(e["version"] is None for e in entries) == int(d.removeprefix("d") or "0")
    print(f"annotations after the last kill: version {n}, model {d!r}")
    assert n > 0
    assert cli.json("annotate", "m@1", "--tag", "n=final")["changed"] is True
    cli.verify()


# -- named crash points -----------------------------------------------------------------------------


def crashed(cli: Cli, point: str, *args: Any) -> None:
    proc = cli.run(*args, env={"MODELREG_TEST_CRASH_AT": point})
    assert proc.returncode == CRASH_EXIT, f"expected to die at {point}: exit {proc.returncode}: {proc.stderr}"


@pytest.mark.parametrize("point", ALL_POINTS)
def test_register_crash_points(reg_path: Path, tmp_path: Path, point: str) -> None:
    _promote_setup(reg_path, tmp_path, 1)
    cli = Cli(reg_path)
    new = tmp_path / "new.bin"
    new.write_bytes(b"the new weights")
    crashed(cli, point, "register", "m", new, "--json")
    report = cli.verify()
    versions = check_consistent(cli, "m")
    if point == "after-blobs":  # before anything was recorded: absent
        assert report["recovered"] == []
        assert [v["version"] for v in versions] == [1]
    else:  # the journal was written: verify finished the change
        assert report["recovered"] == ["m"]
        assert [v["version"] for v in versions] == [1, 2]
        assert versions[1]["files"][0]["digest"] == sha256_of(new)
        out = tmp_path / "out"
        assert cli.run("export", "m@2", out).returncode == 0
        assert (out / "new.bin").read_bytes() == b"the new weights"
    next_file = tmp_path / "next.bin"
    next_file.write_bytes(b"next")
    assert cli.json("register", "m", next_file)["version"] == len(versions) + 1
    check_consistent(cli, "m")
    cli.verify()


@pytest.mark.parametrize("recover_with", ["verify", "next-command"])
@pytest.mark.parametrize("point", JOURNAL_POINTS)
def test_promote_crash_points(reg_path: Path, tmp_path: Path, point: str, recover_with: str) -> None:
    _promote_setup(reg_path, tmp_path, 2)
    cli = Cli(reg_path)
    crashed(cli, point, "promote", "m@2", "production", "--reason", "crash test", "--json")
    if recover_with == "verify":
        assert cli.verify()["recovered"] == ["m"]
        versions = check_consistent(cli, "m")
        assert [v["stage"] for v in versions] == ["archived", "production"]
        entries = cli.log("m")
        assert [(e["action"], e["version"]) for e in entries if e["action"] != "register"] == [
            ("promote", 1),
            ("archive", 1),
            ("promote", 2),
        ]
        # Promoting to the stage it now holds changes nothing: the change was complete.
        assert cli.json("promote", "m@2", "production")["changed"] is False
    # The next change of the model finishes the interrupted one first (if verify did not).
    assert cli.json("promote", "m@1", "production")["archived"] == [2]
    versions = check_consistent(cli, "m")
    assert [v["stage"] for v in versions] == ["production", "archived"]
    moves = [(e["action"], e["version"], e["reason"]) for e in cli.log("m") if e["action"] != "register"]
    assert moves == [
        ("promote", 1, None),
        ("archive", 1, "replaced in production by version 2"),
        ("promote", 2, "crash test"),
        ("archive", 2, "replaced in production by version 1"),
        ("promote", 1, None),
    ]
    assert cli.verify()["findings"] == []


@pytest.mark.parametrize("target", ["m@1", "m"], ids=["version", "model"])
@pytest.mark.parametrize("point", JOURNAL_POINTS)
def test_annotate_crash_points(reg_path: Path, tmp_path: Path, point: str, target: str) -> None:
    _promote_setup(reg_path, tmp_path, 1)
    cli = Cli(reg_path)
    crashed(cli, point, "annotate", target, "--description", "crashed once", "--tag", "k=v", "--json")
    assert cli.verify()["recovered"] == ["m"]
    check_consistent(cli, "m")
    shown = cli.json("show", target)
    if target == "m":
        shown = cli.model("m")
    assert shown["description"] == "crashed once"
    assert shown["tags"] == {"k": "v"}
    entries = [e for e in cli.log("m") if e["action"] == "annotate"]
    assert len(entries) == 1
    assert entries[0]["version"] == (1 if "@" in target else None)
    # A following annotation works and adds exactly one entry.
    assert cli.json("annotate", target, "--tag", "k=w")["changed"] is True
    assert sum(e["action"] == "annotate" for e in cli.log("m")) == 2
    assert cli.verify()["findings"] == []


# -- leftovers and Ctrl-C ---------------------------------------------------------------------------


@pytest.mark.slow
def test_killed_register_leftovers_are_warnings_and_gc_removes_them(big_reg: Path, big_file: Path) -> None:
    cli = Cli(big_reg)
    proc = cli.start("register", "big", big_file)
    temp = wait_for_incoming(big_reg, proc)
    proc.kill()
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert temp.exists()
    left = leftovers(big_reg)
    assert temp in left

    report = cli.verify()
    assert report["versions"] == 0
    warned = {f["path"] for f in report["findings"] if f["kind"] == "leftover"}
    assert {str(p) for p in left} <= warned
    assert all(f["severity"] == "warning" for f in report["findings"])
    # A later register is not confused by them.
    small = big_reg.parent / "small.bin"
    small.write_bytes(b"small")
    assert cli.json("register", "big", small)["version"] == 1

    gc = cli.json("gc", "--grace", "0")
    assert str(temp.relative_to(big_reg)) in gc["leftovers_removed"]
    assert leftovers(big_reg) == []
    assert not temp.exists()
    assert cli.verify()["findings"] == []


@pytest.mark.slow
def test_sigint_during_big_register_exits_130(big_reg: Path, big_file: Path) -> None:
    cli = Cli(big_reg)
    proc = cli.start("register", "big", big_file)
    wait_for_incoming(big_reg, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert "interrupt" in err.lower()
    report = cli.verify()
    assert report["versions"] == 0
    assert leftovers(big_reg) == []  # the interrupted copy cleaned up after itself
    assert cli.json("register", "big", big_file)["version"] == 1


def _python_startup() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", "import runpy, re, enum, importlib.util"], check=True)
    return 2 * (time.monotonic() - t0)


def test_sigint_at_any_instant_of_a_register(reg_path: Path, tmp_path: Path) -> None:
    rng = seeded("sigint-anytime")
    f = tmp_path / "w.bin"
    f.write_bytes(b"w")
    cli = Cli(reg_path)
    t0 = time.monotonic()
    assert cli.run("register", "m", f).returncode == 0
    duration = time.monotonic() - t0
    # Before modelreg's first line runs, the interpreter's own start-up (site, runpy, the import
    # system) answers SIGINT with Python's default; that window is the floor measured here.
    floor = sorted(_python_startup() for _ in range(3))[1]
    problems = []
    samples = 12
    for i in range(samples):  # instants spread from the end of interpreter start-up to 60% of a register
        proc = cli.start("register", "m", f)
        time.sleep(floor + max(0.0, 0.6 * duration - floor) * (i + rng.random()) / samples)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        # Dying by SIGINT before Python installs its handler is what a shell shows as 130 too.
        if proc.returncode in (0, 130, -signal.SIGINT) and "Traceback" not in err and len(err.splitlines()) <= 1:
            continue
        problems.append(f"exit {proc.returncode}: {err.strip().splitlines()[-1:]}")
    cli.verify()
    assert problems == []


# A Ctrl-C that lands while a finalizer runs (here the import lock's weakref callback or a
# Popen's __del__, during a real register): CPython cannot raise it there and would print
# "Exception ignored" and let the command run on to exit 0. The driver makes one happen at a
# known point, in the lineage capture, before a byte is stored.
FINALIZER_DRIVER = """
import sys, time
import modelreg.ops.capture.lineage as lineage
from modelreg.__main__ import main

class Finalized:
    def __del__(self):
        raise KeyboardInterrupt  # what Python's SIGINT handler does wherever it lands

pause = float(sys.argv[1])
real = lineage.capture
def capture(**kw):
    Finalized()  # collected at once: the interrupt is raised inside its finalizer
    time.sleep(pause)  # the command's own work goes on
    return real(**kw)

lineage.capture = capture
sys.argv = ["modelreg", *sys.argv[2:]]
main()
"""


def test_a_sigint_landing_in_a_finalizer_still_interrupts_the_command(reg_path: Path, tmp_path: Path) -> None:
    f = tmp_path / "w.bin"
    f.write_bytes(b"w")
    cli = Cli(reg_path)
    cmd = [sys.executable, "-c", FINALIZER_DRIVER, "0.5", "register", "m", str(f), "-R", str(reg_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.splitlines() == ["error: interrupted; the registry is unchanged or the change is complete"]
    assert cli.verify()["versions"] == 0
    # With nothing to interrupt after it (no work left), the command's result stands, quietly.
    done = subprocess.run([*cmd[:3], "0", *cmd[4:]], capture_output=True, text=True, check=False)
    assert done.returncode in (0, 130) and len(done.stderr.splitlines()) <= 1, done.stderr
