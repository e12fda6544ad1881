"""Issue 10, remote reads: a fetch never reads more than the manifest records and never hangs,
and a download killed half way leaves only what verify reports and gc removes.

- A directory remote whose object is larger than recorded (a sparse 1 TiB file), a FIFO with
  or without a writer, a symlink to /dev/zero or a directory at a blob's name: ``pull`` and
  ``get-production --path`` end in seconds with exit 5, and the clone (on a small real tmpfs, so
  that reading too much shows as a full disk) holds no fetched bytes.
- An S3 object larger than recorded is refused from its size, before any byte is fetched.
- ``kill -9`` of a real ``pull`` of a 96 MiB object from SeaweedFS mid-download: verify reports
  the incoming directory it leaves, gc removes it, and the next pull completes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.results import ok
from support.s3server import SeaweedS3

from modelreg.errors import IntegrityError
from modelreg.stores.blobs import LocalBlobStore
from modelreg.stores.remotes import RemoteStore, open_remote

BUCKET = "modelreg-fix-remotes-reads"
MiB = 1 << 20
TRACKED = ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models")


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


# -- helpers ----------------------------------------------------------------------------------


def modelreg(*args: Any, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A real ``python -m modelreg`` process; one still running after ``timeout`` fails the test."""
    command = [sys.executable, "-m", "modelreg", *map(str, args)]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"modelreg {' '.join(map(str, args))} still running after {timeout:g}s") from None


