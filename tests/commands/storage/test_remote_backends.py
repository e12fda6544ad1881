"""Remote blob stores against real backends: a directory and a SeaweedFS S3 server."""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.s3server import SeaweedS3, free_port

from modelreg.errors import IntegrityError, NotFoundError, RemoteError, UsageError
from modelreg.stores.remotes import BlobRemote, RemoteStore, blob_key, open_remote
from modelreg.stores.remotes.directory import DirectoryBackend
from modelreg.stores.remotes.s3 import S3Backend

BUCKET = "modelreg-tests"
MiB = 1024 * 1024


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    """The session's S3 server, with this module's bucket."""
    s3_server.create_bucket(BUCKET)
    return s3_server


def _unique_prefix() -> str:
    return f"t-{secrets.token_hex(6)}/blobs"


@pytest.fixture(params=["dir", "s3"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_remote(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., RemoteStore]:
    """Factory for a fresh, empty remote of the parametrized kind."""
    if kind == "s3":
        server: SeaweedS3 = request.getfixturevalue("aws_env")

        def make_s3(**options: int) -> RemoteStore:
            if options:
                return BlobRemote(S3Backend(BUCKET, _unique_prefix(), endpoint_url=server.endpoint_url, **options))
            return open_remote(f"s3://{BUCKET}/{_unique_prefix()}", root=tmp_path, endpoint_url=server.endpoint_url)

        return make_s3

    def make_dir(**_options: int) -> RemoteStore:
        name = f"remote-{secrets.token_hex(4)}"
        (tmp_path / name).mkdir()  # a directory remote must exist: push never creates it
        return open_remote(name, root=tmp_path)

    return make_dir


class Blob:
    def __init__(self, directory: Path, data: bytes) -> None:
        self.data = data
        self.size = len(data)
        self.digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.path = directory / f"src-{secrets.token_hex(4)}"
        self.path.write_bytes(data)


@pytest.fixture
def blob_dir(tmp_path: Path) -> Path:
    path = tmp_path / "local"
    path.mkdir()
    return path


def _fake_digest(shard: str) -> str:
    return f"sha256:{shard}{secrets.token_hex(31)}"


# -- behaviour shared by both kinds -----------------------------------------------------------


def test_round_trip(make_remote: Callable[..., RemoteStore], blob_dir: Path, tmp_path: Path) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, os.urandom(300_000))
    other = Blob(blob_dir, b"never uploaded")
    assert not remote.has(blob.digest)
    assert remote.missing([blob.digest, other.digest]) == {blob.digest, other.digest}

    sent: list[int] = []
    assert remote.upload(blob.digest, blob.path, blob.size, progress=sent.append) is True
    assert sum(sent) == blob.size

    assert remote.has(blob.digest)
    assert not remote.has(other.digest)
    assert remote.missing([blob.digest, other.digest, blob.digest]) == {other.digest}
    assert remote.missing([]) == set()

    received: list[int] = []
    dest = tmp_path / "downloaded.tmp"
    remote.download(blob.digest, dest, blob.size, progress=received.append)
    assert dest.read_bytes() == blob.data
    assert sum(received) == blob.size


def test_empty_blob_round_trips(make_remote: Callable[..., RemoteStore], blob_dir: Path, tmp_path: Path) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, b"")
    assert remote.upload(blob.digest, blob.path, 0) is True
    assert remote.has(blob.digest)
    dest = tmp_path / "empty.tmp"
    remote.download(blob.digest, dest, 0)
    assert dest.read_bytes() == b""


def test_second_upload_is_a_no_op(make_remote: Callable[..., RemoteStore], blob_dir: Path) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, b"model weights" * 1000)
    assert remote.upload(blob.digest, blob.path, blob.size) is True
    sent: list[int] = []
    assert remote.upload(blob.digest, blob.path, blob.size, progress=sent.append) is False
    assert sent == []  # nothing was transferred the second time


def test_parallel_uploads_of_one_digest(
    make_remote: Callable[..., RemoteStore], blob_dir: Path, tmp_path: Path, kind: str
) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, os.urandom(2 * MiB))
    threads = 8
    barrier = threading.Barrier(threads)
    results: list[bool] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        # Each thread opens its own store, as separate processes would.
        own = open_remote(remote.url, root=tmp_path, endpoint_url=getattr(remote.backend, "endpoint_url", None))
        barrier.wait()
        try:
            outcome = own.upload(blob.digest, blob.path, blob.size)
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                results.append(outcome)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert errors == []
    assert len(results) == threads
    assert any(results)
    if kind == "dir":
        # link() publishes exactly once; the losers see the blob and report False.
        assert results.count(True) == 1
        assert isinstance(remote, BlobRemote) and isinstance(remote.backend, DirectoryBackend)
        leftovers = [p.name for p in remote.backend.path.rglob("*") if p.is_file()]
        assert leftovers == [blob.digest.removeprefix("sha256:")]
    dest = tmp_path / "after-race.tmp"
    remote.download(blob.digest, dest, blob.size)
    assert dest.read_bytes() == blob.data


