"""Issue 10, what is handed out can never damage what is stored, and never mixes with other files.

- ``get-production --path`` serves copies: a serving process that writes into its model
  directory does not change the stored version.
- ``register --link``: a retrain that rewrites its output file in place afterwards does not
  change the stored version (however modelreg ensures it: a copy, a refusal, a read-only file).
- ``get-production --output DIR`` into a directory holding another version's files never
  leaves a mix of the two; ``export`` never overwrites an unrelated file silently.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.guarantees import blob_path, clean_error, doc, files_under, mr, no_bug, no_caps_prefix, verify_ok
from support.results import ok


def _model(root: Path, make_file: Any, seed: str, names: tuple[str, ...]) -> dict[str, bytes]:
    for name in names:
        make_file(root / name, f"{seed}:{name}\n" * 200)
    return files_under(root)


def test_writing_into_the_served_directory_cannot_damage_the_version(reg_path: Path, make_file: Any) -> None:
    files = _model(reg_path.parent / "train", make_file, "v1", ("model.bin", "conf/params.json"))
    version = doc(mr("register", "-R", reg_path, "m", reg_path.parent / "train", "--json"))
    ok(mr("promote", "-R", reg_path, "m@1", "production"))
    served = Path(ok(mr("get-production", "m", "-R", reg_path, "--path")).stdout.strip())
    assert files_under(served) == files
    for entry in version["files"]:
        # The spec: served files are copies, never links into the store.
        served_ino = os.stat(served / entry["path"]).st_ino
        assert served_ino != os.stat(blob_path(reg_path, entry["digest"])).st_ino, f"{entry['path']} is the blob"

    # The serving process scribbles into its model directory.
    target = served / "model.bin"
    os.chmod(target, 0o644)
    with open(target, "r+b") as fh:
        fh.write(b"overwritten by the server")

    verify_ok(reg_path)
    again = Path(ok(mr("get-production", "m", "-R", reg_path, "--path")).stdout.strip())
    assert files_under(again) == files, "a second --path does not serve the registered bytes"
    ok(mr("export", "m@1", reg_path.parent / "exported", "-R", reg_path))
    assert files_under(reg_path.parent / "exported") == files


REWRITE = """
import sys
try:
    with open(sys.argv[1], "wb") as fh:
        fh.write(b"weights of the next training run\\n" * 100)
except PermissionError:
    sys.exit(3)
"""


def test_rewriting_a_linked_input_in_place_cannot_damage_the_version(reg_path: Path, make_file: Any) -> None:
    """A training job (an ordinary process: no capabilities, so file permissions apply to it)
    rewrites its output file after ``register --link``. Either register refused the link, or the
    stored version keeps the registered bytes whatever the job does (its write may be refused)."""
    prefix = no_caps_prefix()
    src = make_file(reg_path.parent / "out" / "model.bin", b"weights of the first run\n" * 100)
    original = src.read_bytes()
    proc = mr("register", "-R", reg_path, "m", src, "--link", "--json")
    no_bug(proc)
    if proc.returncode != 0:
        clean_error(proc, (2, 4))
        assert ok(mr("list", "-R", reg_path, "--json")).stdout.count('"name"') == 0
        return
    version = doc(proc)
    job = subprocess.run([*prefix, sys.executable, "-c", REWRITE, str(src)], capture_output=True, text=True)
    assert job.returncode in (0, 3), job.stderr  # 3: the job was not allowed to write (a read-only link)

    verify_ok(reg_path)
    ok(mr("export", "m@1", reg_path.parent / "exported", "-R", reg_path))
    assert (reg_path.parent / "exported" / "model.bin").read_bytes() == original
    assert doc(mr("show", "m@1", "-R", reg_path, "--json"))["files"] == version["files"]


def test_get_production_output_never_mixes_two_versions(reg_path: Path, make_file: Any) -> None:
    v1 = _model(reg_path.parent / "t1", make_file, "v1", ("a.bin", "b.bin"))
    v2 = _model(reg_path.parent / "t2", make_file, "v2", ("a.bin", "c.bin"))
    ok(mr("register", "-R", reg_path, "m", reg_path.parent / "t1"))
    ok(mr("register", "-R", reg_path, "m", reg_path.parent / "t2"))
    deploy = reg_path.parent / "deploy"
    ok(mr("promote", "-R", reg_path, "m@1", "production"))
    ok(mr("get-production", "m", "-R", reg_path, "--output", deploy))
    assert files_under(deploy) == v1
    ok(mr("promote", "-R", reg_path, "m@2", "production"))

    proc = mr("get-production", "m", "-R", reg_path, "--output", deploy)
    no_bug(proc)
    if proc.returncode == 0:
        assert files_under(deploy) == v2, f"deploy/ holds {sorted(files_under(deploy))}: a mix of m@1 and m@2"
    else:
        assert str(deploy) in clean_error(proc, (2, 4))
        assert files_under(deploy) == v1


def test_get_production_output_twice_into_the_same_directory_succeeds(reg_path: Path, make_file: Any) -> None:
    """A deploy step that runs again gets the same files, exit 0. (Holds today.)"""
    v1 = _model(reg_path.parent / "t1", make_file, "v1", ("a.bin", "sub/b.bin"))
    ok(mr("register", "-R", reg_path, "m", reg_path.parent / "t1"))
    ok(mr("promote", "-R", reg_path, "m@1", "production"))
    deploy = reg_path.parent / "deploy"
    for _ in range(2):
        ok(mr("get-production", "m", "-R", reg_path, "--output", deploy))
        assert files_under(deploy) == v1


def test_export_never_overwrites_an_unrelated_file(reg_path: Path, make_file: Any) -> None:
    make_file(reg_path.parent / "t1" / "notes.txt", "the model's notes\n")
    make_file(reg_path.parent / "t1" / "model.bin", "model bytes\n" * 50)
    ok(mr("register", "-R", reg_path, "m", reg_path.parent / "t1"))
    dest = reg_path.parent / "dest"
    make_file(dest / "notes.txt", "my own notes, not the model's\n")
    before = files_under(dest)

    proc = mr("export", "m@1", dest, "-R", reg_path)
    assert proc.returncode != 0, "export replaced an existing file that is not the model's without a word"
    no_bug(proc)
    assert "notes.txt" in clean_error(proc, (2, 4))
    assert files_under(dest) == before
