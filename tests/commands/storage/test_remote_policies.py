"""Issue 10, the remote side and the policies around register:

- ``register --stage production`` obeys ``require_reason`` like ``promote``;
- ``register --push`` that fails on a full remote (a real tiny tmpfs) says which version was
  registered, exit 4;
- ``push`` to a directory remote that does not exist refuses (a typo must not go unnoticed);
- ``push``/``pull`` do not skip a corrupt object on the other side because its name is there:
  a good copy repairs it (directory remote and a real S3 server, SeaweedFS); an object of the
  right size but the wrong bytes is found by the first fetch that hashes it, which moves it
  aside on the remote, and the next push repairs it;
- a ``pull`` killed with SIGKILL mid-download from S3 leaves nothing that ``verify`` does not
  report or ``gc`` does not remove.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.guarantees import (
    MiB,
    blob_path,
    clean_error,
    clone_tracked,
    doc,
    files_under,
    mr,
    no_bug,
    remote_object,
    set_remote,
    sha,
    tmpfs,
    verify_ok,
    verify_report,
)
from support.results import ok
from support.s3server import SeaweedS3

BUCKET = "modelreg-guarantees"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    """The session's S3 server with this module's bucket (``aws_env`` builds on it)."""
    s3_server.create_bucket(BUCKET)
    return s3_server


class Remote:
    """A remote store as the test sees it: how to point a registry at it, and its raw objects."""

    def __init__(self, kind: str, tmp_path: Path, server: SeaweedS3 | None = None) -> None:
        self.kind = kind
        self.server = server
        self.dir = tmp_path / "remote"
        self.prefix = f"g10-{secrets.token_hex(6)}"

    def configure(self, reg: Path) -> None:
        if self.server is None:
            self.dir.mkdir(exist_ok=True)  # a directory remote must exist: push never creates it
            set_remote(reg, str(self.dir))
        else:
            set_remote(reg, f"s3://{BUCKET}/{self.prefix}", endpoint=self.server.endpoint_url, region="us-east-1")

    def _key(self, digest: str) -> str:
        hex_digest = digest.removeprefix("sha256:")
        return f"{self.prefix}/sha256/{hex_digest[:2]}/{hex_digest}"

    def read(self, digest: str) -> bytes:
        if self.server is None:
            return remote_object(self.dir, digest).read_bytes()
        return bytes(self.server.client().get_object(Bucket=BUCKET, Key=self._key(digest))["Body"].read())

    def write(self, digest: str, data: bytes) -> None:
        if self.server is None:
            path = remote_object(self.dir, digest)
            path.chmod(0o644)
            path.write_bytes(data)
        else:
            self.server.client().put_object(Bucket=BUCKET, Key=self._key(digest), Body=data)


@pytest.fixture(params=["dir", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Remote:
    if request.param == "s3":
        return Remote("s3", tmp_path, request.getfixturevalue("aws_env"))
    return Remote("dir", tmp_path)


def _require_reason(reg: Path, stage: str) -> None:
    toml = reg / "modelreg.toml"
    text = toml.read_text()
    assert "require_reason = []" in text
    toml.write_text(text.replace("require_reason = []", f'require_reason = ["{stage}"]'))


# -- register and its policies ------------------------------------------------------------------


def test_register_into_a_stage_that_requires_a_reason_is_refused(reg_path: Path, make_file: Any) -> None:
    _require_reason(reg_path, "production")
    ok(mr("register", "-R", reg_path, "m", make_file("a.bin", "a\n")))
    assert "reason" in clean_error(mr("promote", "-R", reg_path, "m@1", "production"), (4,))  # holds today
    log = (reg_path / "audit.jsonl").read_bytes()
    proc = mr("register", "-R", reg_path, "m", make_file("b.bin", "b\n"), "--stage", "production")
    assert "reason" in clean_error(proc, (4,))
    assert (reg_path / "audit.jsonl").read_bytes() == log
    assert [v["version"] for v in doc(mr("list", "m", "-R", reg_path, "--json"))["versions"]] == [1]


def test_register_push_to_a_full_remote_names_the_registered_version(
    reg_path: Path, tmp_path: Path, make_file: Any
) -> None:
    with tmpfs(tmp_path / "remote-disk", "1m") as mnt:
        set_remote(reg_path, str(mnt / "blobs"))
        (mnt / "blobs").mkdir()
        proc = mr("register", "-R", reg_path, "m", make_file("big.bin", 3 * MiB), "--push")
        message = clean_error(proc, (4,))
        assert "m@1" in message and "push" in message, message
        assert str(mnt) in message, f"the message does not say where the disk is full: {message}"
        assert doc(mr("show", "m@1", "-R", reg_path, "--json"))["version"] == 1
        assert files_under(mnt / "blobs") == {}, "a partial object was left on the remote"


def test_push_to_a_remote_directory_that_does_not_exist_is_refused(
    reg_path: Path, tmp_path: Path, make_file: Any
) -> None:
    typo = tmp_path / "shraed-blobs"
    set_remote(reg_path, str(typo))
    ok(mr("register", "-R", reg_path, "m", make_file("a.bin", "a\n")))
    proc = mr("push", "-R", reg_path)
    assert str(typo) in clean_error(proc, (3, 4))
    assert not typo.exists(), "push created the remote directory"


# -- a corrupt object on the other side -----------------------------------------------------------


def _corrupt(data: bytes, how: str) -> bytes:
    return data[: len(data) // 2] if how == "truncated" else bytes([data[0] ^ 0xFF]) + data[1:]


@pytest.mark.parametrize("how", ["truncated", "same-size"])
def test_push_repairs_a_corrupt_object_on_the_remote(
    how: str, remote: Remote, reg_path: Path, tmp_path: Path, make_file: Any
) -> None:
    remote.configure(reg_path)
    data = make_file("a.bin", 50_000).read_bytes()
    ok(mr("register", "-R", reg_path, "m", "a.bin"))
    ok(mr("push", "-R", reg_path))
    remote.write(sha(data), _corrupt(data, how))
    if how == "same-size":
        # A size check cannot see it: the first reader that hashes it (a teammate's pull) refuses
        # it and moves it aside on the remote, so that the next push uploads the good copy.
        clone = clone_tracked(reg_path, tmp_path / "clone")
        assert "push" in clean_error(mr("pull", "-R", clone), (5,))
    no_bug(mr("push", "-R", reg_path))
    assert remote.read(sha(data)) == data, "the remote still holds the corrupt object after a push of a good copy"


@pytest.mark.parametrize("how", ["truncated", "same-size"])
def test_pull_repairs_a_corrupt_local_blob(how: str, remote: Remote, reg_path: Path, make_file: Any) -> None:
    remote.configure(reg_path)
    data = make_file("a.bin", 50_000).read_bytes()
    ok(mr("register", "-R", reg_path, "m", "a.bin"))
    ok(mr("push", "-R", reg_path))
    blob = blob_path(reg_path, sha(data))
    blob.chmod(0o644)
    blob.write_bytes(_corrupt(data, how))
    no_bug(mr("pull", "-R", reg_path))
    assert blob.read_bytes() == data, "the local blob is still corrupt after a pull from a good remote"
    verify_ok(reg_path)


# -- a killed S3 download -------------------------------------------------------------------------


def _leftovers(reg: Path) -> list[Path]:
    """Files under blobs/ that are not a blob named by its own digest."""
    found = []
    for path in (reg / "blobs").rglob("*"):
        if path.is_file():
            rel = path.relative_to(reg / "blobs").parts
            if len(rel) != 3 or rel[0] != "sha256" or sha(path.read_bytes()) != f"sha256:{rel[2]}":
                found.append(path)
    return found


def test_a_killed_s3_download_leaves_nothing_unseen(aws_env: SeaweedS3, tmp_path: Path, make_file: Any) -> None:
    remote = Remote("s3", tmp_path, aws_env)
    src = tmp_path / "src"
    ok(mr("init", src))
    remote.configure(src)
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        for _ in range(12):
            fh.write(os.urandom(16 * MiB))
    ok(mr("register", "-R", src, "m", big))
    ok(mr("push", "-R", src))
    clone = clone_tracked(src, tmp_path / "clone")

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    attempts = 0
    while attempts < 5:
        attempts += 1
        pull = subprocess.Popen(
            [sys.executable, "-m", "modelreg", "pull", "-R", str(clone)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pull.poll() is None:
            blobs = clone / "blobs"
            if blobs.is_dir() and any(p.is_file() and p.stat().st_size > 0 for p in blobs.rglob("*")):
                break
            time.sleep(0.002)
        pull.send_signal(signal.SIGKILL)
        pull.wait()
        left = _leftovers(clone)
        if left:
            break
        # The download finished before the kill: start again from nothing.
        for path in (clone / "blobs").rglob("*"):
            if path.is_file():
                path.unlink()
    assert left, f"could not kill pull mid-download in {attempts} attempts"

    code, report = verify_report(clone)
    reported = {Path(f["path"]).name for f in (report or {}).get("findings", [])}
    no_bug(mr("gc", "-R", clone))
    unseen = [p.name for p in left if p.name not in reported and p.exists()]
    assert unseen == [], f"a killed download left files that verify does not report and gc does not remove: {unseen}"
    assert code is not None