def test_multipart_sized_blob_round_trips(
    make_remote: Callable[..., RemoteStore], blob_dir: Path, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    remote = make_remote(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    blob = Blob(blob_dir, os.urandom(20 * MiB))
    sent: list[int] = []
    assert remote.upload(blob.digest, blob.path, blob.size, progress=sent.append) is True
    assert sum(sent) == blob.size
    if kind == "s3":
        assert isinstance(remote, BlobRemote) and isinstance(remote.backend, S3Backend)
        server: SeaweedS3 = request.getfixturevalue("s3server")
        head = server.client().head_object(Bucket=BUCKET, Key=remote.backend.prefix + blob_key(blob.digest))
        assert head["ContentLength"] == blob.size
        assert head["ETag"].strip('"').endswith("-4"), "expected a 4-part multipart upload"
    dest = tmp_path / "big.tmp"
    received: list[int] = []
    remote.download(blob.digest, dest, blob.size, progress=received.append)
    assert sum(received) == blob.size
    assert hashlib.sha256(dest.read_bytes()).hexdigest() == blob.digest.removeprefix("sha256:")


def test_missing_mixes_listing_and_head(make_remote: Callable[..., RemoteStore], blob_dir: Path) -> None:
    remote = make_remote()
    payload = Blob(blob_dir, b"x")
    # Shard "ab" holds enough asked-for digests to be listed, shard "cd" few enough to be HEADed.
    listed_present = [_fake_digest("ab") for _ in range(4)]
    listed_absent = [_fake_digest("ab") for _ in range(3)]
    headed_present = [_fake_digest("cd")]
    headed_absent = [_fake_digest("cd")]
    for digest in listed_present + headed_present:
        assert remote.upload(digest, payload.path, payload.size) is True
    asked = listed_present + listed_absent + headed_present + headed_absent
    assert remote.missing(asked) == set(listed_absent + headed_absent)
    assert remote.missing(iter(listed_present)) == set()


def test_download_of_missing_blob_is_not_found(make_remote: Callable[..., RemoteStore], tmp_path: Path) -> None:
    remote = make_remote()
    digest = _fake_digest("ef")
    with pytest.raises(NotFoundError) as caught:
        remote.download(digest, tmp_path / "nope.tmp", 10)
    assert caught.value.code == "blob_missing"
    assert caught.value.exit_code == 3
    assert digest in caught.value.message


def test_size_mismatch_is_refused(make_remote: Callable[..., RemoteStore], blob_dir: Path) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, b"abc")
    with pytest.raises(IntegrityError):
        remote.upload(blob.digest, blob.path, blob.size + 1)
    assert not remote.has(blob.digest)


@pytest.mark.parametrize("bad", ["sha256:../../../etc/passwd", "md5:abc", "sha256:" + "A" * 64, ""])
def test_malformed_digest_is_refused(make_remote: Callable[..., RemoteStore], blob_dir: Path, bad: str) -> None:
    remote = make_remote()
    blob = Blob(blob_dir, b"abc")
    with pytest.raises(IntegrityError):
        remote.upload(bad, blob.path, blob.size)
    with pytest.raises(IntegrityError):
        remote.has(bad)


# -- key layout -------------------------------------------------------------------------------


def test_directory_layout(tmp_path: Path, blob_dir: Path) -> None:
    (tmp_path / "shared" / "blobs").mkdir(parents=True)
    remote = open_remote("shared/blobs", root=tmp_path)
    blob = Blob(blob_dir, b"layout")
    remote.upload(blob.digest, blob.path, blob.size)
    hex_digest = blob.digest.removeprefix("sha256:")
    stored = tmp_path / "shared" / "blobs" / "sha256" / hex_digest[:2] / hex_digest
    assert stored.read_bytes() == b"layout"
    assert [p.name for p in stored.parent.iterdir()] == [hex_digest]  # no temp file left


def test_s3_layout_with_and_without_prefix(aws_env: SeaweedS3, tmp_path: Path, blob_dir: Path) -> None:
    bucket = aws_env.create_bucket("modelreg-layout")
    blob = Blob(blob_dir, b"layout")
    hex_digest = blob.digest.removeprefix("sha256:")
    for url, key in [
        (f"s3://{bucket}/team//models/", f"team/models/sha256/{hex_digest[:2]}/{hex_digest}"),
        (f"s3://{bucket}", f"sha256/{hex_digest[:2]}/{hex_digest}"),
    ]:
        remote = open_remote(url, root=tmp_path, endpoint_url=aws_env.endpoint_url)
        assert remote.upload(blob.digest, blob.path, blob.size) is True
        body = aws_env.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        assert body == b"layout"


# -- S3 failure modes -------------------------------------------------------------------------


def test_unreachable_endpoint_fails_fast(aws_env: SeaweedS3, tmp_path: Path, blob_dir: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    remote = open_remote(f"s3://{BUCKET}/x", root=tmp_path, endpoint_url=endpoint)
    blob = Blob(blob_dir, b"abc")
    calls: list[Callable[[], object]] = [
        lambda: remote.has(blob.digest),
        lambda: remote.missing([blob.digest, _fake_digest("aa")]),
        lambda: remote.upload(blob.digest, blob.path, blob.size),
        lambda: remote.download(blob.digest, tmp_path / "x.tmp", blob.size),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(RemoteError) as caught:
            call()
        assert time.monotonic() - started < 10
        assert caught.value.code == "remote_unavailable"
        assert caught.value.exit_code == 4
        assert f"s3://{BUCKET}/x" in caught.value.message
        assert endpoint in caught.value.message


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [("modelreg-test-key", "wrong-secret"), ("nobody-has-this-key", "whatever")],
    ids=["bad-secret", "unknown-key"],
)
def test_wrong_credentials_are_remote_auth(
    aws_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, blob_dir: Path, key_id: str, secret: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    remote = open_remote(f"s3://{BUCKET}/auth", root=tmp_path, endpoint_url=aws_env.endpoint_url)
    blob = Blob(blob_dir, b"secret model")
    many = [_fake_digest("ab") for _ in range(4)]
    for call in (
        lambda: remote.has(blob.digest),
        lambda: remote.missing(many),
        lambda: remote.upload(blob.digest, blob.path, blob.size),
        lambda: remote.download(blob.digest, tmp_path / "x.tmp", blob.size),
    ):
        with pytest.raises(RemoteError) as caught:
            call()
        assert caught.value.code == "remote_auth"
        assert caught.value.exit_code == 4
        assert "credentials" in caught.value.message


def test_no_credentials_is_remote_auth(aws_env: SeaweedS3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    remote = open_remote(f"s3://{BUCKET}/anon", root=tmp_path, endpoint_url=aws_env.endpoint_url)
    with pytest.raises(RemoteError) as caught:
        remote.has(_fake_digest("aa"))
    assert caught.value.code == "remote_auth"


def test_missing_bucket_is_not_found(aws_env: SeaweedS3, tmp_path: Path, blob_dir: Path) -> None:
    remote = open_remote("s3://modelreg-no-such-bucket/p", root=tmp_path, endpoint_url=aws_env.endpoint_url)
    blob = Blob(blob_dir, b"abc")
    for call in (
        lambda: remote.has(blob.digest),
        lambda: remote.missing([blob.digest]),
        lambda: remote.missing([_fake_digest("ab") for _ in range(4)]),
        lambda: remote.upload(blob.digest, blob.path, blob.size),
        lambda: remote.download(blob.digest, tmp_path / "x.tmp", blob.size),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert caught.value.code == "bucket_missing"
        assert "modelreg-no-such-bucket" in caught.value.message
    # The server was told not to create buckets on upload; make sure nothing appeared.
    names = {b["Name"] for b in aws_env.client().list_buckets()["Buckets"]}
    assert "modelreg-no-such-bucket" not in names


# -- opening remotes --------------------------------------------------------------------------


def test_open_remote_url_forms(tmp_path: Path) -> None:
    relative = open_remote("../shared", root=tmp_path / "reg")
    assert isinstance(relative.backend, DirectoryBackend)
    assert relative.backend.path == tmp_path / "shared"

    absolute = open_remote(f"file://{tmp_path}/blob%20store", root=Path("/unused"))
    assert isinstance(absolute.backend, DirectoryBackend)
    assert absolute.backend.path == tmp_path / "blob store"

    s3 = open_remote("s3://bucket-x/a//b/", root=tmp_path, endpoint_url="http://127.0.0.1:9")
    assert isinstance(s3.backend, S3Backend)
    assert (s3.backend.bucket, s3.backend.prefix, s3.url) == ("bucket-x", "a/b/", "s3://bucket-x/a/b")


@pytest.mark.parametrize(
    "url", ["", "gs://bucket/x", "file://otherhost/x", "s3://", "s3:///prefix", "s3://b/../x", "s3://b/p?x=1"]
)
def test_open_remote_refuses_bad_urls(url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        open_remote(url, root=tmp_path)


def test_s3_without_boto3_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A None entry in sys.modules makes `import boto3` raise ImportError.
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(UsageError) as caught:
        open_remote("s3://bucket/prefix", root=tmp_path)
    assert "pip install 'modelreg[s3]'" in caught.value.message
    # Directory remotes never need boto3.
    assert isinstance(open_remote("blobs-remote", root=tmp_path).backend, DirectoryBackend)


def test_directory_remote_that_does_not_exist_is_named(tmp_path: Path, blob_dir: Path) -> None:
    """Issue 10: a remote directory that does not exist is reported (exit 3), never created."""
    remote = open_remote("not-created-yet", root=tmp_path)
    blob = Blob(blob_dir, b"abc")
    for call in (
        lambda: remote.missing([blob.digest]),
        lambda: remote.upload(blob.digest, blob.path, blob.size),
        lambda: remote.download(blob.digest, tmp_path / "x.tmp", blob.size),
    ):
        with pytest.raises(NotFoundError) as caught:
            call()
        assert caught.value.code == "remote_missing"
        assert str(tmp_path / "not-created-yet") in caught.value.message
        assert "create it" in caught.value.message
    assert not (tmp_path / "not-created-yet").exists()
