"""Issue 10, gc against register: ``gc`` never removes a blob that a version references or that
a change in progress is about to reference, whatever ``--grace`` says.

Real parallel processes: a loop of ``modelreg gc`` runs while a loop of ``modelreg register``
adds versions. Each register stores a small new file and a big file that every version shares
(``a.bin`` sorts first, so its blob is published while the big one is still being read: the
moment a gc that relies on the grace period alone finds it unreferenced). The loops stop at the
first lost blob or after a time budget; the test then asserts that every version's blobs are
there and that ``verify`` passes.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from support.guarantees import MiB, blob_path, doc, mr, no_bug, verify_report

BUDGET = 20.0  # seconds of racing; today a blob is lost within the first few registers
BIG = 32 * MiB
HOUR = 3600


def _gc_loop(reg: Path, grace: str | None, stop: threading.Event, failures: list[str]) -> None:
    args = ["gc", "-R", reg, "--json"] + (["--grace", grace] if grace is not None else [])
    while not stop.is_set():
        proc = mr(*args)
        if proc.returncode != 0:
            failures.append(f"gc exited {proc.returncode}: {proc.stderr.strip()}")


def _register_loop(
    reg: Path, work: Path, big: Path, *, link: bool, deadline: float, lost: list[str], counts: list[int]
) -> None:
    i = 0
    while time.monotonic() < deadline and not lost:
        small = work / "a.bin"
        small.unlink(missing_ok=True)  # a new file, never a rewrite (with --link that is the blob)
        small.write_bytes(f"weights {work.name} {i} {time.time_ns()}\n".encode() * 100)
        if link:
            old = time.time() - 2 * HOUR  # trained two hours ago
            os.utime(small, (old, old))
        proc = mr("register", "-R", reg, "m", small, big, "--json", *(["--link"] if link else []))
        no_bug(proc)
        i += 1
        if proc.returncode != 0:
            continue
        counts.append(1)
        version = doc(proc)
        lost.extend(
            f"m@{version['version']}:{f['path']} ({f['digest'][:19]}…)"
            for f in version["files"]
            if not _stored(reg, f["digest"], f["size"])
        )


def _stored(reg: Path, digest: str, size: int) -> bool:
    """The file is in the store: its whole blob, or (format 2) its recipe with every chunk indexed."""
    from modelreg.stores.blobs import LocalBlobStore

    return blob_path(reg, digest).is_file() or LocalBlobStore(reg / "blobs").chunks.complete(digest, size)


def _set_format(reg: Path, version: int) -> None:
    toml = reg / "modelreg.toml"
    toml.write_text(toml.read_text().replace("format_version = 2", f"format_version = {version}"))


def _race(reg: Path, work: Path, *, link: bool, grace: str | None, writers: int) -> tuple[int, list[str]]:
    """Register (``writers`` loops in parallel) until a version's blob is missing or the budget
    is spent; returns how many registers succeeded and the files whose blobs were lost."""
    work.mkdir()
    big = work / "z.bin"
    big.write_bytes(os.urandom(BIG))
    if link:
        old = time.time() - 2 * HOUR
        os.utime(big, (old, old))
    stop = threading.Event()
    gc_failures: list[str] = []
    collector = threading.Thread(target=_gc_loop, args=(reg, grace, stop, gc_failures), daemon=True)
    collector.start()
    lost: list[str] = []
    counts: list[int] = []
    deadline = time.monotonic() + BUDGET
    loops = []
    for n in range(writers):
        (work / f"w{n}").mkdir()
        loops.append(
            threading.Thread(
                target=_register_loop,
                args=(reg, work / f"w{n}", big),
                kwargs={"link": link, "deadline": deadline, "lost": lost, "counts": counts},
                daemon=True,
            )
        )
    try:
        for loop in loops:
            loop.start()
        for loop in loops:
            loop.join(timeout=BUDGET + 120)
    finally:
        stop.set()
        collector.join(timeout=60)
    assert gc_failures == [], gc_failures
    return len(counts), lost


def _assert_nothing_lost(reg: Path, registered: int, lost: list[str]) -> None:
    assert lost == [], f"gc removed blobs of a registered version after {registered} registers: {lost}"
    assert registered > 5, f"only {registered} registers succeeded: the race did not run"
    code, report = verify_report(reg)
    assert code == 0 and report is not None and report["ok"], report


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [1, 2])
def test_gc_at_default_grace_never_removes_the_blobs_of_a_linked_register(
    reg_path: Path, tmp_path: Path, fmt: int
) -> None:
    """``register --link`` of files written two hours ago: their blobs carry the files' old
    mtime, so a concurrent ``gc`` (default grace, one hour) must not take them for garbage.
    In format 2 the big file is chunks, and the race is about its packs and recipe."""
    _set_format(reg_path, fmt)
    registered, lost = _race(reg_path, tmp_path / "train", link=True, grace=None, writers=1)
    _assert_nothing_lost(reg_path, registered, lost)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [1, 2])
def test_gc_grace_zero_never_removes_the_blobs_of_a_register_in_flight(
    reg_path: Path, tmp_path: Path, fmt: int
) -> None:
    """``gc --grace 0`` may remove every unreferenced blob, but not one a register that is in
    progress has just stored and is about to reference (in format 2: chunks, packs, recipes)."""
    _set_format(reg_path, fmt)
    registered, lost = _race(reg_path, tmp_path / "train", link=False, grace="0", writers=2)
    _assert_nothing_lost(reg_path, registered, lost)
