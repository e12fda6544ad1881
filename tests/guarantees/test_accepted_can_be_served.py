"""Issue 10, limits: crafted or oversized input ends in seconds with a clear error; what
``register`` accepts can be served; and the exit code says what happened (1 only for a bug).

- A crafted ``latest_version`` must not make ``list``/``show``/``verify`` loop for ever.
- A remote object larger than the manifest says, an endless one, or a FIFO in a directory
  remote is never read in full and never hangs (stop at size + 1). The clone that fetches sits
  on a small real tmpfs, so reading too much shows as a full disk rather than filling the host.
- Accepted means servable: a 240-byte file name, a backslash in a name, 10,000 files, 9,000
  tags: refused up front (exit 2) or served, never accepted and then unreadable.
- Exit codes: a 5,000-digit metric 2, a huge integer in a manifest 5, a bad model directory
  name a finding of verify (5), a full disk 4 naming the path, a file name too long 2.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.guarantees import (
    MiB,
    clean_error,
    clone_tracked,
    doc,
    files_under,
    fill,
    mr,
    mr_within,
    no_bug,
    remote_object,
    set_remote,
    tmpfs,
    verify_ok,
)
from support.results import ok

# -- a crafted latest_version -------------------------------------------------------------------


def test_a_crafted_latest_version_ends_in_seconds(reg_path: Path, make_file: Any) -> None:
    ok(mr("register", "-R", reg_path, "m", make_file("w.bin", "weights\n")))
    ok(mr("promote", "-R", reg_path, "m@1", "production"))
    model_file = reg_path / "models" / "m" / "model.yaml"
    text = model_file.read_text()
    assert "latest_version: 1\n" in text
    model_file.write_text(text.replace("latest_version: 1\n", f"latest_version: {10**12}\n"))

    commands = [("list",), ("list", "--stage", "production"), ("show", "m"), ("verify", "--json")]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = {
        c: subprocess.Popen(
            [sys.executable, "-m", "modelreg", *c, "-R", str(reg_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for c in commands
    }
    deadline = time.monotonic() + 10
    hung, results = [], {}
    for c, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            results[c] = (proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            hung.append(" ".join(c))
    assert hung == [], f"still running after 10 s: {hung}"
    for c, (code, _out, err) in results.items():
        assert code in (0, 5) and "Traceback" not in err, f"{c}: exit {code}: {err}"
    code, out, _ = results[("verify", "--json")]
    assert code == 5
    findings = json.loads(out)["findings"]
    assert any("models/m" in f["path"] for f in findings), findings
    assert len(findings) < 100, f"{len(findings)} findings for one crafted number"


# -- remote objects that are too big, endless, or not files -----------------------------------


def _feed_forever(fifo: Path, stop: threading.Event) -> None:
    try:
        fd = os.open(fifo, os.O_WRONLY)  # waits for a reader
    except OSError:
        return
    chunk = b"\0" * 65536
    try:
        while not stop.is_set():
            os.write(fd, chunk)
    except OSError:
        pass  # the reader went away
    finally:
        os.close(fd)


@pytest.fixture
def served_clone(tmp_path: Path, make_file: Any) -> Iterator[dict[str, Any]]:
    """m@1 in production, its blob pushed to a directory remote; a clone of the tracked files
    on a 16 MiB tmpfs, where fetched bytes land."""
    src = tmp_path / "src"
    ok(mr("init", src))
    (tmp_path / "remote").mkdir()  # a directory remote must exist: push never creates it
    set_remote(src, str(tmp_path / "remote"))
    data = b"the weights\n" * 400
    version = doc(mr("register", "-R", src, "m", make_file(tmp_path / "t" / "model.bin", data), "--json"))
    ok(mr("promote", "-R", src, "m@1", "production"))
    ok(mr("push", "-R", src))
    digest = version["files"][0]["digest"]
    obj = remote_object(tmp_path / "remote", digest)
    assert obj.read_bytes() == data
    with tmpfs(tmp_path / "small", "16m") as mnt:
        yield {"clone": clone_tracked(src, mnt / "clone"), "object": obj, "data": data, "out": tmp_path / "deploy"}


KINDS = ["larger", "endless", "fifo"]
COMMANDS = {"pull": ("pull",), "get-production-output": ("get-production", "m", "--output")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", KINDS)
def test_a_remote_object_is_never_read_past_its_size(kind: str, command: str, served_clone: dict[str, Any]) -> None:
    obj: Path = served_clone["object"]
    stop = threading.Event()
    feeder = None
    if kind == "larger":
        obj.chmod(0o644)
        with open(obj, "ab") as fh:  # the right bytes, then 64 MiB more than the manifest says
            fh.write(b"\0" * (64 * MiB))
    else:
        obj.unlink()
        os.mkfifo(obj)
        if kind == "endless":
            feeder = threading.Thread(target=_feed_forever, args=(obj, stop), daemon=True)
            feeder.start()
    args = COMMANDS[command] + ((served_clone["out"],) if command != "pull" else ())
    try:
        proc = mr_within(10, *args, "-R", served_clone["clone"])
    finally:
        stop.set()
        if feeder is not None:
            with contextlib.suppress(OSError):
                os.close(os.open(obj, os.O_RDONLY | os.O_NONBLOCK))  # release a writer still waiting
            feeder.join(timeout=10)
    no_bug(proc)
    clean_error(proc, (3, 4, 5))
    assert "No space left" not in proc.stderr, f"the object was read far past its size: {proc.stderr}"
    stored = files_under(served_clone["clone"] / "blobs")
    assert sum(map(len, stored.values())) < MiB, f"bytes left in the clone's blob store: {sorted(stored)}"
    assert files_under(served_clone["out"]) == {}


# -- accepted means servable ------------------------------------------------------------------


def _registered(reg: Path, proc: subprocess.CompletedProcess[str]) -> bool:
    """True when register accepted; else it must be a clean refusal (exit 2) that wrote nothing."""
    no_bug(proc)
    if proc.returncode == 0:
        return True
    message = clean_error(proc, (2,))
    assert re.search(r"\d", message), f"the refusal does not name the limit: {message}"
    assert not (reg / "models" / "m").exists(), "a refused register left files in models/"
    return False


def _servable(reg: Path, tmp_path: Path, expected: dict[str, bytes]) -> None:
    ok(mr("promote", "-R", reg, "m@1", "production"))
    served = Path(ok(mr("get-production", "m", "-R", reg, "--path")).stdout.strip())
    assert files_under(served) == expected
    ok(mr("get-production", "m", "-R", reg, "--output", tmp_path / "deploy"))
    assert files_under(tmp_path / "deploy") == expected
    ok(mr("export", "m@1", tmp_path / "exported", "-R", reg))
    assert files_under(tmp_path / "exported") == expected


def test_a_240_byte_file_name_is_refused_or_served(reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    name = "w" * 236 + ".bin"
    src = make_file(tmp_path / "in" / name, "weights\n")
    if _registered(reg_path, mr("register", "-R", reg_path, "m", src)):
        _servable(reg_path, tmp_path, {name: b"weights\n"})


def test_a_backslash_in_a_file_name_is_refused_or_served(reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    name = "weights\\v1.bin"
    src = make_file(tmp_path / "in" / name, "weights\n")
    if _registered(reg_path, mr("register", "-R", reg_path, "m", src)):
        _servable(reg_path, tmp_path, {name: b"weights\n"})


def _readable(reg: Path) -> None:
    ok(mr("show", "m@1", "-R", reg, "--json"))
    ok(mr("show", "m", "-R", reg, "--json"))
    ok(mr("list", "m", "-R", reg, "--json"))
    ok(mr("list", "-R", reg, "--json"))
    ok(mr("promote", "-R", reg, "m@1", "production"))
    ok(mr("get-production", "m", "-R", reg, "--json"))


def test_ten_thousand_files_are_refused_or_readable(reg_path: Path, tmp_path: Path) -> None:
    src = tmp_path / "shards"
    src.mkdir()
    for i in range(10_000):
        (src / f"part-{i:05d}.bin").write_bytes(b"x")
    if _registered(reg_path, mr("register", "-R", reg_path, "m", src)):
        _readable(reg_path)


def test_nine_thousand_tags_are_refused_or_readable(reg_path: Path, make_file: Any) -> None:
    tags: list[str] = []
    for i in range(9_000):
        tags += ["--tag", f"tag-{i:05d}=" + "v" * 120]
    if _registered(reg_path, mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n"), *tags)):
        _readable(reg_path)


# -- exit codes -------------------------------------------------------------------------------


def test_a_five_thousand_digit_metric_exits_2(reg_path: Path, make_file: Any) -> None:
    proc = mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n"), "--metric", "acc=" + "1" * 5000)
    assert "acc" in clean_error(proc, (2,))
    assert not (reg_path / "models" / "m").exists()


def test_a_five_thousand_digit_metric_in_a_metrics_file_exits_2(reg_path: Path, make_file: Any) -> None:
    """(Holds today.)"""
    metrics = make_file("metrics.json", '{"acc": ' + "1" * 5000 + "}")
    proc = mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n"), "--metrics-file", metrics)
    clean_error(proc, (2,))
    assert not (reg_path / "models" / "m").exists()


def test_a_huge_integer_in_a_manifest_exits_5(reg_path: Path, make_file: Any) -> None:
    ok(mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n"), "--metric", "acc=1"))
    manifest = reg_path / "models" / "m" / "versions" / "1.yaml"
    text = manifest.read_text()
    assert "  acc: 1\n" in text
    manifest.write_text(text.replace("  acc: 1\n", "  acc: " + "7" * 5000 + "\n"))
    for args in (("show", "m@1"), ("list", "m")):
        assert "1.yaml" in clean_error(mr(*args, "-R", reg_path), (5,))
    proc = mr("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5, proc.stderr
    assert any("versions/1.yaml" in f["path"] for f in json.loads(proc.stdout)["findings"])


def test_a_bad_model_directory_name_is_a_finding_of_verify(reg_path: Path, make_file: Any) -> None:
    ok(mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n")))
    bad = reg_path / "models" / "Bad_Name"
    bad.mkdir()
    (bad / "model.yaml").write_bytes((reg_path / "models" / "m" / "model.yaml").read_bytes())
    proc = mr("verify", "-R", reg_path, "--json")
    no_bug(proc)
    assert proc.returncode == 5, f"exit {proc.returncode}: {proc.stderr}"
    findings = json.loads(proc.stdout)["findings"]
    assert any("Bad_Name" in f["path"] + f["message"] for f in findings), findings
    assert json.loads(proc.stdout)["models"] >= 1, "the good model was not checked"


@pytest.mark.parametrize("how", ["file-larger-than-the-disk", "disk-already-full"])
def test_a_full_disk_exits_4_naming_the_path(how: str, tmp_path: Path, make_file: Any) -> None:
    with tmpfs(tmp_path / "disk", "4m") as mnt:
        reg = mnt / "reg"
        ok(mr("init", reg))
        if how == "file-larger-than-the-disk":
            src = make_file(tmp_path / "big.bin", 8 * MiB)
        else:
            src = make_file(tmp_path / "small.bin", 64 * 1024)
            fill(mnt)
        proc = mr("register", "-R", reg, "m", src)
        message = clean_error(proc, (4,))
        assert str(mnt) in message, f"the message does not name where the disk is full: {message}"
        (mnt / ".filler").unlink(missing_ok=True)
        assert not (reg / "models" / "m").exists()
        verify_ok(reg)


TOO_LONG = "x" * 300


@pytest.mark.parametrize("where", ["register-input", "export-destination", "init-path", "registry-option"])
def test_a_file_name_too_long_exits_2(where: str, reg_path: Path, tmp_path: Path, make_file: Any) -> None:
    ok(mr("register", "-R", reg_path, "m", make_file("w.bin", "w\n")))
    args: tuple[Any, ...] = {
        "register-input": ("register", "-R", reg_path, "m", tmp_path / TOO_LONG),
        "export-destination": ("export", "m@1", tmp_path / TOO_LONG, "-R", reg_path),
        "init-path": ("init", tmp_path / TOO_LONG),
        "registry-option": ("list", "-R", tmp_path / TOO_LONG),
    }[where]
    clean_error(mr(*args), (2, 3) if where == "registry-option" else (2,))