def error_line(proc: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert proc.returncode == exit_code, f"expected exit {exit_code}, got {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def set_remote(reg: Path, url: str, endpoint: str | None = None) -> None:
    toml = reg / "modelreg.toml"
    head, sep, _ = toml.read_text(encoding="utf-8").partition("[remote]")
    assert sep
    lines = [f"url = {json.dumps(url)}"]
    if endpoint:
        lines += [f"endpoint_url = {json.dumps(endpoint)}", 'region = "us-east-1"']
    toml.write_text(head + "[remote]\n" + "\n".join(lines) + "\n", encoding="utf-8")


def clone_tracked(src: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def stored_bytes(reg: Path) -> int:
    """Bytes of every regular file under ``reg/blobs`` (blobs and anything half written)."""
    root = reg / "blobs"
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.exists() else 0


def non_blobs(reg: Path) -> list[Path]:
    """Regular files under ``reg/blobs`` that are not a blob named by its own digest."""
    found = []
    for path in (reg / "blobs").rglob("*"):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(reg / "blobs").parts
            if len(rel) != 3 or rel[0] != "sha256" or sha(path.read_bytes()) != f"sha256:{rel[2]}":
                found.append(path)
    return found


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root for a real tmpfs")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def object_path(remote_dir: Path, digest: str) -> Path:
    hex_digest = digest.removeprefix("sha256:")
    return remote_dir / "sha256" / hex_digest[:2] / hex_digest


# -- a directory remote: too big, endless, not a file ----------------------------------------


class Feeder:
    """Writes zeros into a FIFO for as long as a reader takes them; counts what it wrote."""

    def __init__(self, fifo: Path) -> None:
        self.fifo = fifo
        self.written = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            fd = os.open(self.fifo, os.O_WRONLY)  # waits for a reader
        except OSError:
            return
        chunk = b"\0" * 65536
        try:
            while not self.stop.is_set():
                self.written += os.write(fd, chunk)
        except OSError:
            pass  # the reader went away
        finally:
            os.close(fd)

    def close(self) -> None:
        self.stop.set()
        with contextlib.suppress(OSError):  # release a writer still waiting for a reader
            os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        self.thread.join(timeout=10)


@pytest.fixture
def dir_served(tmp_path: Path, make_file: Callable[..., Path]) -> Iterator[dict[str, Any]]:
    """m@1 in production, its blob pushed to a directory remote; a clone on an 8 MiB tmpfs."""
    src = tmp_path / "src"
    ok(modelreg("init", src))
    remote = tmp_path / "remote"
    remote.mkdir()
    set_remote(src, str(remote))
    data = b"the weights\n" * 5000
    make_file(tmp_path / "t" / "model.bin", data)
    ok(modelreg("register", "-R", src, "m", tmp_path / "t" / "model.bin", "--stage", "production"))
    ok(modelreg("push", "-R", src))
    obj = object_path(remote, sha(data))
    assert obj.read_bytes() == data
    with tmpfs(tmp_path / "small", "8m") as mnt:
        yield {"clone": clone_tracked(src, mnt / "clone"), "object": obj, "data": data}


BAD_OBJECTS = ["larger-sparse", "fifo-no-writer", "fifo-endless", "symlink-to-dev-zero", "directory"]
COMMANDS = {"pull": ("pull",), "get-production-path": ("get-production", "m", "--path")}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("bad", BAD_OBJECTS)
def test_a_bad_directory_remote_object_is_never_read(bad: str, command: str, dir_served: dict[str, Any]) -> None:
    obj: Path = dir_served["object"]
    size = len(dir_served["data"])
    feeder = None
    if bad == "larger-sparse":
        obj.chmod(0o644)
        with open(obj, "r+b") as fh:
            fh.truncate(1 << 40)  # the right bytes, then a terabyte more than the manifest says
    else:
        obj.unlink()
        if bad.startswith("fifo"):
            os.mkfifo(obj)
            if bad == "fifo-endless":
                feeder = Feeder(obj)
        elif bad == "symlink-to-dev-zero":
            obj.symlink_to("/dev/zero")
        else:
            obj.mkdir()
    started = time.monotonic()
    try:
        proc = modelreg(*COMMANDS[command], "-R", dir_served["clone"], timeout=20)
    finally:
        if feeder is not None:
            feeder.close()
    assert time.monotonic() - started < 20
    message = error_line(proc, 5)
    if bad == "larger-sparse":
        assert "larger than recorded" in message and str(1 << 40) in message and str(size) in message, message
    else:
        assert "not a blob file" in message, message
    assert "push" in message, "the message does not say how to repair the remote"
    assert stored_bytes(dir_served["clone"]) == 0, "fetched bytes were left in the clone's blob store"
    if feeder is not None:
        assert feeder.written <= MiB, f"{feeder.written} bytes were taken from an endless FIFO"


# -- the RemoteStore interface, both backends -----------------------------------------------------


@pytest.fixture(params=["dir", "s3"])
def remote_with_object(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[bytes], tuple[RemoteStore, Callable[[str, bytes], None]]]:
    """Factory: a remote holding nothing yet, and a function that plants raw bytes at a digest's key."""

    def make(_: bytes) -> tuple[RemoteStore, Callable[[str, bytes], None]]:
        if request.param == "dir":
            (tmp_path / "remote").mkdir(exist_ok=True)

            def plant_dir(digest: str, data: bytes) -> None:
                path = object_path(tmp_path / "remote", digest)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)

            return open_remote(str(tmp_path / "remote"), root=tmp_path), plant_dir
        server: SeaweedS3 = request.getfixturevalue("aws_env")
        prefix = f"reads-{secrets.token_hex(6)}"

        def plant_s3(digest: str, data: bytes) -> None:
            key = f"{prefix}/sha256/{digest[7:9]}/{digest[7:]}"
            server.client().put_object(Bucket=BUCKET, Key=key, Body=data)

        return open_remote(f"s3://{BUCKET}/{prefix}", root=tmp_path, endpoint_url=server.endpoint_url), plant_s3

    return make


def test_download_stops_at_the_recorded_size(
    remote_with_object: Callable[[bytes], tuple[RemoteStore, Callable[[str, bytes], None]]], tmp_path: Path
) -> None:
    data = os.urandom(200_000)
    remote, plant = remote_with_object(data)
    plant(sha(data), data + os.urandom(3 * MiB))
    received: list[int] = []
    dest = tmp_path / "dest"
    with pytest.raises(IntegrityError) as caught:
        remote.download(sha(data), dest, len(data), received.append)
    assert caught.value.code == "remote_corrupt" and caught.value.exit_code == 5
    assert "larger than recorded" in caught.value.message
    assert sum(received) <= len(data) + 1
    assert not dest.exists() or dest.stat().st_size <= len(data) + 1
    # The same object read with the size it really has is served whole.
    whole = data + b"x"
    plant(sha(whole), whole)
    remote.download(sha(whole), tmp_path / "whole", len(whole))
    assert (tmp_path / "whole").read_bytes() == whole


# -- a download killed half way ---------------------------------------------------------------


def test_a_killed_s3_pull_leaves_a_leftover_that_verify_reports_and_gc_removes(
    aws_env: SeaweedS3, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    ok(modelreg("init", src))
    toml = src / "modelreg.toml"  # format 1: the 96 MiB file travels as one blob (chunks: test_chunks_remote.py)
    toml.write_text(toml.read_text().replace("format_version = 2", "format_version = 1"))
    prefix = f"killed-{secrets.token_hex(6)}"
    set_remote(src, f"s3://{BUCKET}/{prefix}", aws_env.endpoint_url)
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(6):
            fh.write(os.urandom(16 * MiB))
    ok(modelreg("register", "-R", src, "m", big))
    ok(modelreg("push", "-R", src))
    clone = clone_tracked(src, tmp_path / "clone")

    left: list[Path] = []
    for _attempt in range(8):
        pull = subprocess.Popen(
            [sys.executable, "-m", "modelreg", "pull", "-R", str(clone)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pull.poll() is None:
            if (clone / "blobs").is_dir() and any(
                p.is_file() and p.stat().st_size for p in (clone / "blobs").rglob("*")
            ):
                break  # bytes are arriving
            time.sleep(0.002)
        pull.send_signal(signal.SIGKILL)
        pull.wait()
        left = non_blobs(clone)
        if left:
            break
        shutil.rmtree(clone / "blobs", ignore_errors=True)  # it finished first: again from nothing
    assert left, "could not kill pull mid-download"

    verified = modelreg("verify", "-R", clone, "--json")
    assert verified.returncode in (0, 5), verified.stderr
    findings = json.loads(verified.stdout)["findings"]
    reported = [Path(f["path"]) for f in findings if f["kind"] == "leftover"]
    unseen = [p for p in left if not any(p == r or r in p.parents for r in reported)]
    assert unseen == [], f"a killed download left files verify does not report: {unseen} (reported {reported})"
    assert LocalBlobStore(clone / "blobs").leftovers(), "leftovers() does not see the dead download"

    gc = json.loads(ok(modelreg("gc", "-R", clone, "--json")).stdout)
    assert gc["leftovers_removed"], gc
    assert non_blobs(clone) == [], "gc left the killed download's files behind"
    ok(modelreg("pull", "-R", clone))
    digest = sha(big.read_bytes())
    assert (clone / "blobs" / "sha256" / digest[7:9] / digest[7:]).is_file()
    report = json.loads(ok(modelreg("verify", "-R", clone, "--json")).stdout)
    assert report["ok"] and not [f for f in report["findings"] if f["kind"] == "leftover"], report
    assert non_blobs(clone) == []


def test_leftovers_are_the_incoming_directories_of_dead_processes(reg_path: Path) -> None:
    incoming = reg_path / "blobs" / ".incoming"
    incoming.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    finished = subprocess.Popen(["true"])
    finished.wait()
    try:
        live = incoming / f"{sleeper.pid}.0a0b0c0d.mrtmp"
        dead = incoming / f"{finished.pid}.0a0b0c0d.mrtmp"
        for directory in (live, dead):
            directory.mkdir()
            (directory / "partial.A1b2C3d4").write_bytes(b"half a model")
        assert LocalBlobStore(reg_path / "blobs").leftovers() == [dead]
        gc = json.loads(ok(modelreg("gc", "-R", reg_path, "--json")).stdout)
        assert gc["leftovers_removed"] == [dead.relative_to(reg_path).as_posix()]
        assert live.is_dir() and not dead.exists(), "gc removed a download in progress, or kept a dead one"
    finally:
        sleeper.kill()
        sleeper.wait()
