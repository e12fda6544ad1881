"""Issue 10, the remote side: nothing trusted by its name, a good copy repairs a bad one, and the
environment's refusals are said clearly.

- A directory remote that does not exist is refused by push and by every fetch (exit 3, naming
  the path and saying to create it); it is never created. Its shard directories are.
- A remote object of the wrong size (truncated, grown, a FIFO) is uploaded again by push; one of
  the right size but the wrong bytes is found by the first fetch that hashes it (pull,
  ``get-production --path``, export), which moves it to ``quarantine/`` on the remote (exit 5,
  saying so), and the next push repairs it. No bytes are ever deleted: the bad object is kept.
- A corrupt local blob (edited in place even with its mtime put back, truncated, replaced by a
  symlink) does not stop a pull: it is moved to ``blobs/quarantine/`` and fetched again.
- ``register --push`` / ``push`` to a full remote (a real 1 MiB tmpfs) exit 4 naming the remote,
  and register says which version it registered.
- ``register --stage production`` obeys ``[stages] require_reason``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.results import ok
from support.s3server import SeaweedS3

BUCKET = "modelreg-fix-remotes-repair"
MiB = 1 << 20
TRACKED = ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models")


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


# -- helpers ----------------------------------------------------------------------------------


def modelreg(*args: Any, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "modelreg", *map(str, args)]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"modelreg {' '.join(map(str, args))} still running after {timeout:g}s") from None


def doc(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(proc).stdout)


def error_line(proc: subprocess.CompletedProcess[str], exit_code: int) -> str:
    assert proc.returncode == exit_code, f"expected exit {exit_code}, got {proc.returncode}: {proc.stderr}"
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def json_error(proc: subprocess.CompletedProcess[str], exit_code: int) -> dict[str, str]:
    error_line(proc, exit_code)
    return dict(json.loads(proc.stderr.strip().splitlines()[-1])["error"])


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
    dest.mkdir(parents=True)
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def local_blob(reg: Path, digest: str) -> Path:
    return reg / "blobs" / "sha256" / digest[7:9] / digest[7:]


def verify_clean(reg: Path) -> None:
    report = doc(modelreg("verify", "-R", reg, "--json"))
    assert report["ok"] is True and not [f for f in report["findings"] if f["severity"] == "error"], report


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


class Remote:
    """A remote of either kind as the test sees it: its raw objects and its quarantine."""

    def __init__(self, kind: str, tmp_path: Path, server: SeaweedS3 | None) -> None:
        self.kind = kind
        self.server = server
        self.dir = tmp_path / "remote"
        self.prefix = f"repair-{secrets.token_hex(6)}"
        if server is None:
            self.dir.mkdir()

    def configure(self, reg: Path) -> None:
        if self.server is None:
            set_remote(reg, str(self.dir))
        else:
            set_remote(reg, f"s3://{BUCKET}/{self.prefix}", self.server.endpoint_url)

    def _key(self, digest: str) -> str:
        return f"sha256/{digest[7:9]}/{digest[7:]}"

    def read(self, digest: str) -> bytes | None:
        if self.server is None:
            path = self.dir / self._key(digest)
            return path.read_bytes() if path.is_file() and not path.is_symlink() else None
        try:
            body = self.server.client().get_object(Bucket=BUCKET, Key=f"{self.prefix}/{self._key(digest)}")["Body"]
        except Exception as exc:  # botocore's NoSuchKey
            if "NoSuchKey" in type(exc).__name__ or "404" in str(exc) or "NoSuchKey" in str(exc):
                return None
            raise
        return bytes(body.read())

    def write(self, digest: str, data: bytes) -> None:
        if self.server is None:
            path = self.dir / self._key(digest)
            path.chmod(0o644)
            path.write_bytes(data)
        else:
            self.server.client().put_object(Bucket=BUCKET, Key=f"{self.prefix}/{self._key(digest)}", Body=data)

    def quarantined(self, digest: str) -> list[bytes | str]:
        """What the quarantine holds for ``digest``: bytes of each object (a FIFO shows as "fifo")."""
        if self.server is None:
            qdir = self.dir / "quarantine"
            entries = sorted(qdir.glob(f"{digest[7:]}.*")) if qdir.is_dir() else []
            return ["fifo" if p.is_fifo() else p.read_bytes() for p in entries]
        client = self.server.client()
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{self.prefix}/quarantine/{digest[7:]}.")
        keys = sorted(item["Key"] for item in listed.get("Contents", []) or [])
        return [bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys]


@pytest.fixture(params=["dir", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    if request.param == "s3":
        return Remote("s3", tmp_path, request.getfixturevalue("aws_env"))
    return Remote("dir", tmp_path, None)


@pytest.fixture
def origin(remote: Remote, tmp_path: Path) -> dict[str, Any]:
    """A registry with m@1 (two files) in production, pushed to ``remote``; a clone of it."""
    reg = tmp_path / "origin"
    ok(modelreg("init", reg))
    remote.configure(reg)
    good = os.urandom(40_000)
    victim = os.urandom(60_000)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "good.bin").write_bytes(good)
    (tmp_path / "t" / "victim.bin").write_bytes(victim)
    ok(modelreg("register", "-R", reg, "m", tmp_path / "t", "--stage", "production"))
    assert doc(modelreg("push", "-R", reg, "--json"))["transferred"] == 2
    return {"reg": reg, "clone": clone_tracked(reg, tmp_path / "clone"), "good": good, "victim": victim}


# -- a remote directory that does not exist -----------------------------------------------------


def test_push_to_a_remote_directory_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    ok(modelreg("init", reg))
    typo = tmp_path / "shraed" / "blobs"
    set_remote(reg, str(typo))
    data = os.urandom(1000)
    (tmp_path / "a.bin").write_bytes(data)
    ok(modelreg("register", "-R", reg, "m", tmp_path / "a.bin", "--stage", "production"))
    message = error_line(modelreg("push", "-R", reg), 3)
    assert str(typo) in message and "does not exist" in message and "create it" in message, message
    assert json_error(modelreg("push", "-R", reg, "--json"), 3)["code"] == "remote_missing"
    registered = error_line(modelreg("register", "-R", reg, "m", tmp_path / "a.bin", "--push"), 3)
    assert "registered m@2" in registered and str(typo) in registered, registered
    assert not (tmp_path / "shraed").exists(), "push created the remote directory"

    clone = clone_tracked(reg, tmp_path / "clone")
    for fetch in (("pull",), ("get-production", "m", "--path"), ("export", "m@1", tmp_path / "out")):
        failed = json_error(modelreg(*fetch, "-R", clone, "--json"), 3)
        assert failed["code"] == "remote_missing" and str(typo) in failed["message"], failed
    assert not (tmp_path / "shraed").exists()

    typo.mkdir(parents=True)  # the remote exists: its shard directories are made as needed
    assert doc(modelreg("push", "-R", reg, "--json"))["transferred"] == 1
    assert (typo / "sha256" / sha(data)[7:9] / sha(data)[7:]).read_bytes() == data


# -- a corrupt object on the remote -------------------------------------------------------------

FETCHES = {
    "pull": lambda clone, out: ("pull", "-R", clone),
    "get-production-path": lambda clone, out: ("get-production", "m", "--path", "-R", clone),
    "export": lambda clone, out: ("export", "m@1", out, "-R", clone),
}


@pytest.mark.parametrize("fetch", sorted(FETCHES))
def test_a_fetch_quarantines_a_corrupt_remote_object_and_a_push_repairs_it(
    fetch: str, remote: Remote, origin: dict[str, Any], tmp_path: Path
) -> None:
    victim: bytes = origin["victim"]
    digest = sha(victim)
    tampered = bytes([victim[0] ^ 0xFF]) + victim[1:]  # the same size: no listing can see it
    remote.write(digest, tampered)
    assert doc(modelreg("push", "-R", origin["reg"], "--json"))["transferred"] == 0  # a size check cannot tell

    message = error_line(modelreg(*FETCHES[fetch](origin["clone"], tmp_path / "out")), 5)
    assert "does not match" in message and "quarantine" in message and "push" in message, message
    assert remote.read(digest) is None, "the corrupt object is still served under the blob's name"
    assert remote.quarantined(digest) == [tampered], "the corrupt bytes were not kept in quarantine/"
    assert not local_blob(origin["clone"], digest).exists()
    again = json_error(modelreg("pull", "-R", origin["clone"], "--json"), 5)
    assert again["code"] == "digest_mismatch" and "quarantine" in again["message"], again

    repaired = doc(modelreg("push", "-R", origin["reg"], "--json"))
    assert (repaired["transferred"], repaired["bytes"]) == (1, len(victim))
    assert remote.read(digest) == victim
    assert doc(modelreg("pull", "-R", origin["clone"], "--json"))["transferred"] >= 1
    assert local_blob(origin["clone"], digest).read_bytes() == victim
    verify_clean(origin["clone"])
    assert remote.quarantined(digest) == [tampered]  # kept until someone looks into it


@pytest.mark.parametrize("how", ["truncated", "grown", "fifo"])
def test_push_replaces_a_remote_object_of_the_wrong_size(how: str, remote: Remote, origin: dict[str, Any]) -> None:
    victim: bytes = origin["victim"]
    digest = sha(victim)
    if how == "fifo":
        if remote.kind != "dir":
            pytest.skip("an S3 object cannot be a FIFO")
        path = remote.dir / remote._key(digest)
        path.unlink()
        os.mkfifo(path)
        bad: bytes | str = "fifo"
    else:
        bad = victim[: len(victim) // 2] if how == "truncated" else victim + b"\0" * 1000
        remote.write(digest, bad)
    pushed = doc(modelreg("push", "-R", origin["reg"], "--json"))
    assert (pushed["transferred"], pushed["bytes"], pushed["already_present"]) == (1, len(victim), 1)
    assert remote.read(digest) == victim
    assert remote.quarantined(digest) == [bad], "the replaced object was not kept in quarantine/"
    assert doc(modelreg("push", "-R", origin["reg"], "--json"))["transferred"] == 0
    ok(modelreg("pull", "-R", origin["clone"]))
    verify_clean(origin["clone"])


# -- a corrupt local blob -----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["edited-in-place-mtime-kept", "truncated", "symlink"])
def test_pull_repairs_a_corrupt_local_blob(how: str, remote: Remote, origin: dict[str, Any], tmp_path: Path) -> None:
    reg: Path = origin["reg"]
    victim: bytes = origin["victim"]
    blob = local_blob(reg, sha(victim))
    ok(modelreg("pull", "-R", reg))  # nothing to fetch; the local blobs are now known to be sound
    before = blob.stat()
    if how == "edited-in-place-mtime-kept":
        corrupt: bytes | None = bytes([victim[0] ^ 0x01]) + victim[1:]
        with open(blob, "r+b") as fh:  # root needs no chmod to write a read-only file
            fh.write(corrupt[:1])
        os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert blob.stat().st_size == before.st_size and blob.stat().st_mtime_ns == before.st_mtime_ns
    elif how == "truncated":
        corrupt = victim[:100]
        blob.chmod(0o644)
        blob.write_bytes(corrupt)
    else:
        corrupt = None
        (tmp_path / "elsewhere").write_bytes(b"not the model")
        blob.unlink()
        blob.symlink_to(tmp_path / "elsewhere")

    pulled = modelreg("pull", "-R", reg, "--json")
    summary = doc(pulled)
    assert (summary["transferred"], summary["bytes"]) == (1, len(victim)), summary
    assert "quarantine" in pulled.stderr, "the pull did not say it moved a corrupt blob aside"
    assert not blob.is_symlink() and blob.read_bytes() == victim
    kept = sorted((reg / "blobs" / "quarantine").glob(f"{sha(victim)[7:]}.*"))
    assert len(kept) == 1, kept
    if corrupt is None:
        assert kept[0].is_symlink() and (tmp_path / "elsewhere").read_bytes() == b"not the model"
    else:
        assert kept[0].read_bytes() == corrupt, "the corrupt bytes were not kept"
    verify_clean(reg)
    assert doc(modelreg("pull", "-R", reg, "--json"))["transferred"] == 0


def test_a_corrupt_local_blob_without_a_good_remote_copy_is_kept(remote: Remote, origin: dict[str, Any]) -> None:
    reg: Path = origin["reg"]
    victim: bytes = origin["victim"]
    digest = sha(victim)
    blob = local_blob(reg, digest)
    blob.chmod(0o644)
    blob.write_bytes(victim[:10])
    remote.write(digest, b"also wrong, and shorter")
    message = error_line(modelreg("pull", "-R", reg), 5)
    assert "does not match" in message and "quarantine" in message, message
    kept = sorted((reg / "blobs" / "quarantine").glob(f"{digest[7:]}.*"))
    assert [p.read_bytes() for p in kept] == [victim[:10]], "the local corrupt bytes were not kept"
    assert remote.quarantined(digest) == [b"also wrong, and shorter"]
    assert not blob.exists()
    assert "not in the local store" in error_line(modelreg("push", "-R", reg), 3)


# -- a full remote ------------------------------------------------------------------------------


def test_a_full_directory_remote_exits_4_and_register_names_its_version(tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    ok(modelreg("init", reg))
    with tmpfs(tmp_path / "remote-disk", "1m") as mnt:
        remote = mnt / "blobs"
        remote.mkdir()
        set_remote(reg, str(remote))
        data = os.urandom(3 * MiB)
        (tmp_path / "big.bin").write_bytes(data)
        message = error_line(modelreg("register", "-R", reg, "m", tmp_path / "big.bin", "--push"), 4)
        assert "registered m@1" in message and "modelreg push m@1" in message, message
        assert str(remote) in message and "full" in message, message
        assert doc(modelreg("show", "m@1", "-R", reg, "--json"))["version"] == 1
        assert [p for p in remote.rglob("*") if p.is_file()] == [], "a partial object was left on the remote"
        failed = json_error(modelreg("push", "-R", reg, "--json"), 4)
        assert failed["code"] == "storage" and str(remote) in failed["message"], failed
        subprocess.run(["mount", "-o", "remount,size=8m", str(mnt)], check=True)
        assert doc(modelreg("push", "-R", reg, "--json"))["transferred"] == 1
        assert (remote / "sha256" / sha(data)[7:9] / sha(data)[7:]).read_bytes() == data
    verify_clean(reg)


# -- register and the stage policy --------------------------------------------------------------


def test_register_into_a_stage_that_requires_a_reason_is_refused(tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    ok(modelreg("init", reg))
    toml = reg / "modelreg.toml"
    text = toml.read_text()
    assert "require_reason = []" in text
    toml.write_text(text.replace("require_reason = []", 'require_reason = ["production"]'))
    (tmp_path / "a.bin").write_bytes(b"weights")
    log = (reg / "audit.jsonl").read_bytes()
    message = error_line(modelreg("register", "-R", reg, "m", tmp_path / "a.bin", "--stage", "production"), 4)
    assert "reason" in message and "production" in message, message
    assert (reg / "audit.jsonl").read_bytes() == log
    assert not (reg / "models" / "m").exists()
    ok(modelreg("register", "-R", reg, "m", tmp_path / "a.bin", "--stage", "staging"))
