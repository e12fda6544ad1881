"""A system that refuses to start a thread (a limit on threads or processes, or on address space,
since each new thread reserves its stack there) is the environment's refusal, like a full disk:
exit 4 and one line on stderr, never an internal error; the threads already started stop, and
nothing is left half done.

The refusal is real: the process runs with a stack limit (the reservation of every new thread)
larger than its address-space limit, so that ``pthread_create`` fails while the main thread,
whose stack grows on demand, works as usual.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.guarantees import clean_error, mr
from support.results import ok

STACK = 1 << 30  # what each new thread would reserve
CAP = 768 << 20  # the address space: room for modelreg's main thread, none for such a stack


def _no_threads() -> None:
    resource.setrlimit(resource.RLIMIT_STACK, (STACK, resource.getrlimit(resource.RLIMIT_STACK)[1]))
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))


@pytest.fixture(autouse=True)
def _stack_limit_allowed() -> None:
    hard = resource.getrlimit(resource.RLIMIT_STACK)[1]
    if hard != resource.RLIM_INFINITY and hard < STACK:
        pytest.skip(f"the hard stack limit ({hard} bytes) is below what a refused thread needs here")


def refused(*args: Any) -> str:
    """Run modelreg where no thread can start; the one error line it printed (exit 4)."""
    line = clean_error(mr(*args, preexec_fn=_no_threads), [4])
    assert "refused to start a thread" in line and "ulimit" in line, line
    return line


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith((".tmp", "tmp")) and p.is_file()]


def test_a_push_whose_transfer_threads_cannot_start_exits_4(reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    remote = tmp_path / "remote"
    remote.mkdir()
    toml = reg_path / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]\n", f'[remote]\nurl = "{remote}"\n', 1))
    for name in ("a.bin", "b.bin", "c.bin"):
        make_file(tmp_path / "model" / name, f"{name} weights\n" * 50)
    ok(mr("-R", reg_path, "register", "churn", tmp_path / "model"))
    refused("-R", reg_path, "push", "--jobs", "4")
    assert leftovers(remote) == []
    # Once threads can start again, the same push completes: every file lands whole.
    done = mr("-R", reg_path, "push", "--jobs", "4", "--json")
    ok(done)
    blobs = sorted(p.read_bytes() for p in (remote / "sha256").rglob("*") if p.is_file())
    assert blobs == sorted(f"{name} weights\n".encode() * 50 for name in ("a.bin", "b.bin", "c.bin"))

def test_a_register_whose_copy_thread_cannot_start_exits_4_and_records_nothing(
    reg_path: Path, tmp_path: Path, make_file: Any
) -> None:
    src = make_file(tmp_path / "model.bin", 5 << 20)  # hashed and copied by two threads at once
    audit = (reg_path / "audit.jsonl").read_bytes()
    refused("-R", reg_path, "register", "churn", src)
    assert not (reg_path / "models" / "churn").exists()
    assert (reg_path / "audit.jsonl").read_bytes() == audit
    assert leftovers(reg_path) == []
    ok(mr("-R", reg_path, "verify"))
    done = mr("-R", reg_path, "register", "churn", src, "--json")
    ok(done)
    assert json.loads(done.stdout)["version"] == 1


_POOL = """
import json, os, resource, threading, time
from modelreg.base.parallel import run_parallel
from modelreg.errors import StorageError

STACK = {stack}
threading.stack_size(STACK)
size = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize")).split()[1]) * 1024
cap = size + 2 * STACK + STACK // 2  # room for two threads, not a third
resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
stop = threading.Event()
started, finished = [], []

def job(i):
    def run():
        started.append(i)
        stop.wait(60)  # a transfer that reads until told to stop
        finished.append(i)
    return run

try:
    run_parallel([job(i) for i in range(8)], 8, stop)
    outcome = "returned"
except StorageError as exc:
    outcome = exc.code
print(json.dumps({{"outcome": outcome, "started": started, "finished": finished,
                  "alive": threading.active_count(), "stopped": stop.is_set()}}))
"""


def test_a_pool_that_gets_some_of_its_threads_stops_them_and_runs_nothing_more() -> None:
    """Two of eight threads start: the refusal sets ``stop``, the two running jobs end before it
    is raised, and the jobs whose threads never started never run."""
    script = textwrap.dedent(_POOL).format(stack=256 << 20)
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**__import__("os").environ, "MALLOC_ARENA_MAX": "1"},
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["outcome"] == "threads_refused", report
    assert report["stopped"] and report["alive"] == 1, report
    assert 1 <= len(report["started"]) <= 2, report
    assert sorted(report["finished"]) == sorted(report["started"]), report
