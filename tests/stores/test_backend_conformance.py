"""Every remote backend behaves the same behind ``Backend``: a directory and a real S3 server
(SeaweedFS on loopback). A new backend joins the ``backend`` fixture and must pass all of it."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.s3server import SeaweedS3

from modelreg.errors import IntegrityError, ModelregError, NotFoundError, RemoteError
from modelreg.stores.remotes.backend import Backend, ObjectInfo, Retrying
from modelreg.stores.remotes.directory import DirectoryBackend
from modelreg.stores.remotes.s3 import S3Backend

BUCKET = "modelreg-conformance"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture(params=["directory", "s3", "s3-botocore"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """``s3``: plain calls through obstore, the rest through botocore (the keys are in the
    environment); ``s3-botocore``: every call through botocore."""
    if request.param == "directory":
        root = tmp_path / "remote"
        root.mkdir()
        yield DirectoryBackend(root)
    else:
        server: SeaweedS3 = request.getfixturevalue("aws_env")
        direct = request.param == "s3"
        s3 = S3Backend(BUCKET, f"c-{secrets.token_hex(6)}", endpoint_url=server.endpoint_url, direct=direct)
        assert (s3._lane is not None) == direct
        yield s3


def test_a_missing_object_is_none_everywhere(backend: Backend) -> None:
    assert backend.stat("a/b") is None
    assert backend.read("a/b", 10) is None
    assert backend.list("a/") == {}
    with pytest.raises(ModelregError):
        backend.read_range("a/b", 0, 1)


def test_write_then_read_list_and_stat(backend: Backend) -> None:
    backend.write("recipes/x", b"hello")
    backend.write("recipes/y", b"")
    backend.write("packs/z", b"12345678")
    assert backend.read("recipes/x", 5) == b"hello"
    assert backend.read("recipes/y", 5) == b""
    assert backend.list("recipes/") == {"recipes/x": 5, "recipes/y": 0}
    assert backend.list("recipes/x") == {"recipes/x": 5}
    info = backend.stat("packs/z")
    assert isinstance(info, ObjectInfo) and info.size == 8 and info.kind is None
    assert backend.read_range("packs/z", 2, 5) == b"345"


def test_reads_never_return_more_than_the_bound(backend: Backend) -> None:
    backend.write("big", b"x" * 100)
    with pytest.raises(IntegrityError):
        backend.read("big", 99)
    with pytest.raises(IntegrityError):
        backend.read_range("big", 90, 101)  # past the end: fewer bytes than asked is an error too
    for start in (100, 150):  # wholly past the end (S3 answers 416): the same error, on every backend
        with pytest.raises(IntegrityError):
            backend.read_range("big", start, start + 10)
        with pytest.raises(IntegrityError):
            backend.read_range_view("big", start, start + 10)
        with pytest.raises(IntegrityError):
            backend.read_range_into("big", start, memoryview(bytearray(10)))


def test_a_rewrite_replaces_the_whole_object(backend: Backend) -> None:
    backend.write("k", b"first version, long")
    backend.write("k", b"second")
    assert backend.read("k", 100) == b"second"


@pytest.mark.parametrize("key", ["../escape", "/abs", "a/../b", ".hidden", "a//b", "a/.tmp-x", "", "a\\b"])
def test_a_key_that_could_leave_the_root_is_refused(backend: Backend, key: str) -> None:
    for call in (
        lambda: backend.write(key, b"x"),
        lambda: backend.read(key, 10),
        lambda: backend.stat(key),
    ):
        with pytest.raises(IntegrityError):
            call()


def test_files_round_trip_with_progress_and_an_exact_size(backend: Backend, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    src.write_bytes(data)
    moved: list[int] = []
    assert backend.put_file("sha256/ab/obj", src, len(data), moved.append) in (True, False)
    assert sum(moved) == len(data)
    info = backend.stat("sha256/ab/obj")
    assert info is not None and info.size == len(data)
    dest = tmp_path / "dest.bin"
    backend.get_file("sha256/ab/obj", dest, info)
    assert dest.read_bytes() == data


def test_get_file_never_reads_an_object_that_replaced_the_one_stat_saw(backend: Backend, tmp_path: Path) -> None:
    backend.write("obj", b"old bytes")
    seen = backend.stat("obj")
    assert seen is not None
    backend.write("obj", b"new, longer bytes")
    with pytest.raises(ModelregError):
        backend.get_file("obj", tmp_path / "out.bin", seen)
    assert not (tmp_path / "out.bin").exists() or (tmp_path / "out.bin").read_bytes() != b"new, longer bytes"


def test_move_aside_only_moves_the_object_it_was_told_about(backend: Backend) -> None:
    backend.write("obj", b"bad bytes")
    seen = backend.stat("obj")
    assert seen is not None
    backend.write("obj", b"good bytes replaced it")
    assert backend.move_aside("obj", "quarantine/obj.1", seen.tag) is None
    assert backend.read("obj", 100) == b"good bytes replaced it"
    now = backend.stat("obj")
    assert now is not None
    place = backend.move_aside("obj", "quarantine/obj.2", now.tag)
    assert place is not None and "quarantine" in place
    assert backend.stat("obj") is None
    assert backend.read("quarantine/obj.2", 100) == b"good bytes replaced it"
    assert backend.move_aside("obj", "quarantine/obj.3", None) is None  # gone: nothing to move


def test_parallel_writers_of_one_key_leave_one_whole_object(backend: Backend) -> None:
    payload = os.urandom(256 * 1024)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def writer() -> None:
        barrier.wait()
        try:
            backend.write("packs/same", payload)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert backend.read("packs/same", len(payload)) == payload
    assert backend.list("packs/") == {"packs/same": len(payload)}  # no temporary object left visible


def test_a_range_read_into_a_buffer_fills_it_exactly(backend: Backend) -> None:
    payload = os.urandom(3 << 20)
    backend.write("packs/r", payload)
    buf = bytearray(2 << 20)
    backend.read_range_into("packs/r", 12345, memoryview(buf))
    assert bytes(buf) == payload[12345 : 12345 + len(buf)]
    with pytest.raises(IntegrityError):  # past the end: fewer bytes than asked is an error
        backend.read_range_into("packs/r", len(payload) - 10, memoryview(bytearray(11)))
    with pytest.raises(ModelregError):
        backend.read_range_into("packs/gone", 0, memoryview(bytearray(1)))


def test_a_range_read_in_the_backends_own_buffer_is_exactly_the_range(backend: Backend) -> None:
    payload = os.urandom(3 << 20)
    backend.write("packs/v", payload)
    for start, end in ((0, len(payload)), (12345, 12345 + (2 << 20)), (len(payload) - 1, len(payload))):
        view = backend.read_range_view("packs/v", start, end)
        assert bytes(view) == payload[start:end]
    with pytest.raises(IntegrityError):  # past the end: fewer bytes than asked is an error
        backend.read_range_view("packs/v", len(payload) - 10, len(payload) + 1)
    with pytest.raises(ModelregError):
        backend.read_range_view("packs/gone", 0, 1)
    wrapped = Retrying(backend, attempts=2, pause=0)
    assert bytes(wrapped.read_range_view("packs/v", 5, 9)) == payload[5:9]


def test_an_object_written_in_parts_is_the_parts_in_order(backend: Backend) -> None:
    """Parts of several MiB go up one at a time (a multipart upload on S3), small ones are
    gathered, a single small part is one plain write; the object reads back byte for byte."""
    big = [os.urandom(6 << 20), os.urandom(5 << 20), os.urandom(300_000)]
    small = [b"ab", b"", b"cd"]
    for key, parts in (("packs/big", big), ("packs/small", small), ("packs/empty", [])):
        backend.write_parts(key, sum(map(len, parts)), lambda parts=parts: iter(parts))
        assert backend.read(key, 1 << 30) == b"".join(parts)
    assert backend.list("packs/") == {"packs/big": 11_834_336, "packs/small": 4, "packs/empty": 0}


def test_an_object_whose_parts_fail_or_fall_short_is_never_seen(backend: Backend) -> None:
    def failing() -> Iterator[bytes]:
        yield os.urandom(6 << 20)  # a whole part went up before the failure
        raise IntegrityError("chunk does not match its id")

    with pytest.raises(IntegrityError, match="does not match"):
        backend.write_parts("packs/bad", 12 << 20, failing)
    with pytest.raises(IntegrityError, match="not"):
        backend.write_parts("packs/short", 12 << 20, lambda: iter([os.urandom(6 << 20)]))
    assert backend.stat("packs/bad") is None and backend.stat("packs/short") is None
    assert backend.list("") == {}  # no temporary or partial object left visible


def test_the_retrying_wrapper_is_a_backend_too(backend: Backend) -> None:
    wrapped = Retrying(backend, attempts=2, pause=0)
    wrapped.write("w", b"through the wrapper")
    assert backend.read("w", 100) == b"through the wrapper"
    assert wrapped.list("") == backend.list("")


def test_retrying_tries_a_transient_failure_again_and_never_a_refusal() -> None:
    calls: list[str] = []

    class Flaky(DirectoryBackend):
        def transient(self, exc: BaseException) -> bool:
            return isinstance(exc, RemoteError) and "busy" in str(exc)

        def read(self, key: str, limit: int) -> bytes | None:
            calls.append(key)
            if key == "busy" and len(calls) < 3:
                raise RemoteError("server busy")
            if key == "refused":
                raise RemoteError("access denied")
            return b"ok"

    flaky = Retrying(Flaky(Path("/nonexistent")), attempts=5, pause=0)
    assert flaky.read("busy", 10) == b"ok" and calls == ["busy"] * 3
    calls.clear()
    with pytest.raises(RemoteError, match="denied"):
        flaky.read("refused", 10)
    assert calls == ["refused"]


def test_a_missing_root_is_named_not_created(tmp_path: Path) -> None:
    backend = DirectoryBackend(tmp_path / "typo")
    with pytest.raises(NotFoundError) as caught:
        backend.write("x", b"1")
    assert caught.value.code == "remote_missing" and not (tmp_path / "typo").exists()


def test_a_directory_object_that_is_not_a_file_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    os.mkfifo(root / "fifo")
    (root / "link").symlink_to("/etc/passwd")
    backend = DirectoryBackend(root)
    fifo, link = backend.stat("fifo"), backend.stat("link")
    assert fifo is not None and fifo.kind == "a FIFO"
    assert link is not None and link.kind == "a symbolic link"
    for key in ("fifo", "link"):
        with pytest.raises(IntegrityError):
            backend.read(key, 10)
    assert backend.list("") == {}
