"""Issue 10, symlinks inside a registry are never followed out of it.

A symlinked ``models/NAME`` or ``blobs/`` (a clone can carry the first, a careless setup the
second) must not make a write land outside the registry, and ``gc`` must not delete another
registry's blobs through a symlinked ``blobs/``. Real symlinks, real processes.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from support.guarantees import blob_path, doc, files_under, mr, no_bug, verify_ok
from support.results import ok


def _snapshot(tree_snapshot: Any, root: Path) -> dict[str, Any]:
    return tree_snapshot(root, ignore=(".modelreg",))


def test_register_never_writes_through_a_symlinked_model_directory(
    reg_path: Path, tmp_path: Path, make_file: Any, tree_snapshot: Any
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (reg_path / "models" / "m").symlink_to(outside)
    proc = mr("register", "-R", reg_path, "m", make_file(tmp_path / "w.bin", "weights\n"))
    no_bug(proc)
    assert files_under(outside) == {}, f"register wrote outside the registry: {sorted(files_under(outside))}"


@pytest.mark.parametrize(
    "change",
    [("promote", "m@1", "production"), ("annotate", "m", "--description", "x"), ("annotate", "m@1", "--tag", "k=v")],
    ids=["promote", "annotate-model", "annotate-version"],
)
def test_changes_never_land_in_another_registry_through_models_name(
    change: tuple[str, ...], tmp_path: Path, make_file: Any, tree_snapshot: Any
) -> None:
    other = tmp_path / "other"
    ok(mr("init", other))
    ok(mr("register", "-R", other, "m", make_file(tmp_path / "o.bin", "other's weights\n")))
    other_before = _snapshot(tree_snapshot, other)
    mine = tmp_path / "mine"
    ok(mr("init", mine))
    (mine / "models" / "m").symlink_to(other / "models" / "m")
    proc = mr(*change, "-R", mine)
    no_bug(proc)
    assert _snapshot(tree_snapshot, other) == other_before, "a change in one registry rewrote another's files"


def test_gc_never_deletes_another_registrys_blobs_through_a_symlinked_blob_store(
    tmp_path: Path, make_file: Any
) -> None:
    other = tmp_path / "other"
    ok(mr("init", other))
    version = doc(mr("register", "-R", other, "m", make_file(tmp_path / "o.bin", "other's weights\n"), "--json"))
    blob = blob_path(other, version["files"][0]["digest"])
    assert blob.is_file()
    mine = tmp_path / "mine"
    ok(mr("init", mine))
    shutil.rmtree(mine / "blobs", ignore_errors=True)
    (mine / "blobs").symlink_to(other / "blobs")
    for args in (("gc", "--dry-run"), ("gc", "--grace", "0")):
        no_bug(mr(*args, "-R", mine))
    assert blob.is_file(), "gc of one registry deleted another registry's blob through a symlinked blobs/"
    verify_ok(other)


def test_register_never_writes_through_a_symlinked_blob_store(reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.rmtree(reg_path / "blobs", ignore_errors=True)
    (reg_path / "blobs").symlink_to(outside)
    proc = mr("register", "-R", reg_path, "m", make_file(tmp_path / "w.bin", "weights\n"))
    no_bug(proc)
    assert files_under(outside) == {}, f"register wrote outside the registry: {sorted(files_under(outside))}"
