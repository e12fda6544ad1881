"""gc removes only what nothing references."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from support.results import ok_doc as ok

from modelreg import Registry


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_gc_removes_only_what_nothing_references(cli: Any, two_versions: Registry, tmp_path: Path) -> None:
    reg = two_versions
    orphan_digest, _ = reg.blobs.put_file(Path(tmp_path / "v1" / "model.bin").with_name("vocab.txt"))
    stray = tmp_path / "stray.bin"
    stray.write_bytes(b"never registered")
    digest, _ = reg.blobs.put_file(stray)
    assert digest != orphan_digest
    referenced = {f.digest for v in reg.versions("m") for f in v.files}
    before = {d for d, _ in reg.blobs.iter_digests()}
    assert digest in before and digest not in referenced

    # Young unreferenced blobs survive the grace period (a register may be about to use them).
    assert ok(cli("gc", "--json", "-R", reg.root))["blobs_removed"] == []
    leftover = reg.blobs.root / ".incoming.999999.deadbeef.mrtmp"  # a dead writer's temp file
    leftover.write_bytes(b"partial")
    _age(reg.blobs.path(digest), 7200)
    dry = ok(cli("gc", "--dry-run", "--json", "-R", reg.root))
    assert dry["blobs_removed"] == [digest] and reg.blobs.exists(digest) and leftover.exists()
    done = ok(cli("gc", "--json", "-R", reg.root))
    assert done["blobs_removed"] == [digest]
    assert done["bytes_freed"] == len(b"never registered")
    assert not reg.blobs.exists(digest) and not leftover.exists()
    assert {d for d, _ in reg.blobs.iter_digests()} == referenced
    assert ok(cli("verify", "--json", "-R", reg.root))["ok"] is True


def test_gc_keeps_blobs_a_register_reuses(two_versions: Registry, tmp_path: Path) -> None:
    # Re-registering bytes whose blob is old refreshes it, so gc's grace period protects it.
    reg = two_versions
    path = tmp_path / "v1" / "model.bin"
    digest = next(f.digest for f in reg.versions("m")[0].files if f.path == "model.bin")
    _age(reg.blobs.path(digest), 7200)
    assert reg.blobs.put_file(path)[0] == digest
    assert time.time() - reg.blobs.path(digest).stat().st_mtime < 60
