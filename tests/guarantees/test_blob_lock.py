"""The blob lock between gc and the changes that store blobs, held by real processes: any number
of changes share it, gc waits for all of them (exit 4 once its wait is over), a process killed
holding it lets go, and what an attacker leaves at its name is refused rather than followed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelreg.base.locks import hold_exclusive, hold_shared
from modelreg.errors import IntegrityError, LockTimeoutError, StorageError

HOLDER = """
import sys, time
from pathlib import Path
from modelreg.base.locks import hold_exclusive, hold_shared
take = hold_exclusive if sys.argv[2] == "exclusive" else hold_shared
with take(Path(sys.argv[1]), 5.0, "the blob store"):
    print("held", flush=True)
    time.sleep(float(sys.argv[3]))
    Path(sys.argv[1] + ".leaving").touch()  # the last thing done holding it
"""


def holder(lock: Path, how: str, seconds: float = 60.0) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock), how, str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "held\n"
    return proc


def test_changes_share_it_and_gc_waits_for_them(tmp_path: Path) -> None:
    lock = tmp_path / "locks" / "blobs.lock"
    first, second = holder(lock, "shared"), holder(lock, "shared")  # the second did not wait
    try:
        with hold_shared(lock, 0.1, "the blob store"):
            pass
        started = time.monotonic()
        with pytest.raises(LockTimeoutError), hold_exclusive(lock, 0.3, "the blob store"):
            pass
        assert time.monotonic() - started >= 0.3
    finally:
        first.kill()
        second.kill()
        first.wait()
        second.wait()
    with hold_exclusive(lock, 5.0, "the blob store"):  # both gone (killed): nothing left held
        pass


def test_gc_holding_it_keeps_a_change_out_until_it_ends(tmp_path: Path) -> None:
    lock = tmp_path / "blobs.lock"
    gc = holder(lock, "exclusive", seconds=3.0)  # long enough for the first, refused try on a busy machine
    try:
        with pytest.raises(LockTimeoutError), hold_shared(lock, 0.1, "the blob store"):
            pass
        with hold_shared(lock, 30.0, "the blob store"):  # waits for gc, then has it
            assert Path(f"{lock}.leaving").exists()
    finally:
        gc.kill()
        gc.wait()


def test_what_an_attacker_leaves_at_its_name_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("not a lock")
    link = tmp_path / "link.lock"
    link.symlink_to(target)
    with pytest.raises(IntegrityError, match="symbolic link"), hold_shared(link, 1.0, "the blob store"):
        pass
    fifo = tmp_path / "fifo.lock"
    os.mkfifo(fifo)
    with pytest.raises(IntegrityError, match="not a regular file"), hold_exclusive(fifo, 1.0, "the blob store"):
        pass
    assert target.read_text() == "not a lock"
    (tmp_path / "file").write_text("a file where the lock's folder goes")
    with pytest.raises(StorageError, match="cannot take the lock"), hold_shared(tmp_path / "file" / "x.lock", 1.0, "x"):
        pass
